/**
 * The runtime collects garbage once after its flows have started
 * (scripts/settle-memory.ts), so an idle runtime gives back the young
 * generation its start grew; `gc` must not be left to function nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { runInNewContext } from 'node:vm';
import { fullCollector, settleAfterStart } from '../../scripts/settle-memory';

test('the collector is V8\'s, and contexts made afterwards have no gc', () => {
  const collect = fullCollector();
  assert.equal(typeof collect, 'function');
  collect();
  assert.equal(runInNewContext('typeof gc'), 'undefined');
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
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
