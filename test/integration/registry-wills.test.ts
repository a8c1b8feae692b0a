/**
 * A device's delayed will and the devices node, on the real runtime with MQTT.js and Node-RED's admin API: a
 * deploy that deletes the devices node drops the will from the broker's data folder (no device logs in without
 * a registry), so a restart cannot publish it; a deploy that only changes the devices node keeps it, since
 * its device logs in again under the registry deployed anew.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { eventually, startRuntimeAsAdmin, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { willsKeptIn } from '../helpers/kept-wills';

interface Flows {
  rev: string;
  flows: Array<Record<string, unknown>>;
}

/** Runs the runtime with a registered device whose link dropped while its will waits ten minutes; returns the broker's data folder. */
async function withWaitingWill(change: (flows: Flows) => void, settled: (rt: Runtime, secret: string) => Promise<unknown>): Promise<string> {
  const dataDir = tempDir('us-regwills-');
  const { rt, token } = await startRuntimeAsAdmin({ dataDir });
  try {
    const added = await fetch(`${rt.url}/api/v1/devices`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'willdev' }) });
    assert.equal(added.status, 201);
    const { secret } = (await added.json()) as { secret: string };
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, {
      protocolVersion: 5, reconnectPeriod: 0, clientId: 'c-willdev', username: 'willdev', password: secret, clean: false,
      properties: { sessionExpiryInterval: 600 },
      will: { topic: 'devices/willdev/status', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 600 } },
    });
    const gone = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.stream.destroy();
    await gone;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
    const flows = (await (await fetch(`${rt.url}/flows`, { headers })).json()) as Flows;
    const broker = flows.flows.find((n) => n.type === 'upperstack-broker');
    assert.ok(broker, 'the runtime\'s flows have a broker node');
    change(flows);
    const res = await fetch(`${rt.url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': 'nodes' }, body: JSON.stringify(flows) });
    assert.equal(res.status, 200, await res.text());
    await settled(rt, secret);
    return join(dataDir, 'broker', String(broker.id));
  } finally {
    await rt.stop();
  }
}

test('deleting the devices node drops a registered device\'s delayed will from the broker\'s data folder', { timeout: 120_000 }, async () => {
  const dir = await withWaitingWill(
    (flows) => {
      flows.flows = flows.flows.filter((n) => n.type !== 'upperstack-devices');
    },
    (rt) => eventually(async () => (rt.output().includes('client c-willdev: will refused') ? true : undefined), 30_000, 'the will dropped in the log'),
  );
  assert.deepEqual(await willsKeptIn(dir), []);
});

test('a deploy that changes the devices node keeps the delayed will of a device still registered', { timeout: 120_000 }, async () => {
  const dir = await withWaitingWill(
    (flows) => {
      const devices = flows.flows.find((n) => n.type === 'upperstack-devices');
      assert.ok(devices, 'the runtime\'s flows have a devices node');
      devices.name = `${String(devices.name ?? '')} renamed`;
    },
    async (rt, secret) => {
      await eventually(async () => (rt.output().split('device registry loaded').length > 2 ? true : undefined), 30_000, 'the devices node deployed anew');
      // The device logs in under the registry deployed anew (another client id: its own would take the session and its will over).
      const check = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'c-check', username: 'willdev', password: secret });
      await check.publishAsync('devices/willdev/telemetry', '{"t":1}', { qos: 1 });
      await check.endAsync();
    },
  );
  assert.deepEqual(await willsKeptIn(dir), ['c-willdev']);
});
