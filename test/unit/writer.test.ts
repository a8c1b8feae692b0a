import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableWriter } from '../../nodes/lib/store/writer';
import { Journal } from '../../nodes/lib/journal/journal';
import { StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { DeadLetter, TimeSeriesStore } from '../../nodes/lib/store/types';

/** A store whose availability the test switches; it keeps rows like the real one (last write wins per key). */
class SwitchableStore implements TimeSeriesStore {
  up = true;
  writes = 0;
  sizes: number[] = [];
  /** Readings that make a write fail for their content (not an outage). */
  poison = new Set<number>();
  rows = new Map<string, Reading>();
  letters: DeadLetter[] = [];
  async open() {}
  async write(readings: Reading[]) {
    if (!this.up) throw new StoreUnavailableError('database is down');
    this.writes++;
    this.sizes.push(readings.length);
    const bad = readings.find((r) => this.poison.has(r.ts));
    if (bad) throw new StoreFailedError(`reading at ${bad.ts} cannot be stored`);
    for (const r of readings) this.rows.set(`${r.device}|${r.ts}`, r);
  }
  async writeDeadLetters(l: DeadLetter[]) {
    if (!this.up) throw new StoreUnavailableError('database is down');
    this.letters.push(...l);
  }
  async readings() { return { readings: [] }; }
  async aggregate() { return []; }
  async deadLetters() { return this.letters; }
  async health() { return { ok: this.up, detail: '' }; }
  async close() {}
}

const reading = (i: number): Reading => ({ device: 'd', ts: 1_700_000_000_000 + i, fields: { v: i }, tags: {} });
const writeAsync = (w: DurableWriter, r: Reading[]) => new Promise<void>((res, rej) => w.write(r, (e) => (e ? rej(e) : res())));
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('many small writes become few store writes', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: mkdtempSync(join(tmpdir(), 'us-w-')) }), { batchSize: 500, flushMs: 20 });
  w.start();
  await Promise.all(Array.from({ length: 1000 }, (_, i) => writeAsync(w, [reading(i)])));
  assert.equal(store.rows.size, 1000);
  assert.ok(store.writes <= 4, `expected a few batched writes, got ${store.writes}`);
  await w.close();
});

test('a message larger than the largest write is written in parts and reported once, after its last part', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: mkdtempSync(join(tmpdir(), 'us-w-')) }), { batchSize: 1000, maxWrite: 1000, flushMs: 5 });
  w.start();
  const calls: string[] = [];
  const big = Array.from({ length: 2500 }, (_, i) => reading(i));
  w.write(big, (e) => calls.push(`big:${e ? e.message : 'ok'}:${store.rows.size}`));
  w.write([reading(5000)], (e) => calls.push(`small:${e ? e.message : 'ok'}:${store.rows.size}`));
  await until(() => calls.length === 2);
  assert.deepEqual(store.sizes, [1000, 1000, 501]);
  assert.deepEqual(calls, ['big:ok:2501', 'small:ok:2501']);
  await w.close();
});

test('when one part of a large message fails, its caller hears of it once, and later messages are unaffected', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: mkdtempSync(join(tmpdir(), 'us-w-')) }), { batchSize: 100, maxWrite: 100, flushMs: 5 });
  w.start();
  const bad = reading(150);
  store.poison.add(bad.ts);
  const calls: Array<string> = [];
  w.write(Array.from({ length: 250 }, (_, i) => reading(i)), (e) => calls.push(e ? e.message : 'ok'));
  await until(() => calls.length === 1);
  await writeAsync(w, [reading(1000)]);
  assert.equal(calls.length, 1);
  assert.match(calls[0], /cannot be stored/);
  assert.equal(store.rows.size, 151, 'the two parts without the bad reading and the later message are stored');
  assert.equal(store.rows.get(`d|${reading(1000).ts}`)?.fields.v, 1000);
  await w.close();
});

test('by default one write takes up to ten batches of what queued while the previous write ran', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: mkdtempSync(join(tmpdir(), 'us-w-')) }), { batchSize: 100, flushMs: 5 });
  w.start();
  const done = Array.from({ length: 25 }, (_, k) => writeAsync(w, Array.from({ length: 100 }, (_, i) => reading(k * 100 + i))));
  await Promise.all(done);
  assert.equal(store.rows.size, 2500);
  // The first write starts at 100 queued; the other 2,400 queued meanwhile and go in parts of 1,000.
  assert.deepEqual(store.sizes, [100, 1000, 1000, 400]);
  await w.close();
});

test('while the store is down, writes are spooled, reported durable, and land once it is back', async () => {
  const store = new SwitchableStore();
  store.up = false;
  const w = new DurableWriter(store, new Journal({ dir: mkdtempSync(join(tmpdir(), 'us-w-')) }), { flushMs: 5, retryMs: 20, maxRetryMs: 40 });
  w.start();
  await writeAsync(w, [reading(1), reading(2)]);
  await writeAsync(w, [reading(3)]);
  assert.equal(store.rows.size, 0);
  assert.equal(w.stats().spooled, 3);
  store.up = true;
  await until(() => store.rows.size === 3);
  assert.equal(w.stats().spooled, 0);
  await w.close();
});

test('a spool survives a restart: what was spooled is written by the next run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-w-'));
  const down = new SwitchableStore();
  down.up = false;
  const w1 = new DurableWriter(down, new Journal({ dir }), { flushMs: 5, retryMs: 60_000 });
  w1.start();
  await writeAsync(w1, [reading(1), reading(2), reading(3)]);
  await w1.close();

  const store = new SwitchableStore();
  const w2 = new DurableWriter(store, new Journal({ dir }), { flushMs: 5, retryMs: 10 });
  w2.start();
  await until(() => store.rows.size === 3);
  await w2.close();
});

test('dead letters are batched and spooled like readings', async () => {
  const store = new SwitchableStore();
  store.up = false;
  const w = new DurableWriter(store, new Journal({ dir: mkdtempSync(join(tmpdir(), 'us-w-')) }), { flushMs: 5, retryMs: 20 });
  w.start();
  const letter: DeadLetter = { ts: 1, device: 'd', source: 'mqtt:x', code: 'DECODE_FAILED', reason: 'bad', payload: 'zz' };
  await new Promise<void>((res, rej) => w.writeDeadLetters([letter], (e) => (e ? rej(e) : res())));
  store.up = true;
  await until(() => store.letters.length === 1);
  assert.equal(store.letters[0].reason, 'bad');
  await w.close();
});
