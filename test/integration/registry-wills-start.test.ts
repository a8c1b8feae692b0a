/**
 * Delayed wills kept in the broker's data folder and the device registry, on the real runtime with MQTT.js and
 * Node-RED's admin API: a runtime started again after its devices node was deleted from flows.json judges the wills
 * it restored by the registry it starts with (none: a device's will is dropped, an anonymous client's on loopback
 * kept); one deploy that deletes the devices node and adds another judges them by the new one, not by "no registry"
 * in between.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { adminToken, eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { willsKeptIn } from '../helpers/kept-wills';

type FlowNode = Record<string, unknown>;

/**
 * A registered device's will and an anonymous client's, each waiting ten minutes after the link drops (a restart
 * within them finds it in the data folder).
 */
async function leaveWills(rt: Runtime): Promise<void> {
  const added = await fetch(`${rt.url}/api/v1/devices`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'willdev' }) });
  assert.equal(added.status, 201);
  const { secret } = (await added.json()) as { secret: string };
  const clients = [
    { clientId: 'c-willdev', username: 'willdev', password: secret, topic: 'devices/willdev/status' },
    { clientId: 'c-anon', topic: 'devices/anon1/status' },
  ];
  for (const { topic, ...login } of clients) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, {
      protocolVersion: 5, reconnectPeriod: 0, clean: false, ...login,
      properties: { sessionExpiryInterval: 600 },
      will: { topic, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 600 } },
    });
    const gone = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.stream.destroy();
    await gone;
  }
}

function brokerDir(dataDir: string, flows: FlowNode[]): string {
  const broker = flows.find((n) => n.type === 'upperstack-broker');
  assert.ok(broker, 'the flows have a broker node');
  return join(dataDir, 'broker', String(broker.id));
}

test('a runtime started again after its devices node was deleted from flows.json drops the restored will of a device, and keeps an anonymous client\'s', { timeout: 180_000 }, async () => {
  const dataDir = tempDir('us-startwills-');
  const first = await startRuntime({ dataDir });
  try {
    await leaveWills(first);
  } finally {
    await first.stop();
  }
  const file = join(dataDir, 'flows.json');
  const flows = (JSON.parse(readFileSync(file, 'utf8')) as FlowNode[]).filter((n) => n.type !== 'upperstack-devices');
  writeFileSync(file, JSON.stringify(flows, null, 4));
  const dir = brokerDir(dataDir, flows);
  assert.deepEqual(await willsKeptIn(dir), ['c-anon', 'c-willdev'], 'the stop kept both waiting wills');

  const second = await startRuntime({ dataDir });
  try {
    // Without a registry no device logs in, so none of their wills is published.
    await eventually(async () => (second.output().includes('client c-willdev: will refused') ? true : undefined), 30_000, 'the device\'s will dropped at start');
  } finally {
    await second.stop();
  }
  assert.ok(!second.output().includes('client c-anon: will refused'), 'an anonymous client on loopback still logs in: its will is kept');
  assert.deepEqual(await willsKeptIn(dir), ['c-anon']);
});

test('one deploy deleting the devices node and adding another judges kept wills by the new registry, not by none in between', { timeout: 180_000 }, async () => {
  const dataDir = tempDir('us-swapwills-');
  const rt = await startRuntime({ dataDir });
  let dir: string;
  try {
    const token = await adminToken(rt);
    await leaveWills(rt);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
    const deployed = (await (await fetch(`${rt.url}/flows`, { headers })).json()) as { rev: string; flows: FlowNode[] };
    dir = brokerDir(dataDir, deployed.flows);
    const old = deployed.flows.find((n) => n.type === 'upperstack-devices');
    assert.ok(old, 'the runtime\'s flows have a devices node');
    // A new devices node on the same store (the same devices), which lets anonymous clients in no longer.
    const replacement = { ...old, id: 'us_devices_new', name: 'device registry (new)', requireAuth: true };
    const flows = [...deployed.flows.filter((n) => n !== old), replacement];
    const res = await fetch(`${rt.url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': 'nodes' }, body: JSON.stringify({ rev: deployed.rev, flows }) });
    assert.equal(res.status, 200, await res.text());
    // The new registry refuses anonymous clients: that will goes once the deploy is over and the registry loaded.
    await eventually(async () => (rt.output().includes('client c-anon: will refused') ? true : undefined), 30_000, 'the anonymous client\'s will dropped');
  } finally {
    await rt.stop();
  }
  assert.ok(!rt.output().includes('client c-willdev: will refused'), 'willdev is in the new registry: its will was not to be dropped');
  assert.deepEqual(await willsKeptIn(dir), ['c-willdev']);
});
