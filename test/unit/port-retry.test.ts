/**
 * The waits between tries of a port in use: 1 s, doubling, never more than 30 s; a stop cancels the next try.
 * Node's mock timers stand in for the clock, so the waits are counted, not slept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPortInUse, PortRetry } from '../../nodes/lib/port-retry';

test('tries again after 1, 2, 4, 8, 16 s, then every 30 s', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const retry = new PortRetry();
  const waits: number[] = [];
  let since = 0;
  let tries = 0;
  const again = () => {
    tries++;
    waits.push(since);
    since = 0;
    if (tries < 7) retry.after(again);
  };
  retry.after(again);
  while (tries < 7) {
    since += 1000;
    t.mock.timers.tick(1000);
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  assert.equal(retry.refusals, 7);
});

test('a stop before the wait is over: the try never comes, and no later one is scheduled', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const retry = new PortRetry();
  let tries = 0;
  retry.after(() => tries++);
  t.mock.timers.tick(500);
  retry.stop();
  retry.after(() => tries++);
  t.mock.timers.tick(120_000);
  assert.equal(tries, 0);
});

test('only a port in use is tried again', () => {
  assert.equal(isPortInUse(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })), true);
  assert.equal(isPortInUse(Object.assign(new Error('listen EACCES'), { code: 'EACCES' })), false);
  assert.equal(isPortInUse(Object.assign(new Error('listen EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' })), false);
  assert.equal(isPortInUse(undefined), false);
});
