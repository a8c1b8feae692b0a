/**
 * Readings a sink refuses for their age (older than its retention) are named
 * by the sink up front and dead-lettered together, with code BEYOND_RETENTION
 * and the cutoff, while the rest of the batch is written at once. Refusals the
 * writer cannot classify are still isolated by halving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DurableWriter, type WriterEvent } from '../../nodes/lib/store/writer';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Journal } from '../../nodes/lib/journal/journal';
import { RetentionRefusedError, StoreFailedError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { DeadLetter, TimeSeriesStore } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';
import { renderMetrics } from '../../nodes/lib/metrics/registry';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const writeAsync = (w: DurableWriter, r: Reading[]) => new Promise<void>((res, rej) => w.write(r, (e) => (e ? rej(e) : res())));
const spool = () => new Journal({ dir: tempDir('us-wr-') });

/** A sink with a retention cutoff (it names every older reading of a write, as DuckDB does) and readings it refuses for their content. */
class RetentionSink implements TimeSeriesStore {
  readonly kind = 'test';
  writes = 0;
  healthChecks = 0;
  rows = new Map<string, Reading>();
  letters: DeadLetter[] = [];
  poison = new Set<number>();
  constructor(readonly cutoff: number) {}
  async open() {}
  async write(readings: Reading[]) {
    this.writes++;
    const old: number[] = [];
    readings.forEach((r, i) => r.ts < this.cutoff && old.push(i));
    if (old.length) throw new RetentionRefusedError(this.kind, old, this.cutoff, 'raise the retention to keep such readings');
    const bad = readings.find((r) => this.poison.has(r.ts));
    if (bad) throw new StoreFailedError(`reading at ${bad.ts} cannot be stored`);
    for (const r of readings) this.rows.set(`${r.device}|${r.ts}`, r);
  }
  async writeDeadLetters(l: DeadLetter[]) {
    this.letters.push(...l);
  }
  async readings() {
    return { readings: [] };
  }
  async aggregate() {
    return [];
  }
  async deadLetters() {
    return this.letters;
  }
  async health() {
    this.healthChecks++;
    return { ok: true, detail: 'ok' };
  }
  async close() {}
}

test('9,000 readings older than the sink keeps, among new ones and one poisoned reading: the old ones are dead-lettered together, the rest stored, the poison isolated', async () => {
  const cutoff = Date.UTC(2026, 0, 1);
  const sink = new RetentionSink(cutoff);
  const events: WriterEvent[] = [];
  const w = new DurableWriter(sink, spool(), { batchSize: 1000, maxWrite: 10_000, flushMs: 5, onEvent: (e) => events.push(e) });
  w.start();
  const old = Array.from({ length: 9000 }, (_, i): Reading => ({ device: `old${i % 7}`, ts: cutoff - DAY + i, fields: { v: i }, tags: {} }));
  const fresh = Array.from({ length: 100 }, (_, i): Reading => ({ device: 'new', ts: cutoff + i, fields: { v: i }, tags: {} }));
  sink.poison.add(cutoff + 50);
  // Old and new interleaved, as a backfill followed by live data arrives in one batch.
  await writeAsync(w, [...old.slice(0, 4500), ...fresh, ...old.slice(4500)]);
  const tooOld = sink.letters.filter((l) => l.code === 'BEYOND_RETENTION');
  assert.equal(tooOld.length, 9000);
  assert.deepEqual(new Set(tooOld.map((l) => l.device)), new Set(['old0', 'old1', 'old2', 'old3', 'old4', 'old5', 'old6']));
  assert.ok(tooOld.every((l) => l.reason.includes('cutoff 2026-01-01T00:00:00.000Z') && l.reason.includes('older than the store keeps')), tooOld[0].reason);
  assert.match(tooOld[0].reason, /of device "old0" at 2025-12-31T00:00:00\.000Z/);
  assert.deepEqual(JSON.parse(tooOld[0].payload), old[0]);
  const rejected = sink.letters.filter((l) => l.code === 'STORE_REJECTED');
  assert.equal(rejected.length, 1, 'the unknown refusal is still isolated');
  assert.match(rejected[0].reason, /cannot be stored/);
  assert.equal(sink.rows.size, 99);
  // One write names the 9,000; the 100 left are then bisected down to the poisoned one (about 2·log2(100) writes).
  assert.ok(sink.writes <= 20, `${sink.writes} sink writes`);
  assert.ok(sink.healthChecks <= 1, 'the readings named too old are not blamed one by one');
  assert.equal(w.stats().rejected, 9001);
  // What the log says names the codes the letters have, not one of them for all.
  const said = events.flatMap((e) => (e.type === 'rejected' ? [e.codes] : []));
  assert.deepEqual(new Set(said.flat()), new Set(['BEYOND_RETENTION', 'STORE_REJECTED']));
  await w.close();
});

