/** RepeatedWarnings: the same warning is logged once per quiet period with a count of those held back; another, or after a reset, at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RepeatedWarnings } from '../../nodes/lib/log/repeats';

test('the same warning is held back until the quiet period is over, then logged with how many were held', () => {
  const gate = new RepeatedWarnings(60_000);
  assert.deepEqual(gate.pass('refused', 0), { text: 'refused', held: 0 });
  for (let t = 1000; t < 60_000; t += 1000) assert.equal(gate.pass('refused', t), undefined, `at ${t}`);
  assert.deepEqual(gate.pass('refused', 60_000), { text: 'refused', held: 59 });
  assert.equal(gate.pass('refused', 61_000), undefined);
});

test('another warning is logged at once, and so is the first again after it', () => {
  const gate = new RepeatedWarnings(60_000);
  assert.deepEqual(gate.pass('refused', 0), { text: 'refused', held: 0 });
  assert.equal(gate.pass('refused', 1), undefined);
  assert.deepEqual(gate.pass('timed out', 2), { text: 'timed out', held: 0 });
  assert.deepEqual(gate.pass('refused', 3), { text: 'refused', held: 0 });
});

test('after a reset (connected again) the next failure is logged at once; reset says whether anything had been logged', () => {
  const gate = new RepeatedWarnings(60_000);
  assert.equal(gate.reset(), false);
  gate.pass('refused', 0);
  assert.equal(gate.reset(), true);
  assert.deepEqual(gate.pass('refused', 1), { text: 'refused', held: 0 });
});
