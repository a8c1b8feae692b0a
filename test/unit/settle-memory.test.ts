/**
 * The runtime collects garbage once after its flows have started
 * (scripts/settle-memory.ts), so an idle runtime gives back the young
 * generation its start grew; `gc` must not be left to function nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fullCollector, settleAfterStart } from '../../scripts/settle-memory';

test('the collector is V8\'s, and contexts made afterwards have no gc', () => {
  const collect = fullCollector();
  assert.equal(typeof collect, 'function');
  collect();
  assert.equal(runInNewContext('typeof gc'), 'undefined');
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});

test('the collection is a full one: it frees what survived into the old generation', async () => {
  const collect = fullCollector();
  const seen: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const holder: { kept?: { i: number; s: string }[] } = { kept: [] };
  for (let i = 0; i < 300_000; i++) holder.kept?.push({ i, s: `reading ${i}` });
  // A few young-generation collections move what is still referenced into the old generation.
  for (let i = 0; i < 5; i++) {
    const churn: number[][] = [];
    for (let j = 0; j < 20_000; j++) churn.push([j, j]);
    await sleep(10);
  }
  assert.equal(holder.kept?.length, 300_000);
  delete holder.kept;
  const before = process.memoryUsage();
  seen.length = 0;
  collect();
  const after = process.memoryUsage();
  await sleep(50);
  observer.disconnect();
  const kinds = seen.map((e) => (e as PerformanceEntry & { detail: { kind: number } }).detail.kind);
  assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), `collections of kinds ${kinds.join(',')}`);
  const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
  assert.ok(before.heapUsed - after.heapUsed > 10e6, `freed ${mb(before.heapUsed - after.heapUsed)} MB`);
  assert.ok(before.heapTotal - after.heapTotal > 5e6, `heap given back: ${mb(before.heapTotal - after.heapTotal)} MB`);
});

test('one collection a while after flows:started; a redeploy in between postpones it', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const events = new EventEmitter();
  let collections = 0;
  const stop = settleAfterStart(events, () => collections++, 10_000);
  t.mock.timers.tick(60_000);
  assert.equal(collections, 0, 'nothing before the flows start');
  events.emit('flows:started', {});
  t.mock.timers.tick(9_000);
  events.emit('flows:started', {});
  t.mock.timers.tick(9_000);
  assert.equal(collections, 0, 'postponed by the redeploy');
  t.mock.timers.tick(1_000);
  assert.equal(collections, 1);
  t.mock.timers.tick(60_000);
  assert.equal(collections, 1, 'once per start');
  events.emit('flows:started', {});
  stop();
  t.mock.timers.tick(60_000);
  assert.equal(collections, 1, 'nothing after stop');
  assert.equal(events.listenerCount('flows:started'), 0);
});
