/**
 * The alerts pack at start: its MQTT subscriber is connected to the embedded broker by the time the runtime
 * answers, so an alert transition published right after the start reaches the pack's output (a clean session
 * keeps nothing that was published before it subscribed).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

let rt: Runtime | undefined;
after(async () => {
  await rt?.stop();
});

test('a critical transition right after the start reaches the alerts pack\'s critical branch', { timeout: 90_000 }, async () => {
  rt = await startRuntime({ dataDir: tempDir('us-alerts-start-'), env: { UPPERSTACK_PACKS: 'alerts' } });
  const rule = await fetch(`${rt.url}/api/v1/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'boiling', name: 'Boiling', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 95, for: '0s' }, severity: 'critical', message: '{device} boils at {value}' }),
  });
  assert.equal(rule.status, 201);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  try {
    await client.publishAsync('devices/kettle/telemetry', JSON.stringify({ temperature: 99 }), { qos: 1 });
    await eventually(async () => (/\[debug:critical\] kettle boils at 99/.test(rt!.output()) ? true : undefined), 30_000, 'the critical alert in the log');
  } finally {
    await client.endAsync();
  }
  assert.doesNotMatch(rt.output(), /\[mqtt-broker:embedded broker \(loopback\)\] Connection failed to broker/, 'the subscriber did not have to retry');
});
