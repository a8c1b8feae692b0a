/** `upperstack simulate` refusing bad options as a user types them: one clear line, exit 2 (bad usage). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulateCli } from '../helpers/simulate-cli';
import { MAX_MESSAGE_BYTES_RANGE } from '../../nodes/lib/sim';
import { simulatorOptions } from '../../nodes/simulate/config';
import { SIMULATE_DEFAULTS, type SimulateOptions } from '../../nodes/simulate/options';

/** The simulate node's defaults, sending over MQTT. */
const NODE: SimulateOptions = { ...SIMULATE_DEFAULTS, name: '', configVersion: 3 };

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

test('a prefix or topic that cannot form a device topic is refused before connecting: one clear line, exit 2', async () => {
  // The URL has nothing listening: a refusal up front never gets that far.
  const common = ['--duration', '1s', '--devices', '1', '--quiet', '--url', 'mqtt://127.0.0.1:9'];
  const plus = await simulateCli([...common, '--prefix', 'x+']);
  assert.equal(plus.code, 2);
  assert.equal(plus.stderr, 'upperstack simulate: --prefix "x+" cannot start a device id: ids hold only letters, digits, ".", "_", "-", ":" or "@" (1 to 128), or every input refuses them\n');
  for (const prefix of ['a#', 'site/', 'lab 2-']) {
    const r = await simulateCli([...common, '--prefix', prefix]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^upperstack simulate: --prefix ".+" cannot start a device id: ids hold only/);
  }
  const topic = await simulateCli([...common, '--topic', 'devices/+/{device}']);
  assert.equal(topic.code, 2);
  assert.match(topic.stderr, /^upperstack simulate: --topic "devices\/\+\/\{device\}" holds "\+": a device cannot publish to a topic with a wildcard/);
  // Over HTTP and CoAP the inputs hold path ids to the same rule: refused up front too, before any request.
  const http = await simulateCli(['--duration', '1s', '--devices', '1', '--quiet', '--protocol', 'http', '--url', 'http://127.0.0.1:9', '--prefix', 'x+', '--drain', '0s']);
  assert.equal(http.code, 2, http.stderr);
  assert.match(http.stderr, /^upperstack simulate: --prefix "x\+" cannot start a device id/);
  // A topic without {device} still needs ids the inputs take: the prefix is checked whatever the topic.
  const fixed = await simulateCli([...common, '--prefix', 'x y', '--topic', 'fixed/topic']);
  assert.equal(fixed.code, 2, fixed.stderr);
});

test('--max-bytes takes the simulate node\'s range: just below or above it, or with HTTP or CoAP, is refused in one line, exit 2', async () => {
  const { min, max } = MAX_MESSAGE_BYTES_RANGE;
  const common = ['--duration', '1s', '--devices', '1', '--quiet', '--drain', '1ms', '--url', 'mqtt://127.0.0.1:9'];
  for (const v of ['0', String(min - 1), '1.5', String(max + 1)]) {
    const r = await simulateCli([...common, '--max-bytes', v]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `upperstack simulate: --max-bytes must be a whole number of bytes from ${min} to ${max}, got "${v}"\n`);
    // The node refuses the same values with the same range.
    assert.throws(() => simulatorOptions({ ...NODE, maxBytes: Number(v) }), { message: `maxBytes must be a whole number of bytes from ${min} to ${max}, got ${v}` });
  }
  const word = await simulateCli([...common, '--max-bytes', 'lots']);
  assert.equal(word.code, 2, word.stderr);
  assert.equal(word.stderr, 'upperstack simulate: --max-bytes must be a number, got "lots"\n');
  // Both ends are taken: the run goes on to connect (nothing listens there, exit 1).
  for (const v of [min, max]) {
    const r = await simulateCli([...common, '--max-bytes', String(v)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^upperstack simulate: cannot connect to mqtt:\/\/127\.0\.0\.1:9/m);
    assert.equal(simulatorOptions({ ...NODE, maxBytes: v }).codec, 'json');
  }
  const http = await simulateCli([...common.slice(0, -2), '--protocol', 'http', '--url', 'http://127.0.0.1:9', '--max-bytes', '65536']);
  assert.equal(http.code, 2, http.stderr);
  assert.match(http.stderr, /^upperstack simulate: --max-bytes is for MQTT/);
});

test('an MQTT --url that is not an MQTT URL (an http:// one) is refused before connecting, naming the schemes', async () => {
  const r = await simulateCli(['--duration', '1s', '--devices', '1', '--quiet', '--url', 'http://127.0.0.1:9']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'upperstack simulate: --url: an MQTT URL starts with mqtt://, mqtts://, ws:// or wss://, got http://127.0.0.1:9\n');
});
