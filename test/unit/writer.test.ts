import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DurableWriter, type WriterEvent } from '../../nodes/lib/store/writer';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Journal } from '../../nodes/lib/journal/journal';
import { StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { DeadLetter, TimeSeriesStore } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';

/** A store whose availability the test switches; it keeps rows like the real one (last write wins per key). */
class SwitchableStore implements TimeSeriesStore {
  readonly kind = 'test';
  up = true;
  /** The health check's answer while up (a store can be reachable yet refuse everything). */
  healthy = true;
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
  async health() { return { ok: this.up && this.healthy, detail: this.up ? 'refuses every write' : 'down' }; }
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
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 500, flushMs: 20 });
  w.start();
  await Promise.all(Array.from({ length: 1000 }, (_, i) => writeAsync(w, [reading(i)])));
  assert.equal(store.rows.size, 1000);
  assert.ok(store.writes <= 4, `expected a few batched writes, got ${store.writes}`);
  await w.close();
});

test('a message larger than the largest write is written in parts and reported once, after its last part', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 1000, maxWrite: 1000, flushMs: 5 });
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

test('by default one write takes up to ten batches of what queued while the previous write ran', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 100, flushMs: 5 });
  w.start();
  const done = Array.from({ length: 25 }, (_, k) => writeAsync(w, Array.from({ length: 100 }, (_, i) => reading(k * 100 + i))));
  await Promise.all(done);
  assert.equal(store.rows.size, 2500);
  // The first write starts at 100 queued; the other 2,400 queued meanwhile and go in parts of 1,000.
  assert.deepEqual(store.sizes, [100, 1000, 1000, 400]);
  await w.close();
});

test('a write that ran quickly is not followed at once by one for a handful of readings: the next starts at minWrite queued (a quarter of batchSize) or flushMs after', async () => {
  const store = new SwitchableStore();
  let release: (() => void) | undefined;
  const write = store.write.bind(store);
  // The first write waits until the test lets it finish, so readings queue while it runs.
  store.write = async (r: Reading[]) => {
    if (store.writes === 0) await new Promise<void>((res) => (release = res));
    return write(r);
  };
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 100, flushMs: 60_000 });
  w.start();
  const first = writeAsync(w, Array.from({ length: 30 }, (_, i) => reading(i)));
  await until(() => release !== undefined);
  const few = writeAsync(w, Array.from({ length: 5 }, (_, i) => reading(100 + i)));
  release!();
  await first;
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(store.sizes, [30], 'the 5 readings that queued meanwhile wait for more');
  const more = writeAsync(w, Array.from({ length: 20 }, (_, i) => reading(200 + i)));
  await Promise.all([few, more]);
  assert.deepEqual(store.sizes, [30, 25]);
  await w.close();
});

test('a reading after a quiet spell is written at once; while readings keep coming, at most one write starts per flushMs', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 });
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 1000, flushMs: 60_000 });
  const settled = async () => {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => queueMicrotask(r));
  };
  try {
    w.start();
    // Just started: a reading waits out the interval, so readings that follow share its write.
    w.write([reading(1)], () => undefined);
    t.mock.timers.tick(59_999);
    await settled();
    assert.equal(store.writes, 0);
    w.write([reading(2)], () => undefined);
    t.mock.timers.tick(1);
    await settled();
    assert.deepEqual(store.sizes, [2]);
    // Right after a write, the next reading waits for the rest of the interval.
    w.write([reading(3)], () => undefined);
    t.mock.timers.tick(30_000);
    await settled();
    assert.equal(store.writes, 1);
    t.mock.timers.tick(30_000);
    await settled();
    assert.deepEqual(store.sizes, [2, 1]);
    // After a quiet spell longer than the interval, a reading is written at once.
    t.mock.timers.tick(120_000);
    w.write([reading(4)], () => undefined);
    t.mock.timers.tick(1);
    await settled();
    assert.deepEqual(store.sizes, [2, 1, 1]);
    assert.equal(store.rows.size, 4);
  } finally {
    t.mock.timers.reset();
    await w.close();
  }
});

