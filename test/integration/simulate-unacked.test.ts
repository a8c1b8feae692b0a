/**
 * `upperstack simulate` counts what was never acknowledged: devices that are in
 * the runtime's registry but send without their secret are refused by the
 * embedded broker (MQTT 3.1.1 closes the connection, so no acknowledgement ever
 * comes); the run says how many and exits 1 instead of reporting success.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRuntime, type Runtime } from '../helpers/runtime';
import { simulateCli } from '../helpers/simulate-cli';
import { tempDir } from '../helpers/temp';

let rt: Runtime;
before(async () => {
  rt = await startRuntime();
});
after(async () => {
  await rt?.stop();
});

test('messages of registered devices sent without their secret: "N not acknowledged" counted as failed, exit 1', { timeout: 120_000 }, async () => {
  for (const id of ['plug1', 'plug4']) {
    const res = await fetch(`${rt.url}/api/v1/devices`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
    assert.equal(res.status, 201, await res.text());
  }
  const r = await simulateCli(['--devices', '4', '--duration', '2s', '--url', `mqtt://127.0.0.1:${rt.mqttPort}`, '--mqtt-version', '4', '--prefix', 'plug', '--anomalies', '0', '--drain', '1s', '--quiet', '--truth', join(tempDir('us-simack-'), 'truth.json')]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const m = /: (\d+) messages .*, (\d+) acked, (\d+) failed \((\d+) not acknowledged\)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const [sent, acked, failed, unacked] = m.slice(1).map(Number);
  assert.ok(unacked >= 2, `plug1 and plug4 each have a message never acknowledged: ${r.stdout}`);
  assert.ok(acked >= 2, `plug2 and plug3 are acknowledged: ${r.stdout}`);
  assert.equal(acked + failed, sent);
  assert.match(r.stderr, new RegExp(`${unacked} messages were not acknowledged within 1s of the end`));
});
