/**
 * Whether a write can commit while a DuckDB checkpoint runs on another
 * connection of the same database (docs/performance.md, "A checkpoint beside
 * the writes"). Connection A commits a small write (250 rows, as the latency
 * row's writes) every 10 ms; the bench reports how long each write that
 * started while a checkpoint ran took, against the writes outside one.
 *
 * - `side`: a CHECKPOINT on connection B once A's writes take the WAL past
 *   BENCH_SIDE_WAL (bytes, comma list; default 2 MiB and 8 MiB). A writes as
 *   the store does: an appender into `readings` inside a transaction, then
 *   COMMIT (the wait is timed per step: the appender's close is synchronous),
 *   and as a plain INSERT (auto-commit).
 * - `own`: DuckDB's own checkpoint (threshold 4 MB) inside a commit of either
 *   of two connections that both INSERT every 10 ms: how many of the other
 *   connection's writes commit while it runs.
 * - `attached`: a CHECKPOINT of the database file while A inserts into a
 *   second database file ATTACHed to the same instance.
 *
 *   node scripts/build.mjs && node dist/bench/duckdb-checkpoint-side.js
 *
 * BENCH_SIDE_SECONDS (per case, default 20). A measurement, not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOUBLE, DuckDBDataChunk, DuckDBInstance, DuckDBTimestampValue, VARCHAR, TIMESTAMP, BOOLEAN, type DuckDBConnection, type DuckDBValue, type DuckDBVector } from '@duckdb/node-api';
import { READINGS } from '../nodes/lib/store/duckdb-schema';
import { fileSize } from './common';

const SECONDS = Number(process.env.BENCH_SIDE_SECONDS) || 20;
const WALS = (process.env.BENCH_SIDE_WAL ?? `${2 << 20},${8 << 20}`).split(',').map(Number);
const ROWS = 250;
const PERIOD_MS = 10;
const TYPES = [VARCHAR, TIMESTAMP, VARCHAR, DOUBLE, BOOLEAN, VARCHAR, VARCHAR];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? '-' : s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(0);
};

let clock = Date.UTC(2026, 0, 1);
/** A write of ROWS readings as one INSERT (the timestamps advance, as fresh readings do). */
function insertSql(table: string): string {
  const from = clock;
  clock += ROWS;
  return `INSERT INTO ${table} SELECT 'dev-' || (i % 10), make_timestamp((${from} + i)::BIGINT * 1000), 'temp', random(), NULL, NULL, '{}' FROM range(${ROWS}) r(i)`;
}

/** The store's fresh-readings write (duckdb-write.ts appendRows), each step timed. */
async function appendWrite(conn: DuckDBConnection, steps: Record<string, number[]>): Promise<void> {
  const chunk = DuckDBDataChunk.create(TYPES, ROWS);
  const v = TYPES.map((_, i) => chunk.getColumnVector(i) as DuckDBVector<DuckDBValue>);
  for (let i = 0; i < ROWS; i++) {
    clock++;
    v[0].setItem(i, `dev-${i % 10}`);
    v[1].setItem(i, new DuckDBTimestampValue(BigInt(clock) * 1000n));
    v[2].setItem(i, 'temp');
    v[3].setItem(i, Math.random());
    v[4].setItem(i, null);
    v[5].setItem(i, null);
    v[6].setItem(i, '{}');
  }
  for (const x of v) x.flush();
  let t = performance.now();
  const step = (k: string) => {
    const now = performance.now();
    (steps[k] ??= []).push(now - t);
    t = now;
  };
  await conn.run('BEGIN TRANSACTION');
  step('begin');
  const ap = await conn.createAppender('readings');
  ap.appendDataChunk(chunk);
  ap.closeSync();
  step('append+close (sync)');
  await conn.run('COMMIT');
  step('commit');
}

interface Window {
  s: number;
  e: number;
}

async function open(dir: string, name: string, config: Record<string, string>) {
  const path = join(dir, `${name}.duckdb`);
  const instance = await DuckDBInstance.create(path, { threads: '1', max_vacuum_tasks: '0', ...config });
  return { path, instance };
}