test('while the store is down, writes are spooled, reported durable, and land once it is back', async () => {
  const store = new SwitchableStore();
  store.up = false;
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, retryMs: 20, maxRetryMs: 40 });
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
  const dir = tempDir('us-w-');
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
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, retryMs: 20 });
  w.start();
  const letter: DeadLetter = { ts: 1, device: 'd', source: 'mqtt:x', code: 'DECODE_FAILED', reason: 'bad', payload: 'zz' };
  await new Promise<void>((res, rej) => w.writeDeadLetters([letter], (e) => (e ? rej(e) : res())));
  store.up = true;
  await until(() => store.letters.length === 1);
  assert.equal(store.letters[0].reason, 'bad');
  await w.close();
});

const letterOf = (store: SwitchableStore, ts: number) => store.letters.find((l) => JSON.parse(l.payload).ts === ts);

test('a reading the store refuses is isolated by halving: it is dead-lettered with the store\'s reason, the rest of its batch is stored, in order', async () => {
  const store = new SwitchableStore();
  const events: WriterEvent[] = [];
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 1000, flushMs: 5, onEvent: (e) => events.push(e) });
  w.start();
  const batch = Array.from({ length: 1000 }, (_, i) => ({ ...reading(i), device: i === 500 ? 'bad-dev' : 'd' }));
  for (const i of [3, 500, 999]) store.poison.add(batch[i].ts);
  const calls: string[] = [];
  w.write(batch, (e) => calls.push(e ? e.message : 'ok'));
  await until(() => calls.length === 1);
  assert.deepEqual(calls, ['ok'], 'the caller hears "durable": nothing is left to retry');
  assert.equal(store.rows.size, 997);
  assert.equal(store.letters.length, 3);
  const l = letterOf(store, batch[500].ts)!;
  assert.equal(l.code, 'STORE_REJECTED');
  assert.equal(l.device, 'bad-dev');
  assert.equal(l.source, 'store:test');
  assert.match(l.reason, /the test store refused this reading of device "bad-dev": reading at \d+ cannot be stored/);
  assert.deepEqual(JSON.parse(l.payload), batch[500]);
  // Halving finds 3 readings in 1,000 with a few dozen writes, not 1,000.
  assert.ok(store.writes < 80, `${store.writes} writes`);
  assert.equal(w.stats().rejected, 3);
  assert.equal(w.stats().spooled, 0);
  assert.equal(w.stats().failingSince, undefined, 'refused data is not an outage');
  assert.deepEqual(events.map((e) => e.type), ['rejected']);
  assert.equal(events[0].type === 'rejected' && events[0].count, 3);
  await writeAsync(w, [reading(5000)]);
  assert.equal(store.rows.get(`d|${reading(5000).ts}`)?.fields.v, 5000, 'later writes go straight through');
  await w.close();
});

test('a reading refused while the store also fails its health check is not blamed: it is spooled and written once the store is well', async () => {
  const store = new SwitchableStore();
  store.healthy = false;
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, retryMs: 20, maxRetryMs: 40 });
  w.start();
  store.poison.add(reading(1).ts);
  await writeAsync(w, [reading(1), reading(2)]);
  assert.equal(store.letters.length, 0);
  assert.equal(w.stats().spooled, 2);
  assert.ok(w.stats().failingSince !== undefined);
  store.poison.clear();
  store.healthy = true;
  await until(() => store.rows.size === 2);
  await until(() => w.stats().spooled === 0);
  await w.close();
});

