/**
 * `upperstack simulate --register`: the simulated devices are added to the
 * runtime's device registry and log in with their own secrets, on a runtime
 * that turns away clients without a login (UPPERSTACK_REQUIRE_AUTH=true).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freeUdpPort, startRuntime, type Runtime } from '../helpers/runtime';
import { readBack } from '../helpers/read-back';
import { simulateCli } from '../helpers/simulate-cli';
import { tempDir } from '../helpers/temp';

/** The CLI with the runtime's API key (for --register) and a ground-truth file of its own. */
const simulate = (args: string[]) => simulateCli(['--truth', join(tempDir('us-simreg-'), 'truth.json'), ...args], { UPPERSTACK_API_KEY: rt.apiKey });

let rt: Runtime;
let coapPort = 0;
before(async () => {
  coapPort = await freeUdpPort();
  rt = await startRuntime({ env: { UPPERSTACK_COAP_PORT: String(coapPort), UPPERSTACK_REQUIRE_AUTH: 'true' } });
});
after(async () => {
  await rt?.stop();
});

// One simulated minute of 3 environment sensors at 1/10s, sent in a few seconds.
const fleet = (prefix: string) => ['--devices', '3', '--mix', 'env:1', '--rate', '1/10s', '--duration', '1m', '--speed', '20', '--start', '-1m', '--anomalies', '0', '--prefix', prefix];

test('with --register each device is registered and its readings are stored over MQTT and CoAP; a second run rotates the secrets; without it every message is refused', { timeout: 180_000 }, async () => {
  const mq = await simulate([...fleet('regm-'), '--url', `mqtt://127.0.0.1:${rt.mqttPort}`, '--register', rt.url]);
  assert.equal(mq.code, 0, mq.stderr + mq.stdout);
  assert.match(mq.stderr, /3 devices registered/);
  assert.match(mq.stdout, /, 0 failed/);
  const co = await simulate([...fleet('regc-'), '--protocol', 'coap', '--url', `coap://127.0.0.1:${coapPort}`, '--register', rt.url]);
  assert.equal(co.code, 0, co.stderr + co.stdout);
  for (const d of ['regm-1', 'regm-2', 'regm-3', 'regc-1', 'regc-2', 'regc-3']) {
    await readBack(rt, [d], { atLeast: 5 }, `${d}'s readings`);
  }
  const list = (await (await rt.get('/api/v1/devices')).json()) as { devices: Array<{ id: string; tags: Record<string, string> }> };
  const regm1 = list.devices.find((d) => d.id === 'regm-1');
  assert.deepEqual(regm1?.tags, { simulated: 'true' });

  // Run again: the devices exist, so they get new secrets and send again.
  const again = await simulate([...fleet('regm-'), '--url', `mqtt://127.0.0.1:${rt.mqttPort}`, '--register', rt.url]);
  assert.equal(again.code, 0, again.stderr + again.stdout);

  // Without --register the same fleet is turned away (last: failed logins from one address get throttled).
  const refused = await simulate([...fleet('anon-'), '--protocol', 'coap', '--url', `coap://127.0.0.1:${coapPort}`, '--duration', '10s']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /last error: CoAP 4\.(01|29)/);
});
