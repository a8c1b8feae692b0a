/**
 * QoS 2 from a device to the store through the embedded broker is exactly once
 * (MQTT 4.3.3, method B): a PUBLISH resent with DUP before its PUBREL, in another
 * socket read, in the same one, or on a resumed persistent session, is answered
 * with PUBREC and not stored again; PUBREL is answered with PUBCOMP. The packets
 * are written raw (mqtt-packet), as a device that missed the PUBREC would send them.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import * as mqttPacket from 'mqtt-packet';
import { findBroker } from '../../nodes/shared/runtime';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { ingestNodes } from '../helpers/simulate-flow';
import { rawConnect, type RawClient, type RawPacket } from '../helpers/mqtt-raw';
import { tempDir } from '../helpers/temp';

helper.init(require.resolve('node-red'));

function flow() {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
    { id: 'broker', type: 'upperstack-broker', z: 'tab', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: 'broker', topic: 'devices/{device}/telemetry', qos: 2, format: 'auto', configVersion: 1, wires: [['decode'], ['dead']] },
    { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['validate'], ['dead']] },
    { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [['store'], ['dead']] },
    { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [['stored']] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', configVersion: 1, wires: [[]] },
    { id: 'stored', type: 'helper', z: 'tab' },
  ];
}

interface Reading {
  device: string;
  fields: Record<string, unknown>;
}

const publish = (topic: string, payload: string, messageId: number, dup = false) => ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 2, messageId, dup, retain: false });
const is = (cmd: string, messageId: number) => (p: RawPacket) => p.cmd === cmd && p.messageId === messageId;

describe('QoS 2 through the embedded broker', () => {
  let port = 0;
  /** Every reading the store passed on, in order. */
  let stored: Reading[] = [];
  let waiters: Array<() => void> = [];
  const clients: RawClient[] = [];

  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-qos2-') } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end();
    await helper.unload();
  });

  async function load(): Promise<void> {
    stored = [];
    waiters = [];
    await helper.load(ingestNodes, flow());
    (helper.getNode('stored') as unknown as NodeJS.EventEmitter).on('input', (msg: { payload: Reading | Reading[] }) => {
      stored.push(...(Array.isArray(msg.payload) ? msg.payload : [msg.payload]));
      for (const w of waiters.splice(0)) w();
    });
    port = await new Promise<number>((resolve) => {
      const poll = () => {
        const b = findBroker('broker');
        if (b?.listening()) resolve(b.addresses().tcp);
        else setTimeout(poll, 20);
      };
      poll();
    });
  }

  async function connect(clientId: string, version: 4 | 5, clean: boolean) {
    // MQTT 5: a session that outlives the connection is one with a Session Expiry Interval.
    const properties = version === 5 && !clean ? { sessionExpiryInterval: 3600 } : undefined;
    const c = await rawConnect(port, { clientId, protocolVersion: version, clean, properties });
    clients.push(c.client);
    return c;
  }

  /**
   * Messages of one input leave it, and reach the store, in the order they arrived: once a marker
   * published after the copies is stored, every copy that was going to be stored is.
   */
  async function storedAfter(client: RawClient, device: string): Promise<Reading[]> {
    client.send({ cmd: 'publish', topic: 'devices/marker/telemetry', payload: Buffer.from(`{"of":"${device}"}`), qos: 1, messageId: 60000, retain: false });
    await client.next(is('puback', 60000));
    const seen = () => stored.some((r) => r.device === 'marker' && r.fields.of === device);
    while (!seen()) await new Promise<void>((r) => waiters.push(r));
    return stored.filter((r) => r.device === device);
  }

  for (const version of [4, 5] as const) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a copy resent before PUBREL gets PUBREC and is not stored again`, async () => {
      await load();
      const { client } = await connect(`q2dup-${version}`, version, true);
      const topic = 'devices/q2dup/telemetry';
      client.send(publish(topic, '{"v":1}', 5));
      await client.next(is('pubrec', 5));
      client.send(publish(topic, '{"v":1}', 5, true));
      await client.next(is('pubrec', 5));
      client.send({ cmd: 'pubrel', messageId: 5 });
      await client.next(is('pubcomp', 5));
      const readings = await storedAfter(client, 'q2dup');
      assert.deepEqual(readings.map((r) => r.fields.v), [1]);
    });
  }

  test('copies in one socket read: both answered with PUBREC, one stored; after PUBREL the id is new again', async () => {
    await load();
    const { client } = await connect('q2burst', 4, true);
    const topic = 'devices/q2burst/telemetry';
    const wire = (p: object) => mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 4 });
    client.sendRaw(Buffer.concat([wire(publish(topic, '{"v":1}', 7)), wire(publish(topic, '{"v":1}', 7, true)), wire(publish(topic, '{"v":1}', 7, true))]));
    await client.next(is('pubrec', 7));
    await client.next(is('pubrec', 7));
    await client.next(is('pubrec', 7));
    client.send({ cmd: 'pubrel', messageId: 7 });
    await client.next(is('pubcomp', 7));
    // Released: the same packet id now carries a new message.
    client.send(publish(topic, '{"v":2}', 7));
    await client.next(is('pubrec', 7));
    client.send({ cmd: 'pubrel', messageId: 7 });
    await client.next(is('pubcomp', 7));
    const readings = await storedAfter(client, 'q2burst');
    assert.deepEqual(readings.map((r) => r.fields.v), [1, 2]);
  });

  for (const version of [4, 5] as const) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a persistent session keeps the state across a reconnect, and CONNACK says so`, async () => {
      await load();
      const id = `q2rc-${version}`;
      // The store outlives each test: a device of its own per test.
      const topic = `devices/q2rc${version}/telemetry`;
      const first = await connect(id, version, false);
      assert.equal(first.connack.sessionPresent, false);
      first.client.send(publish(topic, '{"v":2}', 9));
      await first.client.next(is('pubrec', 9));
      first.client.end();
      await first.client.closed;
      // A device that publishes only has no subscriptions; its session is still there.
      const again = await connect(id, version, false);
      assert.equal(again.connack.sessionPresent, true);
      again.client.send(publish(topic, '{"v":2}', 9, true));
      await again.client.next(is('pubrec', 9));
      again.client.send({ cmd: 'pubrel', messageId: 9 });
      await again.client.next(is('pubcomp', 9));
      const readings = await storedAfter(again.client, `q2rc${version}`);
      assert.deepEqual(readings.map((r) => r.fields.v), [2]);
      const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
      const page = await cfg.store.readings({ device: `q2rc${version}`, limit: 10 });
      assert.equal(page.readings.length, 1);
    });
  }

  test('a clean session takes its QoS 2 state with it: the next session may reuse the packet id', async () => {
    await load();
    const topic = 'devices/q2clean/telemetry';
    const first = await connect('q2clean', 4, true);
    first.client.send(publish(topic, '{"v":1}', 11));
    await first.client.next(is('pubrec', 11));
    first.client.end();
    await first.client.closed;
    const again = await connect('q2clean', 4, true);
    assert.equal(again.connack.sessionPresent, false);
    again.client.send(publish(topic, '{"v":2}', 11));
    await again.client.next(is('pubrec', 11));
    again.client.send({ cmd: 'pubrel', messageId: 11 });
    await again.client.next(is('pubcomp', 11));
    const readings = await storedAfter(again.client, 'q2clean');
    assert.deepEqual(readings.map((r) => r.fields.v), [1, 2]);
  });
});
