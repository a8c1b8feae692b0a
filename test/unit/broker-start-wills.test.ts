/**
 * The wills the embedded broker keeps, judged by the device registry as it stands once it has settled, with real
 * MQTT.js clients: at start, the wills restored from the data folder (a device removed or disabled while the broker
 * was stopped).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import { registryWith, willsKeptIn } from '../helpers/kept-wills';
import { until } from '../helpers/mqtt5-kit';
import { tempDir } from '../helpers/temp';

const closed = (c: mqtt.MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));

/** A client whose will (on `devices/<topicDevice>/status`) waits `delay` seconds after its link drops. */
function withWill(port: number, clientId: string, topicDevice: string, delay: number, login?: { username: string; password: string }): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5, reconnectPeriod: 0, clientId, clean: false, ...login,
    properties: { sessionExpiryInterval: 600 },
    will: { topic: `devices/${topicDevice}/status`, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: delay } },
  });
}

/** The link drops (no DISCONNECT): the will is the broker's to publish. */
async function dropLink(c: mqtt.MqttClient): Promise<void> {
  const gone = closed(c);
  c.stream.destroy();
  await gone;
}

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe('kept wills judged by the registry once it has settled', () => {
  test('a broker started again drops the restored wills of devices removed or disabled while it was stopped, and keeps the others', async () => {
    const dir = tempDir('us-startwills-');
    const before = await registryWith(['sGone', 'sOff', 'sKept']);
    const first = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth: before.auth, dataDir: dir });
    await first.start();
    try {
      for (const id of ['sGone', 'sOff', 'sKept']) await dropLink(await withWill(first.addresses.tcp, `c-${id}`, id, 600, { username: id, password: before.secrets[id] }));
      await dropLink(await withWill(first.addresses.tcp, 'c-anon', 'anon1', 600));
    } finally {
      await first.stop();
      before.auth.close();
    }
    assert.deepEqual(await willsKeptIn(dir), ['c-anon', 'c-sGone', 'c-sKept', 'c-sOff'], 'the stop kept every waiting will');

    // While stopped: sGone removed, sOff disabled (the registry the next start loads).
    const after = await registryWith(['sOff', 'sKept']);
    await after.registry.update('sOff', { enabled: false });
    const refused: string[] = [];
    const second = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth: after.auth, dataDir: dir }, { onRefused: (id, what) => refused.push(`${id} ${what}`) });
    await second.start();
    try {
      await second.judgeWills();
      assert.deepEqual(refused.sort(), ['c-sGone will', 'c-sOff will']);
    } finally {
      await second.stop();
      after.auth.close();
    }
    assert.deepEqual(await willsKeptIn(dir), ['c-anon', 'c-sKept']);
  });

  test('judging asked for before the broker has its rules in place (the deploy ended first) happens once they are', async () => {
    const dir = tempDir('us-startwills-');
    const earlier = new BrokerPersistence({ dir });
    await earlier.setup({ id: 'earlier-broker' } as Parameters<BrokerPersistence['setup']>[0]);
    await earlier.putWill({ id: 'c-lost' }, { topic: 'devices/lost/status', payload: Buffer.from('offline'), qos: 1, retain: false, login: 'device:lost' } as Parameters<BrokerPersistence['putWill']>[1]);
    await earlier.destroy();
    const { auth } = await registryWith([]);
    cleanup.push(() => auth.close());
    const refused: string[] = [];
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth, dataDir: dir }, { onRefused: (id, what) => refused.push(`${id} ${what}`) });
    const judged = broker.judgeWills();
    await broker.start();
    await judged;
    try {
      await until(() => refused.includes('c-lost will') || undefined, 'the will of a device that is not registered dropped');
    } finally {
      await broker.stop();
    }
    assert.deepEqual(await willsKeptIn(dir), []);
  });
});
