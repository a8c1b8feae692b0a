/**
 * Stalls of the DuckDB store's write path: single readings at a fixed rate
 * through the durable writer (store config defaults: 1,000 readings or
 * 100 ms) into a DuckDbStore with roll-ups and 30-day retention, as the
 * default pack runs it. The store's trace times every write and every
 * checkpoint; rounds alternate between the checkpoint modes so both see the
 * same machine. Per mode: write → durable p50/p99/max, the store's writes
 * (p50/p99/max, how many took over 50 ms), its checkpoints, the largest WAL
 * seen and the file size at the end, process CPU per reading.
 *
 *   node scripts/build.mjs && node dist/bench/duckdb-stall.js
 *
 * Environment: BENCH_STALL_RATE (readings/s, 10000), BENCH_STALL_SECONDS (30),
 * BENCH_STALL_ROUNDS (2), BENCH_STALL_MODES (comma list of checkpoint WAL
 * thresholds in bytes, 0 = DuckDB's own; default "0,2097152"),
 * BENCH_STALL_SAMPLE_S (print WAL and file size every so many seconds; 0 = never),
 * BENCH_STALL_READS=1 (also poll as the latency row of `npm run bench` does
 * while it publishes: dev-0's new readings every 25 ms; reports write →
 * queryable for dev-0's readings and the polls' own times).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDbStore, type StoreTraceEvent } from '../nodes/lib/store/duckdb';
import { DurableWriter } from '../nodes/lib/store/writer';
import { Journal } from '../nodes/lib/journal/journal';
import type { Reading } from '../nodes/lib/reading';
import { fileSize } from './common';

const env = process.env;
const RATE = Number(env.BENCH_STALL_RATE) || 10_000;
const SECONDS = Number(env.BENCH_STALL_SECONDS) || 30;
const ROUNDS = Number(env.BENCH_STALL_ROUNDS) || 2;
const MODES = (env.BENCH_STALL_MODES ?? `0,${2 << 20}`).split(',').map(Number);
const SAMPLE_S = Number(env.BENCH_STALL_SAMPLE_S) || 0;
const READS = env.BENCH_STALL_READS === '1';
const DEVICES = 10;
const DAY = 86_400_000;

export interface StallRow {
  walBytes: number;
  readings: number;
  durable: { p50: number; p99: number; max: number };
  writes: { count: number; p50: number; p99: number; max: number; over50: number };
  checkpoints: { count: number; p50: number; max: number };
  maxWalBytes: number;
  fileBytes: number;
  cpuUsPerReading: number;
  /** With BENCH_STALL_READS=1: write call → first poll that returns the reading (dev-0), and the polls' own times. */
  queryable?: { p50: number; p99: number; max: number; polls: number; pollP99: number };
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);

function reading(t: { ts: number; i: number }): Reading {
  const d = t.i % DEVICES;
  if (d === 0) t.ts += 1;
  const r = { device: `dev-${d}`, ts: t.ts, fields: { temperature: 20 + (t.i % 97) / 10, humidity: 40 + (t.i % 13), ok: t.i % 5 !== 0 }, tags: {} };
  t.i++;
  return r;
}

