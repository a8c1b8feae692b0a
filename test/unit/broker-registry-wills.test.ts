/**
 * Wills on the embedded broker when the device registry as a whole changes, with real MQTT.js clients: a
 * registry deployed in place of another, or removed, drops the delayed wills of logins it no longer lets in
 * (the timer and the copy a restart would publish), not those of logins that still log in, and not while a
 * registry is only being deployed anew; a will kept by a release that stored no login with it is found by its
 * topic's device (or its client id) when that device is revoked.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import { brokerAuth, useDevices } from '../../nodes/shared/devices';
import { eventually } from '../helpers/intake';
import { tempDir } from '../helpers/temp';
import { cleanupAfterEach, closed, dropLink, registryWith, willsKeptIn } from '../helpers/kept-wills';

const cleanup = cleanupAfterEach();

describe('a device registry deployed or removed, and the wills it kept', () => {
  test('a registry deployed in place of another: the delayed wills of devices it no longer lets in are not kept for a restart; a device it keeps still has its will', async () => {
    const dir = tempDir('us-regwills-');
    const first = await registryWith(['wGone', 'wLive', 'wOff', 'wKept']);
    const release = useDevices({ owner: {}, auth: first.auth, registry: first.registry });
    cleanup.push(() => release());
    const refused: string[] = [];
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth: brokerAuth, dataDir: dir }, { onRefused: (id, what) => refused.push(`${id} ${what}`) });
    await broker.start();
    // A will that waits ten minutes after the link drops: a restart within them finds it in the data folder.
    const withWill = (id: string) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, {
        protocolVersion: 5, reconnectPeriod: 0, clientId: `c-${id}`, username: id, password: first.secrets[id], clean: false,
        properties: { sessionExpiryInterval: 600 },
        will: { topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 600 } },
      });
    try {
      for (const id of ['wGone', 'wOff', 'wKept']) await dropLink(await withWill(id));
      // Still connected when the registry is replaced: its connection ends then.
      const live = await withWill('wLive');
      const liveClosed = closed(live);
      // The new registry knows wKept, and wOff only as disabled; wGone and wLive are in it no more.
      const second = await registryWith(['wKept', 'wOff']);
      await second.registry.update('wOff', { enabled: false });
      // As Node-RED deploys a changed devices node: the old one closes (not removed), the new one starts.
      release(true);
      const releaseSecond = useDevices({ owner: {}, auth: second.auth, registry: second.registry });
      cleanup.push(() => releaseSecond());
      await liveClosed;
      await eventually(() => ['c-wGone will', 'c-wLive will', 'c-wOff will'].every((r) => refused.includes(r)), 'the wills of the devices no longer let in dropped');
    } finally {
      await broker.stop();
    }
    assert.deepEqual(await willsKeptIn(dir), ['c-wKept']);
  });

  test('a devices node closed without being removed (the runtime stopping, a redeploy between) drops no will', async () => {
    const dir = tempDir('us-stopwills-');
    const { registry, auth, secrets } = await registryWith(['devS']);
    const release = useDevices({ owner: {}, auth, registry });
    cleanup.push(() => release());
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth: brokerAuth, dataDir: dir });
    await broker.start();
    const url = `mqtt://127.0.0.1:${broker.addresses.tcp}`;
    try {
      const c = await mqtt.connectAsync(url, {
        protocolVersion: 5, reconnectPeriod: 0, clientId: 'c-devS', username: 'devS', password: secrets.devS, clean: false,
        properties: { sessionExpiryInterval: 600 },
        will: { topic: 'devices/devS/status', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 600 } },
      });
      await dropLink(c);
      release(true);
      // A round trip with the broker after the close: anything it judged would be done by then.
      const other = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
      await other.publishAsync('devices/other/telemetry', '{"t":1}', { qos: 1 });
      await other.endAsync();
    } finally {
      await broker.stop();
    }
    assert.deepEqual(await willsKeptIn(dir), ['c-devS']);
  });

  test('a registry removed: a device\'s delayed will is not published when its delay ends; an anonymous client\'s on loopback is', async () => {
    const { registry, auth, secrets } = await registryWith(['devA']);
    const release = useDevices({ owner: {}, auth, registry });
    cleanup.push(() => release());
    const refused: string[] = [];
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth: brokerAuth }, { onRefused: (id, what) => refused.push(`${id} ${what}`) });
    await broker.start();
    cleanup.push(() => broker.stop());
    const seen: string[] = [];
    broker.subscribe('devices/+/status', (p, ack) => {
      seen.push(p.topic);
      ack();
    });
    const url = `mqtt://127.0.0.1:${broker.addresses.tcp}`;
    // The will waits for its delay only while the session outlives the connection.
    const session = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const will = (id: string) => ({ topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } });
    const device = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'c-devA', username: 'devA', password: secrets.devA, ...session, will: will('devA') });
    await dropLink(device);
    // Removed for good (Node-RED closes it as removed): the rules without a registry let no device log in.
    release();
    await eventually(() => refused.includes('c-devA will'), 'the device\'s will dropped');
    // An anonymous client's will, whose delay begins after devA's: had devA's been kept, it would have come first.
    const anonymous = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'c-anon', ...session, will: will('anon1') });
    await dropLink(anonymous);
    await eventually(() => seen.length > 0, 'the anonymous client\'s will after its delay');
    assert.deepEqual(seen, ['devices/anon1/status']);
  });

  test('a will stored without its login (earlier releases) is dropped with the device its topic or its client id names, once that device is removed', async () => {
    const dir = tempDir('us-legacywills-');
    // Wills as a release that kept no login with them left them in the data folder.
    const earlier = new BrokerPersistence({ dir });
    await earlier.setup({ id: 'earlier-broker' } as Parameters<BrokerPersistence['setup']>[0]);
    const put = (clientId: string, topic: string) => earlier.putWill({ id: clientId }, { topic, payload: Buffer.from('offline'), qos: 1, retain: false });
    await put('c-old1', 'devices/old1/status');
    await put('old1', 'status/offline');
    await put('c-other1', 'devices/other1/status');
    await earlier.destroy();

    const { registry, auth } = await registryWith(['old1', 'other1']);
    const refused: string[] = [];
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth, dataDir: dir }, { onRefused: (id, what) => refused.push(`${id} ${what}`) });
    await broker.start();
    try {
      await registry.remove('old1');
      await eventually(() => refused.includes('c-old1 will') && refused.includes('old1 will'), 'the wills of old1 dropped');
    } finally {
      await broker.stop();
      auth.close();
    }
    assert.deepEqual(await willsKeptIn(dir), ['c-other1']);
  });
});
