/**
 * The runtime collects garbage once after its flows have started
 * (scripts/settle-memory.ts), so an idle runtime gives back what its start
 * grew; `gc` must not be left to function nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { settlingCollector, settleAfterStart } from '../../scripts/settle-memory';

test('the collector is V8\'s, and contexts made afterwards have no gc', () => {
  const collect = settlingCollector();
  assert.equal(typeof collect, 'function');
  collect();
  assert.equal(runInNewContext('typeof gc'), 'undefined');
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});

interface Collected {
  kinds: number[];
  freed: number;
  givenBack: number;
}

/** Runs `collect` once ~17 MB that survived into the old generation has been dropped; what perf_hooks saw. */
async function collectGarbage(collect: () => void): Promise<Collected> {
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
  await sleep(20);
  const before = process.memoryUsage();
  seen.length = 0;
  collect();
  const after = process.memoryUsage();
  await sleep(50);
  observer.disconnect();
  const kinds = seen.map((e) => (e as PerformanceEntry & { detail: { kind: number } }).detail.kind);
  return { kinds, freed: before.heapUsed - after.heapUsed, givenBack: before.heapTotal - after.heapTotal };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const { NODE_PERFORMANCE_GC_MAJOR: MAJOR, NODE_PERFORMANCE_GC_MINOR: MINOR } = constants;

test('for V8 11 (Node 20), a young-generation collection only', async () => {
  const { kinds } = await collectGarbage(settlingCollector(11));
  assert.deepEqual([...new Set(kinds)], [MINOR], `collections of kinds ${kinds.join(',')}`);
});

test('on the V8 running here, the collection measured for it', async () => {
  const v8Major = Number(process.versions.v8.split('.')[0]);
  const { kinds, freed, givenBack } = await collectGarbage(settlingCollector());
  if (v8Major < 12) {
    assert.deepEqual([...new Set(kinds)], [MINOR], `collections of kinds ${kinds.join(',')}`);
  } else {
    assert.ok(kinds.includes(MAJOR), `collections of kinds ${kinds.join(',')}`);
    assert.ok(freed > 10e6, `freed ${mb(freed)}`);
    assert.ok(givenBack > 5e6, `heap given back: ${mb(givenBack)}`);
  }
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
