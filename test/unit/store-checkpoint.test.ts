/**
 * The DuckDB store checkpoints itself (duckdb-checkpoint.ts): the WAL stays
 * near the threshold instead of growing to DuckDB's 16 MB, close leaves no
 * WAL, and with vacuuming off the row groups retention empties still go.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbStore, type StoreTraceEvent } from '../../nodes/lib/store/duckdb';
import { checkpointConfig, checkpointWalFromEnv, traceFromEnv } from '../../nodes/lib/store/duckdb-checkpoint';
import { ConfigError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';

const dir = mkdtempSync(join(tmpdir(), 'us-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;
/** 64 KiB of threshold plus two writes of 1,000 readings (~100 KB of WAL each), with room. */
const WAL_BOUND = 64 * 1024 + 2 * 200 * 1024;
// One stat: a checkpoint running in the background can remove the WAL between an existsSync and a stat.
const walSize = (file: string) => statSync(`${file}.wal`, { throwIfNoEntry: false })?.size ?? 0;

/** `n` readings of 10 devices with 3 fields, one per device per second from `from` on. */
function readings(from: number, n: number): Reading[] {
  return Array.from({ length: n }, (_, i) => ({
    device: `d${i % 10}`,
    ts: from + Math.floor(i / 10) * 1000,
    fields: { t: 20 + (i % 7), h: 40 + (i % 13), ok: i % 3 === 0 },
    tags: { site: 'a' },
  }));
}

async function rawCount(file: string, sql: string): Promise<number> {
  const instance = await DuckDBInstance.create(file);
  try {
    const conn = await instance.connect();
    return Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
  } finally {
    instance.closeSync();
  }
}

async function writeMany(store: DuckDbStore, file: string, from: number, batches: number): Promise<number> {
  let largest = 0;
  for (let b = 0; b < batches; b++) {
    await store.write(readings(from + b * 100_000, 1000));
    // Queued after the checkpoint the write may have made due.
    await store.devices();
    largest = Math.max(largest, walSize(file));
  }
  return largest;
}

test('the store checkpoints after the write that takes the WAL past its threshold, so the WAL stays near it', async () => {
  const file = join(dir, 'bounded.duckdb');
  const events: StoreTraceEvent[] = [];
  const store = new DuckDbStore({ path: file, checkpointWalBytes: 64 * 1024, trace: (e) => events.push(e) });
  await store.open();
  const largest = await writeMany(store, file, Date.now() - 2 * HOUR, 40);
  // A refused checkpoint is tried again once the reads are done: give the last one's retry its turn.
  const lastRefused = () => events.filter((e) => e.kind === 'checkpoint').at(-1)?.error !== undefined;
  for (let i = 0; i < 1500 && lastRefused(); i++) await new Promise((r) => setTimeout(r, 20));
  const checkpoints = events.flatMap((e) => (e.kind === 'checkpoint' ? [e] : []));
  // DuckDB refuses one while a read that began before the last commit still runs (here `devices()` beside a
  // roll-up apply); the store tries it again once the reads are done, and nothing else may fail.
  const refused = checkpoints.flatMap((e, i) => (e.error ? [i] : []));
  assert.ok(refused.every((i) => /other write transactions active/.test(checkpoints[i].error ?? '')), JSON.stringify(checkpoints));
  assert.ok(refused.every((i) => checkpoints.slice(i + 1).some((e) => !e.error)), 'a refused checkpoint is followed by one that ran');
  assert.ok(checkpoints.length - refused.length >= 5, `checkpoints: ${checkpoints.length}`);
  assert.equal(events.filter((e) => e.kind === 'write').length, 40);
  // Below the threshold after each checkpoint, so never above it by more than the rows of the write that took it
  // past and, when that checkpoint was refused and waits for the reads, of the write before its retry.
  assert.ok(largest < WAL_BOUND, `largest WAL ${largest}`);
  assert.equal((await store.devices()).length, 10);
  await store.close();
  assert.equal(await rawCount(file, 'SELECT count(*) FROM readings'), 40 * 1000 * 3);
});

