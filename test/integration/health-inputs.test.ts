/**
 * /health lists the deployed MQTT inputs, and an input left without its broker (the embedded broker disabled in
 * the editor, the inputs still deployed) fails it: they receive nothing, which a 200 would hide.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, eventually, startRuntime, type Runtime } from '../helpers/runtime';

let rt: Runtime;

before(async () => {
  rt = await startRuntime({ env: { UPPERSTACK_HEALTH_CONNECTION_SECONDS: '2' } });
});

after(async () => {
  await rt?.stop();
});

interface Health {
  problems: Array<{ component: string; code: string; message: string }>;
  components: Record<string, { ok: boolean; detail: string }>;
}

async function health(): Promise<[number, Health]> {
  const res = await fetch(`${rt.url}/health`);
  return [res.status, (await res.json()) as Health];
}

/** Deploys the flows as the editor does, with the embedded broker disabled or enabled again. */
async function brokerDisabled(disabled: boolean): Promise<void> {
  const headers = { authorization: `Bearer ${await adminToken(rt)}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
  const current = (await (await fetch(`${rt.url}/flows`, { headers })).json()) as { rev: string; flows: Array<Record<string, unknown>> };
  const flows = current.flows.map((n) => (n.type === 'upperstack-broker' ? { ...n, d: disabled } : n));
  const res = await fetch(`${rt.url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify({ rev: current.rev, flows }) });
  assert.equal(res.status, 200, await res.text());
}

test('the MQTT inputs are listed while subscribed; with the embedded broker disabled they fail /health, and pass again once it runs', async () => {
  const [status, up] = await eventually(async () => {
    const got = await health();
    return got[1].components['mqtt-in:device telemetry']?.ok ? got : undefined;
  }, 30_000, 'the MQTT input in /health');
  assert.equal(status, 200);
  assert.deepEqual(up.components['mqtt-in:device telemetry'], { ok: true, detail: 'subscribed to devices/+/telemetry', failing: false });
  assert.deepEqual(up.components['mqtt-in:protobuf telemetry'], { ok: true, detail: 'subscribed to devices/+/protobuf', failing: false });

  await brokerDisabled(true);
  const down = await eventually(async () => {
    const [s, h] = await health();
    return s === 503 && h.problems.length === 2 ? h : undefined;
  }, 30_000, '/health 503 with the broker disabled');
  assert.deepEqual(down.problems.map((p) => [p.component, p.code]).sort(), [['mqtt-in:device telemetry', 'DISCONNECTED'], ['mqtt-in:protobuf telemetry', 'DISCONNECTED']]);
  for (const p of down.problems) assert.match(p.message, /not subscribed: its embedded broker is not running/);

  await brokerDisabled(false);
  await eventually(async () => {
    const [s, h] = await health();
    return s === 200 && h.components['mqtt-in:device telemetry']?.ok ? true : undefined;
  }, 30_000, '/health 200 with the broker running again');
});
