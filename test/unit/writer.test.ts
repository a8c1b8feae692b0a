/** The durable writer: batching, the spool through an outage and across a restart, outage reports, the spool's disk budget. Refused readings: writer-refusals.test.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DurableWriter, type WriterEvent } from '../../nodes/lib/store/writer';
import { Journal } from '../../nodes/lib/journal/journal';
import type { Reading } from '../../nodes/lib/reading';
import type { DeadLetter } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';
import { reading, stalledWriter, SwitchableStore, until, writeAsync } from '../helpers/switchable-store';

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

test('after a backlog write, the readings below minWrite (left from it or coming after it) are written once nothing new has come for quietMs; a steady trickle still waits for flushMs', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 });
  const store = new SwitchableStore();
  const write = store.write.bind(store);
  // Each write is held until the test lets it finish, so readings queue while it runs.
  let release: (() => void) | undefined;
  store.write = async (r: Reading[]) => {
    await new Promise<void>((res) => (release = res));
    return write(r);
  };
  // minWrite 25, flushMs 60 s, a quiet window of 6 s.
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-w-') }), { batchSize: 100, flushMs: 60_000, quietMs: 6_000 });
  const settled = async () => {
    for (let i = 0; i < 50; i++) await new Promise<void>((r) => queueMicrotask(r));
  };
  const letGo = async () => {
    await settled();
    const r = release;
    release = undefined;
    r?.();
    await settled();
  };
  let next = 0;
  const readings = (n: number) => Array.from({ length: n }, () => reading(next++));
  try {
    w.start();
    // The end of a burst: 30 readings are written, 5 come in meanwhile and nothing after them.
    w.write(readings(30), () => undefined);
    w.write(readings(5), () => undefined);
    await letGo();
    assert.deepEqual(store.sizes, [30]);
    t.mock.timers.tick(5_999);
    await letGo();
    assert.deepEqual(store.sizes, [30], 'not before the quiet window is over');
    t.mock.timers.tick(1);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5], 'the last 5 are written 6 s after, not 60 s');

    // A live burst's end: after the backlog write, its last readings keep coming less than
    // quietMs apart for a while, then stop. They are written quietMs after the last one.
    t.mock.timers.tick(120_000);
    w.write(readings(30), () => undefined);
    w.write(readings(5), () => undefined);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30]);
    for (let i = 0; i < 4; i++) {
      t.mock.timers.tick(4_000);
      w.write(readings(2), () => undefined);
      await letGo();
    }
    assert.deepEqual(store.sizes, [30, 5, 30], 'readings still coming: no write yet');
    t.mock.timers.tick(5_999);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30]);
    t.mock.timers.tick(1);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30, 13], 'written 6 s after the last reading (22 s after the backlog write), not 60 s after');

    // The same when the backlog write took everything queued and the last readings come after it.
    t.mock.timers.tick(120_000);
    w.write(readings(30), () => undefined);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30, 13, 30]);
    for (let i = 0; i < 3; i++) {
      t.mock.timers.tick(4_000);
      w.write(readings(3), () => undefined);
      await letGo();
    }
    t.mock.timers.tick(5_999);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30, 13, 30]);
    t.mock.timers.tick(1);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30, 13, 30, 9], 'written 6 s after the last reading, not 60 s after the backlog write');

    // A steady trickle after a backlog write: one write at flushMs after the backlog write
    // started, then one per flushMs, not one per quiet check.
    t.mock.timers.tick(120_000);
    w.write(readings(30), () => undefined);
    await letGo();
    assert.deepEqual(store.sizes, [30, 5, 30, 13, 30, 9, 30]);
    for (let i = 0; i < 29; i++) {
      t.mock.timers.tick(4_000);
      w.write(readings(1), () => undefined);
      await letGo();
    }
    assert.deepEqual(store.sizes, [30, 5, 30, 13, 30, 9, 30, 14], 'one write 60 s after the backlog write started');
    for (let i = 0; i < 15; i++) {
      t.mock.timers.tick(4_000);
      w.write(readings(1), () => undefined);
      await letGo();
    }
    assert.deepEqual(store.sizes, [30, 5, 30, 13, 30, 9, 30, 14, 15], 'and the next 60 s after that one');
    t.mock.timers.tick(60_000);
    await letGo();
    assert.equal(store.rows.size, next, 'every reading written once');
  } finally {
    t.mock.timers.reset();
    // What a failed assertion left queued is written without holding, so close() ends.
    store.write = write;
    release?.();
    await w.close();
  }
});

test('while the store is down, writes are spooled, reported durable, and land once it is back', async () => {
  const { store, w } = stalledWriter({ flushMs: 5, retryMs: 20, maxRetryMs: 40 });
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
  const { w: w1 } = stalledWriter({ flushMs: 5, retryMs: 60_000 }, new Journal({ dir }));
  await writeAsync(w1, [reading(1), reading(2), reading(3)]);
  await w1.close();

  const store = new SwitchableStore();
  const w2 = new DurableWriter(store, new Journal({ dir }), { flushMs: 5, retryMs: 10 });
  w2.start();
  await until(() => store.rows.size === 3);
  await w2.close();
});

test('dead letters are batched and spooled like readings', async () => {
  const { store, w } = stalledWriter({ flushMs: 5, retryMs: 20 });
  const letter: DeadLetter = { ts: 1, device: 'd', source: 'mqtt:x', code: 'DECODE_FAILED', reason: 'bad', payload: 'zz' };
  await new Promise<void>((res, rej) => w.writeDeadLetters([letter], (e) => (e ? rej(e) : res())));
  store.up = true;
  await until(() => store.letters.length === 1);
  assert.equal(store.letters[0].reason, 'bad');
  await w.close();
});

test('the outage is reported once when it starts and once when it ends, however many writes spool meanwhile', async () => {
  const events: WriterEvent[] = [];
  const { store, w } = stalledWriter({ flushMs: 5, retryMs: 20, maxRetryMs: 40, onEvent: (e) => events.push(e) });
  for (let i = 0; i < 20; i++) await writeAsync(w, [reading(i)]);
  store.up = true;
  await until(() => store.rows.size === 20);
  await until(() => events.length === 2);
  assert.equal(events[0].type, 'spooling');
  assert.equal(events[1].type, 'recovered');
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

test('a drained spool takes no disk: its bytes are 0 once everything it held is written, not the outage\'s records until its segment fills', async () => {
  const { store, w } = stalledWriter({ flushMs: 5, retryMs: 20, maxRetryMs: 40 });
  const done = Array.from({ length: 20 }, (_, i) => writeAsync(w, [reading(i)]));
  await until(() => w.stats().spooled === 20);
  assert.ok(w.stats().spoolBytes > 0);
  store.up = true;
  await Promise.all(done);
  await until(() => w.stats().spooled === 0);
  // The cut-off may wait for a background checkpoint on its way (Journal.dropIfSettled()).
  await until(() => w.stats().spoolBytes === 0);
  assert.equal(store.rows.size, 20);
  // Writes go straight to the store again and leave the spool as it is.
  await writeAsync(w, [reading(100)]);
  assert.equal(w.stats().spoolBytes, 0);
  await w.close();
});

test('a spool an earlier run drained but left on disk is dropped when the writer starts', async () => {
  const dir = tempDir('us-w-');
  const before = new Journal({ dir });
  before.open();
  before.settle(before.append(Buffer.from(JSON.stringify({ r: [reading(1)], t: 1 }))));
  before.close();
  const w = new DurableWriter(new SwitchableStore(), new Journal({ dir }), { flushMs: 5 });
  w.start();
  assert.equal(w.stats().spooled, 0);
  assert.equal(w.stats().spoolBytes, 0);
  await w.close();
});

test('at its disk budget the spool takes no more: new writes are held, not reported durable, and none is dropped', async () => {
  const events: WriterEvent[] = [];
  const { store, w } = stalledWriter({ flushMs: 5, retryMs: 20, maxRetryMs: 40, spoolBudgetBytes: 2000, onEvent: (e) => events.push(e) });
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