test('a poisoned batch in the spool is isolated when the spool drains: the reading is dead-lettered, the rest stored, nothing dropped or retried forever', async () => {
  const store = new SwitchableStore();
  store.up = false;
  const events: WriterEvent[] = [];
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, retryMs: 20, maxRetryMs: 40, onEvent: (e) => events.push(e) });
  w.start();
  await writeAsync(w, Array.from({ length: 10 }, (_, i) => reading(i)));
  await writeAsync(w, [reading(100)]);
  assert.equal(w.stats().spooled, 11);
  assert.equal(events[0].type, 'spooling');
  const down = w.stats().failingSince;
  assert.ok(typeof down === 'number');
  assert.match(w.stats().lastError ?? '', /database is down/);
  store.poison.add(reading(4).ts);
  store.up = true;
  await until(() => w.stats().spooled === 0);
  assert.equal(store.rows.size, 10);
  assert.equal(store.letters.length, 1);
  assert.equal(store.letters[0].code, 'STORE_REJECTED');
  assert.deepEqual(JSON.parse(store.letters[0].payload), reading(4));
  assert.equal(w.stats().failingSince, undefined);
  assert.equal(w.stats().lastError, undefined);
  assert.deepEqual(events.map((e) => e.type), ['spooling', 'rejected', 'recovered'], 'each state is reported once');
  await w.close();
});

test('the outage is reported once when it starts and once when it ends, however many writes spool meanwhile', async () => {
  const store = new SwitchableStore();
  const events: WriterEvent[] = [];
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, retryMs: 20, maxRetryMs: 40, onEvent: (e) => events.push(e) });
  w.start();
  store.up = false;
  for (let i = 0; i < 20; i++) await writeAsync(w, [reading(i)]);
  store.up = true;
  await until(() => store.rows.size === 20);
  await until(() => events.length === 2);
  assert.equal(events[0].type, 'spooling');
  assert.equal(events[1].type, 'recovered');
  await w.close();
});

test('a sink without dead letters hands the readings it refuses to another target (the primary store\'s writer)', async () => {
  const primary = new SwitchableStore();
  const pw = new DurableWriter(primary, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5 });
  pw.start();
  const other = new SwitchableStore();
  other.poison.add(reading(2).ts);
  // A write-only sink (as an InfluxDB one would be): no writeDeadLetters.
  const sink = { kind: 'test', open: () => other.open(), write: (r: Reading[]) => other.write(r), health: () => other.health(), close: () => other.close() };
  const w = new DurableWriter(sink, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, deadLetters: pw });
  w.start();
  await writeAsync(w, [reading(1), reading(2), reading(3)]);
  assert.equal(other.rows.size, 2);
  assert.equal(primary.letters.length, 1);
  assert.equal(primary.letters[0].source, 'store:test');
  await w.close();
  await pw.close();
});

test('a dead letter the store refuses for its text is kept without the payload', async () => {
  const store = new SwitchableStore();
  store.writeDeadLetters = async (l: DeadLetter[]) => {
    if (l.some((x) => x.payload.includes('\u0000'))) throw new StoreFailedError('cannot store NUL');
    store.letters.push(...l);
  };
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5 });
  w.start();
  const good: DeadLetter = { ts: 1, device: 'd', source: 'mqtt:x', code: 'DECODE_FAILED', reason: 'bad', payload: 'zz' };
  await new Promise<void>((res, rej) => w.writeDeadLetters([good, { ...good, device: 'nul', payload: 'a\u0000b' }], (e) => (e ? rej(e) : res())));
  assert.deepEqual(store.letters.map((l) => [l.device, l.payload]), [['d', 'zz'], ['nul', '']]);
  assert.match(store.letters[1].reason, /payload not kept: cannot store NUL/);
  await w.close();
});

test('wide readings make smaller writes: one write takes at most maxWriteRows field values', async () => {
  const store = new SwitchableStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 100, flushMs: 5, maxWriteRows: 1000 });
  w.start();
  const wide = (i: number): Reading => ({ device: 'w', ts: 1_700_000_000_000 + i, fields: Object.fromEntries(Array.from({ length: 300 }, (_, k) => [`f${k}`, k])), tags: {} });
  await writeAsync(w, Array.from({ length: 10 }, (_, i) => wide(i)));
  assert.deepEqual(store.sizes, [4, 4, 2]);
  await w.close();
});