test("left to DuckDB (threshold 0) the same writes grow the WAL past that bound: the store's checkpoints are what keep it there", async () => {
  const file = join(dir, 'duckdb-own.duckdb');
  const events: StoreTraceEvent[] = [];
  const store = new DuckDbStore({ path: file, checkpointWalBytes: 0, trace: (e) => events.push(e) });
  await store.open();
  const largest = await writeMany(store, file, Date.now() - 2 * HOUR, 40);
  assert.ok(largest > WAL_BOUND, `largest WAL ${largest}`);
  assert.equal(events.filter((e) => e.kind === 'checkpoint').length, 0);
  await store.close();
});

test('with no setting the store checkpoints itself at 2 MiB of WAL: the WAL stays near that instead of growing to DuckDB\'s 16 MB', async () => {
  const before = process.env.UPPERSTACK_DUCKDB_CHECKPOINT_WAL;
  delete process.env.UPPERSTACK_DUCKDB_CHECKPOINT_WAL;
  const file = join(dir, 'default.duckdb');
  const events: StoreTraceEvent[] = [];
  const store = new DuckDbStore({ path: file, trace: (e) => events.push(e) });
  try {
    await store.open();
    const largest = await writeMany(store, file, Date.now() - 2 * HOUR, 80);
    const checkpoints = events.flatMap((e) => (e.kind === 'checkpoint' ? [e] : []));
    // One refused beside a read is tried again (see the first test); at least one ran.
    assert.ok(checkpoints.some((e) => !e.error), `checkpoints: ${JSON.stringify(checkpoints)}, largest WAL ${largest}`);
    // Not earlier than 2 MiB, and near it after: the same writes left to DuckDB reach ~9 MB.
    assert.ok(checkpoints.every((e) => e.walBytes >= 2 << 20), JSON.stringify(checkpoints));
    assert.ok(largest < 3 << 20, `largest WAL ${largest}`);
  } finally {
    await store.close();
    if (before === undefined) delete process.env.UPPERSTACK_DUCKDB_CHECKPOINT_WAL;
    else process.env.UPPERSTACK_DUCKDB_CHECKPOINT_WAL = before;
  }
});

test('close checkpoints: everything is in the file and no WAL is left', async () => {
  const file = join(dir, 'close.duckdb');
  const events: StoreTraceEvent[] = [];
  const store = new DuckDbStore({ path: file, trace: (e) => events.push(e) });
  await store.open();
  await store.write(readings(Date.now() - HOUR, 500));
  assert.ok(walSize(file) > 0);
  await store.close();
  assert.equal(events.at(-1)?.kind, 'checkpoint');
  assert.equal(walSize(file), 0);
  assert.equal(await rawCount(file, 'SELECT count(*) FROM readings'), 1500);
});

test('without vacuuming, the row groups retention empties are dropped: the file holds only what is kept', async () => {
  const file = join(dir, 'retention.duckdb');
  const now = Date.now();
  const store = new DuckDbStore({ path: file, checkpointWalBytes: 64 * 1024, retentionMs: 24 * HOUR, rollupRetentionMs: 48 * HOUR });
  await store.open();
  // Old readings, many small checkpoints (many small row groups), then a day later the fresh ones.
  await writeMany(store, file, now - 3 * 24 * HOUR, 30);
  await store.write(readings(now - HOUR, 1000));
  await store.applyRetention(now);
  await store.close();
  assert.equal(await rawCount(file, 'SELECT count(*) FROM readings'), 3000);
  // The 30 × 3,000 old rows were in many row groups; what is left fits in one or two.
  assert.ok((await rawCount(file, `SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('readings')`)) <= 2);
});

test('checkpoint settings: none of its own when left to DuckDB, else no vacuuming and a backstop threshold', () => {
  assert.deepEqual(checkpointConfig(0), {});
  assert.deepEqual(checkpointConfig(1 << 21), { checkpoint_threshold: '64MB', max_vacuum_tasks: '0' });
});