test('a retention refusal that names no reading of the write is bisected like any other refusal', async () => {
  const sink = new RetentionSink(0);
  const bogus = { write: async (r: Reading[]) => (r.some((x) => x.ts === 3) ? Promise.reject(new RetentionRefusedError('test', [99], 0, 'x')) : sink.write(r)) };
  const w = new DurableWriter({ ...sink, kind: 'test', write: bogus.write, writeDeadLetters: (l) => sink.writeDeadLetters(l), health: () => sink.health(), open: async () => {}, close: async () => {} }, spool(), { batchSize: 10, flushMs: 5 });
  w.start();
  await writeAsync(w, Array.from({ length: 8 }, (_, i) => ({ device: 'd', ts: i, fields: { v: i }, tags: {} })));
  assert.equal(sink.rows.size, 7);
  assert.deepEqual(
    sink.letters.map((l) => l.code),
    ['STORE_REJECTED'],
  );
  await w.close();
});

test('real DuckDB: a backfill of 5,000 readings for hours retention has sealed is dead-lettered in one go, and the new readings beside it are stored', async () => {
  const path = join(tempDir('us-wr-duck-'), 'r.duckdb');
  const base = Math.floor(Date.now() / HOUR) * HOUR - 10 * DAY;
  // Ten days of hourly readings, written while the store kept everything.
  const history = Array.from({ length: 10 * 24 }, (_, h): Reading => ({ device: 'd', ts: base + h * HOUR, fields: { v: h }, tags: {} }));
  const before = new DuckDbStore({ path });
  await before.open();
  await before.write(history);
  await before.close();
  // Opened with a 2-day retention: its first pass removes the older raw rows and seals their hours.
  const store = new DuckDbStore({ path, retentionMs: 2 * DAY, rollupRetentionMs: 30 * DAY });
  await store.open();
  await store.applyRetention();
  let writes = 0;
  const write = store.write.bind(store);
  store.write = (r: Reading[]) => {
    writes++;
    return write(r);
  };
  const w = new DurableWriter(store, spool(), { batchSize: 1000, maxWrite: 10_000, flushMs: 5 });
  w.start();
  // The same hours again, 5,000 readings (a device re-sending its history), and ten new ones.
  const backfill = Array.from({ length: 5000 }, (_, i): Reading => ({ device: 'd', ts: base + (i % (6 * 24)) * HOUR + 1 + Math.floor(i / (6 * 24)), fields: { v: -i }, tags: {} }));
  const now = Date.now();
  const fresh = Array.from({ length: 10 }, (_, i): Reading => ({ device: 'd', ts: now - 60_000 + i, fields: { v: i }, tags: {} }));
  await writeAsync(w, [...backfill, ...fresh]);
  const letters = await store.deadLetters({ device: 'd', limit: 10_000 });
  assert.equal(letters.length, 5000);
  assert.ok(letters.every((l) => l.code === 'BEYOND_RETENTION' && /older than the store keeps \(cutoff \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)/.test(l.reason)), letters[0].reason);
  assert.match(letters[0].reason, /raise the retention/);
  const stored = await store.readings({ device: 'd', from: now - 120_000, limit: 100 });
  assert.deepEqual(stored.readings.map((r) => r.ts), fresh.map((r) => r.ts));
  // The refused write named all 5,000; the second wrote the rest. No reading was tried on its own.
  assert.equal(writes, 2);
  await w.close();
  await store.close();
});

test('GET /metrics counts the dead letters of readings the store refused, by code (upperstack_deadletters_total)', async () => {
  const count = async (code: string) => Number(new RegExp(`^upperstack_deadletters_total\\{code="${code}"\\} (\\d+)$`, 'm').exec((await renderMetrics()).body)?.[1] ?? 0);
  const before = { old: await count('BEYOND_RETENTION'), bad: await count('STORE_REJECTED') };
  const cutoff = Date.UTC(2026, 0, 1);
  const sink = new RetentionSink(cutoff);
  const w = new DurableWriter(sink, spool(), { batchSize: 100, maxWrite: 1000, flushMs: 5 });
  w.start();
  sink.poison.add(cutoff + 7);
  await writeAsync(w, [
    ...Array.from({ length: 250 }, (_, i): Reading => ({ device: 'old', ts: cutoff - DAY + i, fields: { v: i }, tags: {} })),
    ...Array.from({ length: 20 }, (_, i): Reading => ({ device: 'new', ts: cutoff + i, fields: { v: i }, tags: {} })),
  ]);
  await w.close();
  assert.equal(sink.letters.length, 251);
  assert.deepEqual({ old: await count('BEYOND_RETENTION'), bad: await count('STORE_REJECTED') }, { old: before.old + 250, bad: before.bad + 1 });
});