export async function stallRow(walBytes: number): Promise<StallRow> {
  const dir = mkdtempSync(join(tmpdir(), 'us-bench-stall-'));
  try {
    const file = join(dir, 's.duckdb');
    const writes: number[] = [];
    const checkpoints: number[] = [];
    const trace = (e: StoreTraceEvent) => {
      if (e.kind === 'write') writes.push(e.ms);
      else if (e.kind === 'checkpoint') checkpoints.push(e.ms);
    };
    const store = new DuckDbStore({ path: file, checkpointWalBytes: walBytes, retentionMs: 30 * DAY, rollupRetentionMs: 365 * DAY, trace });
    await store.open();
    const writer = new DurableWriter(store, new Journal({ dir: join(dir, 'spool') }), { batchSize: 1000, flushMs: 100 });
    writer.start();
    const lat: number[] = [];
    const t = { ts: Date.now() - 3_600_000, i: 0 };
    // dev-0's readings by ts → when they were handed to the writer (BENCH_STALL_READS).
    const sentAt = new Map<number, number>();
    const seen: number[] = [];
    const polls: number[] = [];
    let polling = true;
    const reads = READS ? pollReads(store, sentAt, seen, polls, () => polling) : Promise.resolve();
    const total = RATE * SECONDS;
    let sent = 0;
    let done = 0;
    let maxWal = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    const sampler = setInterval(() => {
      const wal = fileSize(`${file}.wal`);
      maxWal = Math.max(maxWal, wal);
      const s = (performance.now() - start) / 1000;
      if (SAMPLE_S > 0 && Math.floor(s) % SAMPLE_S === 0 && s % 1 < 0.05) console.log(`  ${s.toFixed(0)} s: WAL ${(wal / 1e6).toFixed(1)} MB, file ${(fileSize(file) / 1e6).toFixed(1)} MB`);
    }, 50);
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1000));
        for (; sent < due; sent++) {
          const at = performance.now();
          if (READS && t.i % DEVICES === 0) sentAt.set(t.ts + 1, at);
          writer.write([reading(t)], () => {
            lat.push(performance.now() - at);
            if (++done === total) resolve();
          });
        }
        if (sent < total) setTimeout(tick, 1);
      };
      tick();
    });
    clearInterval(sampler);
    polling = false;
    await reads;
    const cpu = process.cpuUsage(cpu0);
    await writer.close();
    await store.close();
    lat.sort((a, b) => a - b);
    const w = [...writes].sort((a, b) => a - b);
    const c = [...checkpoints].sort((a, b) => a - b);
    return {
      walBytes,
      readings: total,
      durable: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] },
      writes: { count: w.length, p50: pct(w, 50), p99: pct(w, 99), max: w[w.length - 1] ?? 0, over50: w.filter((x) => x > 50).length },
      checkpoints: { count: c.length, p50: pct(c, 50), max: c[c.length - 1] ?? 0 },
      maxWalBytes: maxWal,
      fileBytes: fileSize(file),
      cpuUsPerReading: (cpu.user + cpu.system) / total,
      queryable: READS ? queryableOf(seen, polls) : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The latency row's probe poll against the store alone: dev-0's new readings every 25 ms. */
async function pollReads(store: DuckDbStore, sentAt: Map<number, number>, seen: number[], polls: number[], on: () => boolean): Promise<void> {
  let last = 0;
  while (on()) {
    const t0 = performance.now();
    const page = await store.readings({ device: 'dev-0', from: last + 1, fields: ['temperature'], limit: 10_000 });
    const now = performance.now();
    polls.push(now - t0);
    for (const r of page.readings) {
      const at = sentAt.get(r.ts);
      if (at !== undefined) seen.push(now - at);
      sentAt.delete(r.ts);
      last = Math.max(last, r.ts);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function queryableOf(seen: number[], polls: number[]): NonNullable<StallRow['queryable']> {
  const s = [...seen].sort((a, b) => a - b);
  const p = [...polls].sort((a, b) => a - b);
  return { p50: pct(s, 50), p99: pct(s, 99), max: s[s.length - 1] ?? 0, polls: p.length, pollP99: pct(p, 99) };
}

export function stallLine(r: StallRow): string {
  const f = (n: number) => n.toFixed(0);
  const mode = r.walBytes > 0 ? `store checkpoints at ${(r.walBytes / 1048576).toFixed(1)} MiB WAL` : `DuckDB's own checkpoints (16 MB)`;
  return (
    `${mode}: write → durable p50 ${f(r.durable.p50)} ms, p99 ${f(r.durable.p99)}, max ${f(r.durable.max)}; ` +
    `store writes ${r.writes.count} p50 ${r.writes.p50.toFixed(1)} ms, p99 ${f(r.writes.p99)}, max ${f(r.writes.max)}, ${r.writes.over50} over 50 ms; ` +
    `checkpoints ${r.checkpoints.count} p50 ${f(r.checkpoints.p50)} ms, max ${f(r.checkpoints.max)}; ` +
    `WAL ≤ ${(r.maxWalBytes / 1e6).toFixed(1)} MB, file ${(r.fileBytes / 1e6).toFixed(1)} MB; ${r.cpuUsPerReading.toFixed(1)} µs CPU/reading` +
    (r.queryable
      ? `; write → queryable (dev-0) p50 ${f(r.queryable.p50)} ms, p99 ${f(r.queryable.p99)}, max ${f(r.queryable.max)}; ` +
        `${r.queryable.polls} polls p99 ${f(r.queryable.pollP99)} ms`
      : '')
  );
}

if (require.main === module) {
  (async () => {
    console.log(`DuckDB store stalls: ${RATE} single readings/s for ${SECONDS} s, ${ROUNDS} round(s) per mode, alternating`);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of MODES) {
        const load = loadavg()[0].toFixed(1);
        const r = await stallRow(mode);
        console.log(`round ${round}, load ${load} → ${loadavg()[0].toFixed(1)}: ${stallLine(r)}`);
      }
    }
  })().then(
    () => undefined,
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