test('UPPERSTACK_DUCKDB_CHECKPOINT_WAL: empty is the default, a whole number of bytes is taken (0: DuckDB checkpoints), anything else is a config error', () => {
  assert.equal(checkpointWalFromEnv(undefined), undefined);
  assert.equal(checkpointWalFromEnv(' '), undefined);
  assert.equal(checkpointWalFromEnv('0'), 0);
  assert.equal(checkpointWalFromEnv('4194304'), 4194304);
  assert.throws(() => checkpointWalFromEnv('2MB'), ConfigError);
  assert.throws(() => checkpointWalFromEnv('-1'), ConfigError);
});

test('UPPERSTACK_DUCKDB_TRACE with an absolute path appends one line per write, checkpoint, apply and queue turn to that file', () => {
  const file = join(dir, 'trace.txt');
  const before = process.env.UPPERSTACK_DUCKDB_TRACE;
  process.env.UPPERSTACK_DUCKDB_TRACE = file;
  try {
    const trace = traceFromEnv();
    assert.ok(trace);
    trace({ kind: 'write', ms: 12.34, waitMs: 31.26, readings: 250 });
    trace({ kind: 'checkpoint', ms: 40, walBytes: 2 << 20 });
    trace({ kind: 'rollups', ms: 5.55, buckets: 30 });
    trace({ kind: 'op', op: 'health check', ms: 7.71, waitMs: 2.04 });
  } finally {
    if (before === undefined) delete process.env.UPPERSTACK_DUCKDB_TRACE;
    else process.env.UPPERSTACK_DUCKDB_TRACE = before;
  }
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l.replace(/^duckdb /, '')) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => [l.kind, l.ms]), [['write', 12.3], ['checkpoint', 40], ['rollups', 5.6], ['op', 7.7]]);
  assert.deepEqual([lines[3].op, lines[3].waitMs], ['health check', 2]);
  assert.equal(lines[0].waitMs, 31.3);
  assert.equal(lines[1].walBytes, 2 << 20);
  assert.equal(lines[2].buckets, 30);
});

test('the trace reports each roll-up apply with its buckets, and every write with its wait in the queue', async () => {
  const events: StoreTraceEvent[] = [];
  const store = new DuckDbStore({ path: ':memory:', trace: (e) => events.push(e) });
  await store.open();
  // Before any write, so the health check is the probe on the queue (a write just committed would stand for it).
  await store.health();
  const probed = events.length;
  const from = Date.UTC(2026, 0, 1);
  // 10 devices × 3 fields, all in one minute: 30 buckets pending after the first write, none new after the second.
  await store.write(readings(from, 10));
  await store.write(readings(from + 1000, 10));
  // An aggregate from the 1-minute tier applies nothing (it merges what is pending); an apply asked for does.
  const { tier, points } = await store.aggregateWithTier({ device: 'd0', field: 't', fn: 'count', everyMs: 60_000, from, to: from + 60_000 });
  assert.deepEqual([tier, points], ['1m', [{ ts: from, value: 2 }]]);
  assert.deepEqual(events.slice(probed).filter((e) => e.kind === 'rollups' || e.kind === 'op'), []);
  await store.applyRollups();
  const applies = events.filter((e) => e.kind === 'rollups');
  assert.deepEqual(applies.map((e) => e.kind === 'rollups' && e.buckets), [30]);
  const writes = events.filter((e) => e.kind === 'write');
  assert.equal(writes.length, 2);
  assert.ok(writes.every((e) => e.kind === 'write' && Number.isFinite(e.waitMs) && e.waitMs >= 0));
  // Every other turn of the queue a write could wait behind is there too, by name.
  const ops = events.flatMap((e) => (e.kind === 'op' ? [e] : []));
  assert.deepEqual(ops.map((e) => e.op).filter((op) => op === 'apply roll-ups' || op === 'health check'), ['health check', 'apply roll-ups']);
  assert.ok(ops.every((e) => Number.isFinite(e.ms) && e.ms >= 0 && Number.isFinite(e.waitMs) && e.waitMs >= 0));
  await store.close();
});