/** Case `side`: a CHECKPOINT on connection B while A writes. */
async function side(dir: string, walBytes: number, mode: 'append' | 'insert'): Promise<void> {
  const { path, instance } = await open(dir, `side-${walBytes}-${mode}`, { checkpoint_threshold: '1GB' });
  const a = await instance.connect();
  const b = await instance.connect();
  await a.run(READINGS);
  const windows: Window[] = [];
  const writes: Array<{ s: number; ms: number }> = [];
  const steps: Record<string, number[]> = {};
  let running: Window | undefined;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    if (!running && fileSize(`${path}.wal`) >= walBytes) {
      const w: Window = { s: performance.now(), e: Infinity };
      running = w;
      void b.run('CHECKPOINT').finally(() => {
        w.e = performance.now();
        windows.push(w);
        running = undefined;
      });
    }
    const s = performance.now();
    if (mode === 'append') await appendWrite(a, steps);
    else await a.run(insertSql('readings'));
    writes.push({ s, ms: performance.now() - s });
    await sleep(PERIOD_MS);
  }
  while (running) await sleep(5);
  const inside = writes.filter((x) => windows.some((w) => x.s >= w.s && x.s < w.e));
  const outside = writes.filter((x) => !windows.some((w) => x.s + x.ms >= w.s && x.s < w.e));
  const slowSteps = Object.entries(steps)
    .map(([k, xs]) => `${k} max ${q(xs, 1)}`)
    .join(', ');
  console.log(
    `side  WAL ${(walBytes / 1048576).toFixed(0)} MiB, ${mode.padEnd(6)}: ${windows.length} checkpoints of ${windows.map((w) => (w.e - w.s).toFixed(0)).join('/')} ms; ` +
      `writes started during one: ${inside.map((x) => x.ms.toFixed(0)).join(' ') || '-'} ms; outside p50 ${q(outside.map((x) => x.ms), 0.5)}, p99 ${q(outside.map((x) => x.ms), 0.99)} ms` +
      (mode === 'append' ? ` (steps: ${slowSteps})` : ''),
  );
  a.closeSync();
  b.closeSync();
  instance.closeSync();
}

/** Case `own`: DuckDB's own checkpoint inside one connection's commit while another commits too. */
async function own(dir: string): Promise<void> {
  const { path, instance } = await open(dir, 'own', { checkpoint_threshold: '4MB' });
  const conns = [await instance.connect(), await instance.connect()];
  await conns[0].run(READINGS);
  const log: Array<Array<{ s: number; e: number; checkpointed: boolean }>> = [[], []];
  const end = performance.now() + SECONDS * 1000;
  const loop = async (k: number) => {
    while (performance.now() < end) {
      const wal = fileSize(`${path}.wal`);
      const s = performance.now();
      await conns[k].run(insertSql('readings'));
      log[k].push({ s, e: performance.now(), checkpointed: fileSize(`${path}.wal`) < wal });
      await sleep(PERIOD_MS);
    }
  };
  await Promise.all([loop(0), loop(1)]);
  const seen: string[] = [];
  let held = 0;
  for (const k of [0, 1]) {
    for (const c of log[k].filter((x) => x.checkpointed)) {
      const during = log[1 - k].filter((x) => x.s >= c.s && x.e <= c.e).length;
      held += during;
      seen.push(`${(c.e - c.s).toFixed(0)} ms: ${during}`);
    }
  }
  console.log(`own   checkpoint inside a commit (4 MB): the other connection's writes committed during it: ${held} (per checkpoint, its time: count: ${seen.join(', ')})`);
  for (const c of conns) c.closeSync();
  instance.closeSync();
}

/** Case `attached`: a CHECKPOINT of the database file while A writes into a second file attached to it. */
async function attached(dir: string): Promise<void> {
  const { instance } = await open(dir, 'mainfile', { checkpoint_threshold: '1GB' });
  const a = await instance.connect();
  const b = await instance.connect();
  await a.run(`ATTACH '${join(dir, 'second.duckdb')}' AS second`);
  await a.run(READINGS);
  await a.run(READINGS.replace('IF NOT EXISTS readings', 'second.readings'));
  for (const target of ['readings', 'second.readings']) {
    const results: string[] = [];
    for (let round = 0; round < 3; round++) {
      // ~8 MiB of WAL in the main file (the bench's rows: about 28 bytes each).
      for (let i = 0; i < 1200; i++) await a.run(insertSql('readings'));
      const w: Window = { s: performance.now(), e: Infinity };
      const done = b.run('CHECKPOINT').finally(() => (w.e = performance.now()));
      const waits: number[] = [];
      while (w.e === Infinity && waits.length < 40) {
        const s = performance.now();
        await a.run(insertSql(target));
        if (s < w.e) waits.push(performance.now() - s);
        await sleep(PERIOD_MS);
      }
      await done;
      results.push(`${(w.e - w.s).toFixed(0)} ms checkpoint: ${waits.map((x) => x.toFixed(0)).join(' ')}`);
    }
    console.log(`attached writes into ${target.padEnd(15)} during a checkpoint of the main file (ms): ${results.join(' | ')}`);
  }
  a.closeSync();
  b.closeSync();
  instance.closeSync();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'upperstack-ckpt-side-'));
  try {
    console.log(`load average ${loadavg()[0].toFixed(1)}; ${ROWS} rows per write every ${PERIOD_MS} ms, ${SECONDS} s per case`);
    for (const wal of WALS) {
      await side(dir, wal, 'append');
      await side(dir, wal, 'insert');
    }
    await own(dir);
    await attached(dir);
    console.log(`load average ${loadavg()[0].toFixed(1)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
