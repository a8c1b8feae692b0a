/**
 * The wills the embedded broker keeps, judged by the device registry as it stands once it has settled, with real
 * MQTT.js clients: at start, the wills restored from the data folder (a device removed or disabled while the broker
 * was stopped), and after one deploy that deletes a devices node and adds another (no registry in between, which
 * must not decide).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import { brokerAuth, devicesChanging, useDevices } from '../../nodes/shared/devices';
import { cleanupAfterEach, closed, dropLink, registryWith, willsKeptIn } from '../helpers/kept-wills';
import { until } from '../helpers/mqtt5-kit';
import { tempDir } from '../helpers/temp';

/** A client whose will (on `devices/<topicDevice>/status`) waits `delay` seconds after its link drops. */
function withWill(port: number, clientId: string, topicDevice: string, delay: number, login?: { username: string; password: string }): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5, reconnectPeriod: 0, clientId, clean: false, ...login,
    properties: { sessionExpiryInterval: 600 },
    will: { topic: `devices/${topicDevice}/status`, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: delay } },
  });
}

const cleanup = cleanupAfterEach();

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

  test('one deploy deleting a devices node and adding another: wills are judged by the new registry, not by none in between', async () => {
    const dir = tempDir('us-swapwills-');
    const a = await registryWith(['dWait', 'dLive']);
    const releaseA = useDevices({ owner: {}, auth: a.auth, registry: a.registry });
    cleanup.push(() => releaseA());
    const refused: string[] = [];
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth: brokerAuth, dataDir: dir }, { onRefused: (id, what) => refused.push(`${id} ${what}`) });
    await broker.start();
    cleanup.push(() => broker.stop());
    const seen: string[] = [];
    broker.subscribe('devices/+/status', (p, ack) => {
      seen.push(p.topic);
      ack();
    });
    const port = broker.addresses.tcp;
    const url = `mqtt://127.0.0.1:${port}`;
    // Wills waiting for their delay as the deploy begins: a device's, and an anonymous client's.
    await dropLink(await withWill(port, 'c-dWait', 'dWait', 600, { username: 'dWait', password: a.secrets.dWait }));
    await dropLink(await withWill(port, 'c-anonWait', 'anonW', 600));
    // Connected as the deploy begins, with a will published as the change ends the connection.
    const device = await withWill(port, 'c-dLive', 'dLive', 0, { username: 'dLive', password: a.secrets.dLive });
    const anonymous = await withWill(port, 'c-anonLive', 'anonL', 0);
    const ended = Promise.all([closed(device), closed(anonymous)]);

    // The deploy: the old devices node closes as removed, the new one (anonymous clients no longer let in) starts.
    const settle = devicesChanging();
    releaseA();
    await ended;
    // Node-RED stops every node the deploy touches before it starts the new ones: a round trip with the broker
    // in between, which would have judged by "no registry" by then.
    const other = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    await other.publishAsync('other/ping', 'x', { qos: 1 });
    await other.endAsync();
    const b = await registryWith(['dWait', 'dLive'], { requireAuth: true });
    const releaseB = useDevices({ owner: {}, auth: b.auth, registry: b.registry });
    cleanup.push(() => releaseB());
    settle();

    await until(() => (refused.includes('c-anonWait will') && refused.includes('c-anonLive publish devices/anonL/status') && seen.includes('devices/dLive/status')) || undefined, 'the wills judged by the new registry');
    assert.deepEqual(seen, ['devices/dLive/status'], 'the device the new registry keeps has its will published; the anonymous client it refuses has not');
    assert.ok(!refused.includes('c-dWait will'), `the new registry keeps dWait: its will was not to be dropped (${refused.join(', ')})`);
    await broker.stop();
    assert.deepEqual(await willsKeptIn(dir), ['c-dWait']);
  });
});
