/**
 * The anomaly engine behind a worker thread: the same results as the engine
 * on this thread for any readings (batches cross as typed arrays and come
 * back rebuilt), a bounded queue, and a clear failure when no worker starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InProcessEngineHost, WorkerEngineHost } from '../../nodes/lib/anomaly/remote/host';
import { columns, decodeFlagged, decodeResults, encodeReadings, flaggedOf, judgeBatch } from '../../nodes/lib/anomaly/remote/protocol';
import { BackpressureError, StateSaveError } from '../../nodes/lib/errors';
import { tempDir } from '../helpers/temp';
import type { Reading } from '../../nodes/lib/reading';
import type { Worker } from 'node:worker_threads';
import { eventually } from '../helpers/intake';

const T0 = Date.UTC(2026, 0, 1);
const noHeartbeats = { onHeartbeats: () => undefined };

test('results through the worker equal the engine run on this thread, for any readings (property)', async () => {
  const fc = (await import('fast-check')).default;
  const value = fc.oneof(
    { arbitrary: fc.double({ min: -1e3, max: 1e3, noNaN: true }), weight: 8 },
    { arbitrary: fc.constantFrom(NaN, Infinity, 'on', true, null), weight: 1 },
  );
  const message = fc.array(
    fc.record({
      device: fc.constantFrom('a', 'b', 'c'),
      dt: fc.integer({ min: 0, max: 120_000 }),
      fields: fc.dictionary(fc.constantFrom('t', 'h', 'p', '1'), value, { minKeys: 1 }),
    }),
    { minLength: 1, maxLength: 5 },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 20, maxLength: 120, size: 'max' }), fc.integer({ min: 3, max: 8 }), async (messages, maxSeries) => {
      const options = { detector: { type: 'ensemble' as const, members: [{ type: 'zscore' as const, warmup: 5 }, { type: 'flatline' as const, warmup: 5 }, { type: 'novelty' as const, warmup: 10 }] }, maxSeries, heartbeat: false as const };
      const local = new AnomalyEngine({ ...options, clock: () => 0 });
      const host = new WorkerEngineHost({ engine: options, heartbeatEveryMs: null, events: noHeartbeats });
      await host.start();
      try {
        let ts = T0;
        const batches: Reading[][] = messages.map((m) => m.map((r) => ({ device: r.device, ts: (ts += r.dt), fields: r.fields as Reading['fields'], tags: {} })));
        // Handed over all at once, as a burst of messages would be: several share one postMessage.
        const remote = await Promise.all(batches.map((b) => host.process(b)));
        for (let i = 0; i < batches.length; i++) assert.deepEqual(remote[i], local.process(batches[i]), `message ${i}`);
        assert.deepEqual(host.stats(), local.stats());
      } finally {
        await host.close();
      }
    }),
    { numRuns: 8 },
  );
});

test('encoding keeps what the engine judges: finite numbers, in field order, each name once', () => {
  const readings: Reading[] = [
    { device: 'd', ts: T0, fields: { b: 1, a: 'x', c: NaN, d: 2.5, '7': 3 }, tags: { site: 'x' } },
    { device: 'e', ts: T0 + 1, fields: {}, tags: {} },
    { device: 'd', ts: T0 + 2, fields: { d: 4, b: Infinity }, tags: {} },
  ];
  const batch = encodeReadings(readings);
  assert.equal(batch.cols.length, 3 * 3 + 2 * 4, 'one array: three numbers per reading, two per value');
  const b = columns(batch);
  assert.deepEqual(b.deviceTable, ['d', 'e']);
  assert.deepEqual(Array.from(b.device), [0, 1, 0]);
  assert.deepEqual(Array.from(b.ts), [T0, T0 + 1, T0 + 2]);
  assert.deepEqual(Array.from(b.nf), [3, 0, 1]);
  assert.deepEqual(b.nameTable, ['7', 'b', 'd']);
  assert.deepEqual(Array.from(b.name).map((k) => b.nameTable[k]), ['7', 'b', 'd', 'd']);
  assert.deepEqual(Array.from(b.values), [3, 1, 2.5, 4]);
});

test('a batch judged column by column gives the results of process(): verdicts, nulls, unwatched fields, evictions and comebacks', () => {
  let now = 0;
  const options = { detector: { type: 'limits' as const, max: 2, warmup: 1 }, fields: ['a', 'b', 'z'], heartbeat: { interval: 1000, missed: 1 }, maxSeries: 3, clock: () => now };
  const readings: Reading[] = [
    { device: 'd', ts: T0, fields: { a: 1, b: 5, c: 7, s: 'x' }, tags: {} },
    { device: 'd', ts: T0 + 1, fields: { a: 3, b: 1, c: 7 }, tags: {} },
    { device: 'e', ts: T0 + 2, fields: {}, tags: {} },
    { device: 'f', ts: T0 + 3, fields: { z: 9, a: 0 }, tags: {} },
  ];
  const later: Reading[] = [{ device: 'd', ts: T0 + 10_000, fields: { a: 2.5 }, tags: {} }];
  const local = new AnomalyEngine(options);
  const columns = new AnomalyEngine(options);
  const judge = (rs: Reading[]) => {
    const b = encodeReadings(rs);
    return decodeResults(rs, b, judgeBatch(columns, b));
  };
  assert.deepEqual(judge(readings), local.process(readings));
  now = 5000;
  assert.deepEqual(columns.checkHeartbeats(), local.checkHeartbeats());
  const expected = local.process(later);
  assert.ok(expected[0].heartbeat, 'd comes back online');
  assert.ok(expected[0].evicted.length > 0, 'a series is evicted to make room');
  assert.deepEqual(judge(later), expected);
  assert.deepEqual(columns.toJSON(), local.toJSON());
});

test('judged for the anomalies only, a flagged reading keeps its own reason when the next reading of the batch is of the same series', () => {
  // One device sending fast, or a backlog: many readings of one series in a batch, a spike among them.
  const rs: Reading[] = Array.from({ length: 400 }, (_, i) => ({ device: 'd', ts: T0 + i * 60_000, fields: { t: i === 300 ? 90 : 20 + (i % 7) / 10 }, tags: {} }));
  const local = new AnomalyEngine({ heartbeat: false });
  const columns = new AnomalyEngine({ heartbeat: false });
  const want = flaggedOf(local.process(rs));
  assert.ok(want.index.includes(300), `flagged ${want.index}`);
  assert.match(want.results[want.index.indexOf(300)].anomaly.t!.reason, /^t 90\.0 is /);
  const b = encodeReadings(rs);
  const got = decodeFlagged(rs, b, judgeBatch(columns, b, true));
  assert.deepEqual(got.index, want.index);
  assert.deepEqual(got.results, want.results);
});

test('past maxQueued readings waiting, a message is refused with a BackpressureError; the others are judged', async () => {
  const host = new WorkerEngineHost({ engine: { heartbeat: false }, heartbeatEveryMs: null, events: noHeartbeats, maxQueued: 100 });
  await host.start();
  try {
    const msg = (k: number) => Array.from({ length: 40 }, (_, i) => ({ device: 'd', ts: T0 + (k * 40 + i) * 1000, fields: { v: i % 5 }, tags: {} }));
    const settled = await Promise.allSettled([0, 1, 2, 3].map((k) => host.process(msg(k))));
    assert.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'fulfilled', 'rejected', 'rejected'],
    );
    const err = (settled[2] as PromiseRejectedResult).reason as BackpressureError;
    assert.ok(err instanceof BackpressureError);
    assert.equal(err.code, 'BACKPRESSURE');
    assert.match(err.message, /80 readings behind/);
    assert.equal(host.queued, 0, 'the queue empties once judged');
    assert.equal((await host.process(msg(4))).length, 40, 'accepted again once the backlog is gone');
  } finally {
    await host.close();
  }
});

test('a save that cannot be written fails with a StateSaveError naming the file, on either thread, and the engine goes on', async () => {
  const dir = tempDir('anomaly-save-');
  // A file where the state's folder should be: no folder can be made there.
  writeFileSync(join(dir, 'anomaly'), 'not a folder');
  const stateFile = join(dir, 'anomaly', 'node-1.jsonl');
  const options = { engine: { heartbeat: false as const }, heartbeatEveryMs: null, events: noHeartbeats, stateFile };
  for (const host of [new WorkerEngineHost(options), new InProcessEngineHost(options)]) {
    await host.start();
    try {
      await host.process([{ device: 'd', ts: T0, fields: { v: 1 }, tags: {} }]);
      const err = await host.save().then(
        () => assert.fail('the save should have failed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StateSaveError, `${host.constructor.name}: ${String(err)}`);
      assert.equal(err.code, 'STATE_SAVE_FAILED');
      assert.equal(err.details.file, stateFile);
      assert.match(err.message, /cannot write .*node-1\.jsonl: .*(ENOTDIR|EEXIST)/);
      assert.equal((await host.process([{ device: 'd', ts: T0 + 1000, fields: { v: 2 }, tags: {} }])).length, 1, 'still judging');
    } finally {
      await host.close(false);
    }
  }
});

test('a worker that cannot start is reported, so the caller can judge on its own thread', async () => {
  const host = new WorkerEngineHost({ engine: { heartbeat: false }, heartbeatEveryMs: null, events: noHeartbeats }, '/nonexistent/anomaly-worker.js');
  await assert.rejects(host.start());
});

test('devices are exported, imported and forgotten through the worker as by the engine itself, after the readings handed over before', async () => {
  const options = { heartbeat: false as const, detector: { type: 'zscore' as const, warmup: 5 } };
  const local = new AnomalyEngine({ ...options, clock: () => 0 });
  const host = new WorkerEngineHost({ engine: options, heartbeatEveryMs: null, events: noHeartbeats });
  const other = new WorkerEngineHost({ engine: options, heartbeatEveryMs: null, events: noHeartbeats });
  await Promise.all([host.start(), other.start()]);
  try {
    const readings: Reading[] = [];
    for (let i = 0; i < 40; i++) for (const d of ['p1-a', 'p1-b', 'p2-c']) readings.push({ device: d, ts: T0 + i * 1000, fields: { v: (i * 7) % 11 }, tags: {} });
    local.process(readings);
    // Not awaited: the export must still see these readings.
    const judged = host.process(readings);
    const inP1 = (d: string) => d.startsWith('p1-');
    const exported = await host.exportDevices(inP1);
    await judged;
    // Arrival times differ (the worker's clock is real); everything else is the same.
    const arrivalLess = (st: typeof exported) => ({ ...st, devices: st.devices.map((d) => ({ ...d, lastSeen: 0 })) });
    assert.deepEqual(arrivalLess(exported), arrivalLess(local.exportDevices(inP1)));
    assert.deepEqual(exported.devices.map((d) => d.device).sort(), ['p1-a', 'p1-b']);
    await other.importDevices(exported);
    const next = { device: 'p1-a', ts: T0 + 40_000, fields: { v: 30 }, tags: {} };
    assert.deepEqual(await other.process([next]), local.process([next]), 'the importing engine judges as the one that learned');
    assert.equal(await host.forgetDevices(inP1), 2);
    assert.equal(host.stats().devices, 1);
  } finally {
    await Promise.all([host.close(), other.close()]);
  }
});

test('condition: down while a killed worker restarts, crash-looping after two crashes in a row until it judges or stays up 30 s', async () => {
  const seen: Array<ReturnType<WorkerEngineHost['condition']>> = [];
  let restartedAt = 0;
  const host: WorkerEngineHost = new WorkerEngineHost({
    engine: { heartbeat: false },
    heartbeatEveryMs: null,
    events: { ...noHeartbeats, onCrash: () => seen.push(host.condition()), onRestart: () => (restartedAt = Date.now()) },
  });
  await host.start();
  try {
    assert.equal(host.condition().state, 'running');
    const worker = () => (host as unknown as { worker: Worker }).worker;
    await worker().terminate();
    await eventually(() => host.restarts === 1 && restartedAt > 0, 'the first restart');
    assert.equal(seen[0].state, 'down');
    assert.match(seen[0].lastError ?? '', /the anomaly worker exited with code 1/);
    // One crash, back up: running, not looping.
    assert.equal(host.condition().state, 'running');
    restartedAt = 0;
    await worker().terminate();
    await eventually(() => host.restarts === 2 && restartedAt > 0, 'the second restart');
    assert.deepEqual({ ...host.condition(restartedAt), since: undefined }, { state: 'looping', restarts: 2, crashesInARow: 2, lastError: 'the anomaly worker exited with code 1', since: undefined });
    assert.equal(host.condition(restartedAt + 30_000).state, 'running', 'up for the longest backoff: no longer looping');
    await host.process([{ device: 'd', ts: T0, fields: { t: 1 }, tags: {} }]);
    assert.deepEqual(host.condition(restartedAt), { state: 'running', restarts: 2, crashesInARow: 0 });
  } finally {
    await host.close();
  }
});
