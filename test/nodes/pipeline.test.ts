/**
 * The pipeline nodes wired together in a Node-RED test runtime, with the real
 * embedded broker on a free port and a real DuckDB file; and the shipped flow
 * pack itself, as `npm start` deploys it.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { findBroker } from '../../nodes/shared/runtime';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { nodeModulesFor, type FlowNode } from '../helpers/packs';
import { ingestNodes } from '../helpers/simulate-flow';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [
  ...ingestNodes,
  require('@node-red/nodes/core/common/25-catch.js'),
];
const PACK = join(__dirname, '..', '..', '..', 'flows', 'pipeline.json');

helper.init(require.resolve('node-red'));
const API_KEY = 'pipeline-test-key';

function flow() {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
    { id: 'broker', type: 'upperstack-broker', z: 'tab', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: 'broker', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 1, wires: [['decode'], ['dead']] },
    { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['validate'], ['dead']] },
    { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [['store'], ['dead']] },
    { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [['stored']] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', broker: 'broker', topic: 'upperstack/deadletter', configVersion: 1, wires: [['deadOut']] },
    { id: 'stored', type: 'helper', z: 'tab' },
    { id: 'deadOut', type: 'helper', z: 'tab' },
  ];
}

describe('pipeline nodes', () => {
  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-nodes-'), apiKey: API_KEY } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  async function connect(brokerId = 'broker'): Promise<mqtt.MqttClient> {
    const port = await new Promise<number>((resolve) => {
      const poll = () => {
        const b = findBroker(brokerId);
        if (b?.listening()) resolve(b.addresses().tcp);
        else setTimeout(poll, 20);
      };
      poll();
    });
    // Logged in with the API key: an anonymous client may not read upperstack/# (dead letters).
    return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'apikey', password: API_KEY });
  }

  test('a batch published at QoS 1 reaches the store as one message and is queryable', async () => {
    await helper.load(nodes, flow());
    const stored = helper.getNode('stored') as unknown as NodeJS.EventEmitter;
    const got = new Promise<{ payload: unknown }>((resolve) => stored.on('input', (msg: { payload: unknown }) => resolve(msg)));
    const client = await connect();
    const batch = [1, 2, 3].map((i) => ({ ts: 1767225600000 + i * 1000, fields: { t: 20 + i } }));
    await client.publishAsync('devices/boiler/telemetry', JSON.stringify(batch), { qos: 1 });
    const msg = await got;
    assert.ok(Array.isArray(msg.payload));
    assert.equal((msg.payload as unknown[]).length, 3);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const page = await cfg.store.readings({ device: 'boiler', limit: 10 });
    assert.deepEqual(page.readings.map((r) => r.fields.t), [21, 22, 23]);
    await client.endAsync();
  });

  test('messages of one turn holding more readings together than the limit are all stored, none dead-lettered', async () => {
    // The limit is per device message: 3 readings each, under 5, however many arrive in one turn.
    const small = flow().map((n) => (n.id === 'decode' || n.id === 'validate' ? { ...n, maxReadings: 5 } : n));
    await helper.load(nodes, small);
    const deadOut = helper.getNode('deadOut') as unknown as NodeJS.EventEmitter;
    const letters: unknown[] = [];
    deadOut.on('input', (m: { payload: unknown }) => letters.push(m.payload));
    const client = await connect();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const batch = [0, 1, 2].map((k) => ({ ts: 1767225600000 + (i * 3 + k) * 1000, fields: { t: i * 3 + k } }));
      sends.push(client.publishAsync(`devices/turn${i % 4}/telemetry`, JSON.stringify(batch), { qos: 1 }));
    }
    await Promise.all(sends);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    let stored = 0;
    for (let i = 0; i < 1500 && stored < 120; i++) {
      stored = 0;
      for (let d = 0; d < 4; d++) stored += (await cfg.store.readings({ device: `turn${d}`, limit: 100 })).readings.length;
      if (stored < 120) await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(letters, []);
    assert.equal(stored, 120);
    await client.endAsync();
  });

  test('a batch with one bad reading is split: the good ones are stored, the bad one is dead-lettered with its path', async () => {
    await helper.load(nodes, flow());
    const deadOut = helper.getNode('deadOut') as unknown as NodeJS.EventEmitter;
    const dead = new Promise<{ payload: { code: string; reason: string; device: string } }>((resolve) => deadOut.on('input', (m: { payload: { code: string; reason: string; device: string } }) => resolve(m)));
    const client = await connect();
    const batch = [
      { ts: 1767225600000, fields: { t: 1 } },
      { ts: 1767225601000, fields: { 'bad name!': 2 } },
      { ts: 1767225602000, fields: { t: 3 } },
    ];
    await client.publishAsync('devices/mixed/telemetry', JSON.stringify(batch), { qos: 1 });
    const letter = (await dead).payload;
    assert.equal(letter.code, 'SCHEMA_VIOLATION');
    assert.equal(letter.device, 'mixed');
    assert.match(letter.reason, /fields/);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    let rows: number[] = [];
    for (let i = 0; i < 1500 && rows.length < 2; i++) {
      rows = (await cfg.store.readings({ device: 'mixed', limit: 10 })).readings.map((r) => r.fields.t as number);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(rows, [1, 3]);
    const letters = await cfg.store.deadLetters({ device: 'mixed', limit: 10 });
    assert.equal(letters.length, 1);
    await client.endAsync();
  });

  test('undecodable bytes are dead-lettered on the MQTT topic with the reason', async () => {
    await helper.load(nodes, flow());
    const client = await connect();
    await client.subscribeAsync('upperstack/deadletter/#');
    const got = new Promise<{ topic: string; letter: { code: string; reason: string } }>((resolve) =>
      client.on('message', (topic, payload) => resolve({ topic, letter: JSON.parse(payload.toString()) as { code: string; reason: string } })),
    );
    await client.publishAsync('devices/broken/telemetry', '{"t": 1,', { qos: 1 });
    const { topic, letter } = await got;
    assert.equal(topic, 'upperstack/deadletter/broken');
    assert.equal(letter.code, 'DECODE_FAILED');
    assert.match(letter.reason, /byte/);
    await client.endAsync();
  });

  test('with the failure output unwired, a Catch node gets the typed error and no receipt to settle', async () => {
    const f = flow().map((n) => (n.id === 'decode' ? { ...n, wires: [['validate'], []] } : n));
    f.push({ id: 'catcher', type: 'catch', z: 'tab', scope: ['decode'], uncaught: false, wires: [['caught']] } as never);
    f.push({ id: 'caught', type: 'helper', z: 'tab' } as never);
    await helper.load(nodes, f);
    const caught = helper.getNode('caught') as unknown as NodeJS.EventEmitter;
    const got = new Promise<{ error: { message: string; source: { id: string } }; upperstack?: unknown }>((resolve) => caught.on('input', resolve));
    const client = await connect();
    await client.publishAsync('devices/uncaught/telemetry', '{"t": 1,', { qos: 1 });
    const msg = await got;
    assert.match(msg.error.message, /JSON/);
    assert.match(msg.error.message, /byte/);
    assert.equal(msg.error.source.id, 'decode');
    assert.equal(msg.upperstack, undefined);
    await client.endAsync();
  });

  test('the shipped pack: a spike published into the pipeline leaves the anomaly node\'s anomalies output with a reason', async () => {
    const pack = JSON.parse(readFileSync(PACK, 'utf8')) as Array<Record<string, unknown>>;
    const broker = pack.find((n) => n.type === 'upperstack-broker')!;
    Object.assign(broker, { port: '0', bind: '127.0.0.1' });
    for (const n of pack) if (n.type === 'upperstack-coap-in') Object.assign(n, { port: '0', bind: '127.0.0.1' });
    const anomaly = pack.find((n) => n.type === 'upperstack-anomaly');
    assert.ok(anomaly, 'the pack has an anomaly node');
    const store = pack.find((n) => n.type === 'upperstack-store')!;
    const alertNode = pack.find((n) => n.type === 'upperstack-alert');
    assert.ok(alertNode, 'the pack has an alert node');
    const fed = (store.wires as string[][])[0];
    assert.ok(fed.includes(anomaly.id as string) && fed.includes(alertNode.id as string), 'both are fed by the store, so they see stored readings');
    assert.ok((anomaly.wires as string[][])[1].includes(alertNode.id as string), 'the alert node also gets the anomalies');
    const hook = pack.find((n) => n.type === 'link out' && n.name === 'anomalies');
    assert.ok(hook, 'a link out "anomalies" for alert flows');
    assert.ok((anomaly.wires as string[][])[1].includes(hook.id as string), 'fed by the anomalies-only output');
    // An alert flow hooks in as a user would: a link in linked to "anomalies".
    pack.push({ id: 'alert_in', type: 'link in', z: broker.z, name: 'alerts', links: [hook.id], wires: [['alerts']] });
    pack.push({ id: 'alerts', type: 'helper', z: broker.z });
    await helper.load(nodeModulesFor(pack as FlowNode[]), pack);
    const alerts: Array<{ payload: { device: string; ts: number; fields: Record<string, number>; anomaly: { isAnomaly: boolean; score: number; reason: string } } }> = [];
    (helper.getNode('alerts') as unknown as NodeJS.EventEmitter).on('input', (m: (typeof alerts)[number]) => alerts.push(m));

    const client = await connect(broker.id as string);
    const T0 = 1767225600000;
    const normal = Array.from({ length: 40 }, (_, i) => ({ ts: T0 + i * 60_000, fields: { temperature: 20 + Math.sin(i * 1.7) * 0.5 } }));
    await client.publishAsync('devices/pack-boiler/telemetry', JSON.stringify(normal), { qos: 1 });
    await client.publishAsync('devices/pack-boiler/telemetry', JSON.stringify({ ts: T0 + 40 * 60_000, temperature: 45 }), { qos: 1 });
    for (let i = 0; i < 1500 && alerts.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await client.endAsync();

    assert.equal(alerts.length, 1, 'one alert: the spike, not the normal readings');
    const a = alerts[0].payload;
    assert.equal(a.device, 'pack-boiler');
    assert.equal(a.ts, T0 + 40 * 60_000);
    assert.equal(a.fields.temperature, 45);
    assert.equal(a.anomaly.isAnomaly, true);
    assert.match(a.anomaly.reason, /^temperature 45(\.0)? is .*above/);
    // What was judged had been stored first.
    const cfg = helper.getNode('us_store_cfg') as unknown as StoreConfigNode;
    const page = await cfg.store.readings({ device: 'pack-boiler', limit: 100 });
    assert.equal(page.readings.length, 41);
  });
});
