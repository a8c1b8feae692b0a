/**
 * The DuckDB store's cost per write, in one process, without MQTT, Node-RED or
 * the writer: `DuckDbStore.write` of fresh readings (10 devices, 3 fields, one
 * reading per device per 100 ms, continuing in time) on a database file that
 * already holds a day of history, for batches of 50 and 1,000 readings, with
 * the roll-ups on and off. Wall and process CPU (every thread) per write, and
 * where a write's wall time goes by statement (BENCH_DUCKDB_STATEMENTS=1 times
 * every statement the connection runs). Then the store behind its durable
 * writer (store config defaults: 1,000 readings or 100 ms) at a fixed rate of
 * single readings: from `write` to durable, p50 and p99, the store's share of
 * publish → queryable.
 *
 *   node scripts/build.mjs && node dist/bench/duckdb-write.js
 *
 * Environment: BENCH_DUCKDB_WRITES (writes per row, default 200),
 * BENCH_DUCKDB_SIZES (comma list, default 50,1000), BENCH_DUCKDB_RATE (readings/s
 * of the writer part, default 10000), BENCH_DUCKDB_SECONDS (8), BENCH_DUCKDB_FLUSH_MS
 * (the writer's flushMs, default 100), BENCH_DUCKDB_FIELDS (3: two numbers and a
 * boolean; 2: the two numbers, as the pipeline bench's readings, whose 1,000-reading
 * writes fit one data chunk and take the store's direct append).
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import { DuckDbStore } from '../nodes/lib/store/duckdb';
import { DurableWriter } from '../nodes/lib/store/writer';
import { Journal } from '../nodes/lib/journal/journal';
import type { Reading } from '../nodes/lib/reading';
import { tempDir } from '../test/helpers/temp';

const env = process.env;
const WRITES = Number(env.BENCH_DUCKDB_WRITES) || 200;
const SIZES = (env.BENCH_DUCKDB_SIZES ?? '50,1000').split(',').map(Number).filter((n) => n > 0);
const DEVICES = 10;
const TWO_FIELDS = env.BENCH_DUCKDB_FIELDS === '2';
const STEP = 100;
const DAY = 86_400_000;

export interface DuckDbWriteRow {
  size: number;
  rollups: boolean;
  writes: number;
  wallMs: { p50: number; p90: number; mean: number };
  cpuMs: number;
  /** By statement kind (first word(s) of the SQL): mean ms per write, how many ran, the longest. */
  statements: Record<string, { perWrite: number; count: number; maxMs: number }>;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Readings from time `t` on, `n` of them, round-robin over the devices; two numbers, or with a boolean besides. */
export function storeBatch(t: { ts: number; i: number }, n: number, twoFields = TWO_FIELDS): Reading[] {
  const out: Reading[] = [];
  for (let k = 0; k < n; k++) {
    const d = t.i % DEVICES;
    if (d === 0) t.ts += STEP;
    out.push({ device: `dev-${d}`, ts: t.ts, fields: twoFields ? { temperature: 20 + (t.i % 97) / 10, humidity: 40 + (t.i % 13) } : { temperature: 20 + (t.i % 97) / 10, humidity: 40 + (t.i % 13), ok: t.i % 5 !== 0 }, tags: {} });
    t.i++;
  }
  return out;
}

/** Times every statement the store's connection runs, by the kind of statement. */
const timings = new Map<string, number>();
const counts = new Map<string, number>();
const maxima = new Map<string, number>();
let timing = false;
function kindOf(sql: string): string {
  const s = sql.trim().replace(/\s+/g, ' ');
  if (/^INSERT INTO rollup_1m/.test(s)) return 'merge 1m';
  if (/^INSERT INTO rollup_1h/.test(s)) return 'merge 1h';
  if (/^INSERT INTO rollup/.test(s)) return 'roll-up insert';
  if (/^INSERT INTO readings/.test(s)) return 'insert readings';
  if (/^CREATE OR REPLACE TEMP/.test(s)) return 'batch table';
  return s.split(' ').slice(0, 2).join(' ').toLowerCase();
}
function instrument(): void {
  const sqlOf = new WeakMap<DuckDBPreparedStatement, string>();
  const add = (kind: string, ms: number) => {
    timings.set(kind, (timings.get(kind) ?? 0) + ms);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    maxima.set(kind, Math.max(maxima.get(kind) ?? 0, ms));
  };
  const prepare = DuckDBConnection.prototype.prepare;
  DuckDBConnection.prototype.prepare = async function (this: DuckDBConnection, sql: string) {
    const p = await prepare.call(this, sql);
    sqlOf.set(p, sql);
    return p;
  };
  const run = DuckDBConnection.prototype.run;
  DuckDBConnection.prototype.run = async function (this: DuckDBConnection, sql: string, ...rest: unknown[]) {
    const t0 = performance.now();
    try {
      return await (run as (...a: unknown[]) => ReturnType<typeof run>).call(this, sql, ...rest);
    } finally {
      if (timing) add(kindOf(sql), performance.now() - t0);
    }
  } as typeof run;
  const prun = DuckDBPreparedStatement.prototype.run;
  DuckDBPreparedStatement.prototype.run = async function (this: DuckDBPreparedStatement) {
    const t0 = performance.now();
    try {
      return await prun.call(this);
    } finally {
      if (timing) add(kindOf(sqlOf.get(this) ?? '?'), performance.now() - t0);
    }
  } as typeof prun;
}

