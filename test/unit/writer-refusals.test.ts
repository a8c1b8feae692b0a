/** The durable writer and readings a store refuses: isolated by halving and dead-lettered, handed to another target, kept without payload, split until DuckDB's memory takes them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DurableWriter, type WriterEvent } from '../../nodes/lib/store/writer';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Journal } from '../../nodes/lib/journal/journal';
import { StoreFailedError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { DeadLetter } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';
import { reading, SwitchableStore, until, writeAsync } from '../helpers/switchable-store';

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
