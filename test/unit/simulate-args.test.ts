/** `upperstack simulate` refusing a bad --speed as a user types it: one clear line, exit 2 (bad usage). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulateCli } from '../helpers/simulate-cli';

for (const args of [['--speed', '-1'], ['--speed=-1'], ['--speed', '0'], ['--speed', '-0.5']]) {
  test(`simulate ${args.join(' ')}: "--speed must be a positive number", exit 2`, async () => {
    const r = await simulateCli([...args, '--duration', '1s', '--devices', '1', '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^upperstack simulate: --speed must be a positive number \(simulated seconds per real second, at most 1000000\), got "-?0?\.?\d+"\n$/);
    assert.doesNotMatch(r.stderr, /ambiguous/);
  });
}

test('a negative number stays the value of the option before it: --start -24h, --anomalies -1', async () => {
  const r = await simulateCli(['--anomalies', '-1', '--start', '-24h', '--duration', '1s', '--devices', '1', '--quiet']);
  assert.equal(r.code, 2);
  assert.doesNotMatch(r.stderr, /ambiguous/);
  assert.match(r.stderr, /anomalies/);
});