async function row(size: number, rollups: boolean): Promise<DuckDbWriteRow> {
  const dir = tempDir('us-bench-duckdb-');
  try {
    const path = join(dir, 'w.duckdb');
    const store = new DuckDbStore({ path, rollups });
    await store.open();
    // A day of history at one reading per device per 10 s, so the roll-up tables are not empty.
    const t = { ts: Date.now() - DAY, i: 0 };
    const history = { ts: t.ts, i: 0 };
    for (let left = DEVICES * 8640; left > 0; left -= 10_000) {
      const rs = storeBatch(history, Math.min(10_000, left));
      for (const r of rs) r.ts = t.ts + (r.ts - t.ts) * 100;
      await store.write(rs);
    }
    t.ts = Date.now();
    for (let i = 0; i < 20; i++) await store.write(storeBatch(t, size));
    timings.clear();
    counts.clear();
    maxima.clear();
    timing = true;
    const walls: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < WRITES; i++) {
      const rs = storeBatch(t, size);
      const t0 = performance.now();
      await store.write(rs);
      walls.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    timing = false;
    await store.close();
    walls.sort((a, b) => a - b);
    const statements: DuckDbWriteRow['statements'] = {};
    for (const [k, ms] of [...timings].sort((a, b) => b[1] - a[1])) statements[k] = { perWrite: ms / WRITES, count: counts.get(k) ?? 0, maxMs: maxima.get(k) ?? 0 };
    return {
      size,
      rollups,
      writes: WRITES,
      wallMs: { p50: percentile(walls, 50), p90: percentile(walls, 90), mean: walls.reduce((a, b) => a + b, 0) / walls.length },
      cpuMs: (cpu.user + cpu.system) / 1000 / WRITES,
      statements,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface WriterLatencyRow {
  rate: number;
  flushMs: number;
  readings: number;
  p50: number;
  p99: number;
  max: number;
  cpuUsPerReading: number;
}

/** Single readings at a fixed rate through DurableWriter into the store: write → durable. */
export async function benchWriterLatency(): Promise<WriterLatencyRow> {
  const rate = Number(env.BENCH_DUCKDB_RATE) || 10_000;
  const seconds = Number(env.BENCH_DUCKDB_SECONDS) || 8;
  const flushMs = Number(env.BENCH_DUCKDB_FLUSH_MS) || 100;
  const dir = tempDir('us-bench-writer-');
  try {
    const store = new DuckDbStore({ path: join(dir, 'w.duckdb') });
    await store.open();
    const writer = new DurableWriter(store, new Journal({ dir: join(dir, 'spool') }), { batchSize: 1000, flushMs });
    writer.start();
    const lat: number[] = [];
    const t = { ts: Date.now(), i: 0 };
    const total = rate * seconds;
    let sent = 0;
    let done = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    await new Promise<void>((resolve) => {
      // Every millisecond or so, the readings due by now, one write call each (as single-reading messages arrive).
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
        for (; sent < due; sent++) {
          const at = performance.now();
          writer.write(storeBatch(t, 1), () => {
            lat.push(performance.now() - at);
            if (++done === total) resolve();
          });
        }
        if (sent < total) setTimeout(tick, 1);
      };
      tick();
    });
    const cpu = process.cpuUsage(cpu0);
    await writer.close();
    await store.close();
    lat.sort((a, b) => a - b);
    return { rate, flushMs, readings: total, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1], cpuUsPerReading: (cpu.user + cpu.system) / total };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchDuckDbWrite(): Promise<DuckDbWriteRow[]> {
  instrument();
  const rows: DuckDbWriteRow[] = [];
  for (const size of SIZES) for (const rollups of [true, false]) rows.push(await row(size, rollups));
  return rows;
}

export function duckDbWriteTable(rows: DuckDbWriteRow[]): string {
  const f = (n: number) => n.toFixed(1);
  const lines = [
    '| readings/write | roll-ups | wall p50 ms | wall p90 ms | CPU ms/write | by statement: ms per write (statements run, longest ms) |',
    '|---:|---|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const by = Object.entries(r.statements)
      .map(([k, x]) => `${k} ${x.perWrite.toFixed(1)} (${x.count}, ${x.maxMs.toFixed(0)})`)
      .join(', ');
    lines.push(`| ${r.size} | ${r.rollups ? 'on' : 'off'} | ${f(r.wallMs.p50)} | ${f(r.wallMs.p90)} | ${f(r.cpuMs)} | ${by} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const load = loadavg()[0].toFixed(1);
  (async () => {
    const rows = env.BENCH_DUCKDB_WRITER_ONLY ? [] : await benchDuckDbWrite();
    if (!rows.length) instrument();
    timings.clear();
    counts.clear();
    maxima.clear();
    timing = true;
    const w = await benchWriterLatency();
    timing = false;
    console.log(`DuckDB store writes (${WRITES} per row, load average ${load} → ${loadavg()[0].toFixed(1)})\n`);
    if (rows.length) console.log(duckDbWriteTable(rows));
    console.log(
      `\nwriter at ${w.rate} single readings/s, flushMs ${w.flushMs}, ${w.readings} readings: write → durable p50 ${w.p50.toFixed(0)} ms, p99 ${w.p99.toFixed(0)} ms, max ${w.max.toFixed(0)} ms; ${w.cpuUsPerReading.toFixed(1)} µs CPU/reading`,
    );
    const by = [...timings].sort((a, b) => b[1] - a[1]).map(([k, ms]) => `${k} ${ms.toFixed(0)} ms (${counts.get(k)}, longest ${maxima.get(k)?.toFixed(0)})`);
    console.log(`statements: ${by.join(', ')}`);
  })().then(
    () => undefined,
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