test('real DuckDB with a small memory limit: a batch of large readings that runs out of memory is split until it fits, and a later reading is stored', async () => {
  const dir = tempDir('us-w-oom-');
  const db = new DuckDbStore({ path: join(dir, 'db.duckdb'), memoryLimitMb: 32 });
  await db.open();
  const failures: string[] = [];
  let writes = 0;
  const sink = {
    kind: 'duckdb',
    open: () => db.open(),
    health: () => db.health(),
    close: () => db.close(),
    writeDeadLetters: (l: DeadLetter[]) => db.writeDeadLetters(l),
    async write(r: Reading[]) {
      writes++;
      try {
        await db.write(r);
      } catch (err) {
        failures.push(`${(err as Error).name}: ${(err as Error).message.split('\n')[0]}`);
        throw err;
      }
    },
  };
  const w = new DurableWriter(sink, new Journal({ dir: join(dir, 'spool') }), { batchSize: 1000, flushMs: 5, maxWriteRows: Number.MAX_SAFE_INTEGER });
  w.start();
  // 12 texts of 3 MB do not fit in 32 MB at once; a few of them do.
  const wide = (i: number): Reading => ({ device: 'wide', ts: 1_767_225_600_000 + i, fields: { n: i, text: `${i} ${'x'.repeat(3_000_000)}` }, tags: {} });
  await writeAsync(w, Array.from({ length: 12 }, (_, i) => wide(i)));
  // DuckDB says it as it runs the insert, or as it commits it (a lone INSERT commits on its own).
  assert.match(failures[0] ?? '', /^StoreFailedError: DuckDB write failed: (Out of Memory Error|TransactionContext Error: Failed to commit: failed to pin block)/, 'out of memory for one batch is refused data, not an outage');
  assert.ok(writes >= 3, `the batch was split (${writes} writes)`);
  assert.equal(w.stats().spooled, 0, 'nothing was spooled');
  const stored = (await db.readings({ device: 'wide', limit: 100, fields: ['n'] })).readings.length;
  const letters = (await db.deadLetters({ device: 'wide', limit: 100 })).filter((l) => l.code === 'STORE_REJECTED').length;
  assert.equal(stored + letters, 12, `every reading is stored (${stored}) or dead-lettered (${letters})`);
  await writeAsync(w, [{ device: 'normal', ts: 1_767_225_600_000, fields: { v: 1 }, tags: {} }]);
  assert.deepEqual((await db.readings({ device: 'normal', limit: 1 })).readings[0].fields, { v: 1 });
  await w.close();
  await db.close();
});

test('at its disk budget the spool takes no more: new writes are held, not reported durable, and none is dropped', async () => {
  const store = new SwitchableStore();
  store.up = false;
  const events: WriterEvent[] = [];
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { flushMs: 5, retryMs: 20, maxRetryMs: 40, spoolBudgetBytes: 2000, onEvent: (e) => events.push(e) });
  w.start();
  const reported: number[] = [];
  // Each write spools one record of about 100 bytes until the budget is reached.
  let i = 0;
  while (!w.stats().overBudget && i < 100) {
    const n = i++;
    w.write([reading(n)], (e) => (e ? assert.fail(e) : reported.push(n)));
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(w.stats().overBudget, 'the budget was reached');
  assert.ok(w.stats().spoolBytes >= 2000 && w.stats().spoolBytes < 2300, `spool ${w.stats().spoolBytes} bytes`);
  assert.equal(w.stats().spoolBudget, 2000);
  const spooledAtBudget = w.stats().spooled;
  for (let k = 0; k < 20; k++) w.write([reading(1000 + k)], (e) => (e ? assert.fail(e) : reported.push(1000 + k)));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(w.stats().spooled, spooledAtBudget, 'nothing more went to the spool');
  assert.equal(reported.filter((n) => n >= 1000).length, 0, 'held writes are not reported durable');
  assert.ok(w.stats().queued >= 20, 'they wait in memory');
  assert.deepEqual(events.filter((e) => e.type === 'budget').map((e) => e.type === 'budget' && e.full), [true]);

  store.up = true;
  await until(() => reported.length === i + 20);
  assert.equal(store.rows.size, i + 20, 'every reading, held ones included, is stored');
  assert.equal(w.stats().overBudget, false);
  assert.deepEqual(events.filter((e) => e.type === 'budget').map((e) => e.type === 'budget' && e.full), [true, false]);
  await w.close();
});
