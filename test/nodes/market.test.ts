/**
 * The market and grant nodes in Node-RED: readings in, live readings and
 * 1-minute means out on the embedded broker (an MQTT.js subscriber) and the
 * means on the output; a grant without a device registry, or without a client,
 * fails the message so Catch nodes see it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { findBroker } from '../../nodes/shared/runtime';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const brokerNode = require('../../nodes/broker/broker');
const marketNode = require('../../nodes/market/market');
const grantNode = require('../../nodes/grant/grant');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

useTestRuntime('us-market-node-');

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

test('readings of the chosen device go out live and as 1-minute means; others are passed over', async () => {
  await helper.load([brokerNode, marketNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 2, wires: [[]] },
    { id: 'm1', type: 'upperstack-market', broker: 'b1', device: 'plug1', configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  let port = 0;
  for (let i = 0; i < 500 && !port; i++) {
    port = findBroker('b1')?.addresses().tcp ?? 0;
    if (!port) await new Promise((r) => setTimeout(r, 10));
  }
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5 });
  try {
    const got: Array<{ topic: string; body: Record<string, unknown>; retain: boolean }> = [];
    client.on('message', (topic, payload, packet) => got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain }));
    await client.subscribeAsync('market/plug1/1m', { qos: 1 });
    const out = new Promise<Record<string, unknown>>((resolve) => helper.getNode('out')!.once('input', resolve));
    const m = helper.getNode('m1')!;
    m.receive({ payload: [{ device: 'plug1', ts: T0, fields: { w: 2 }, tags: { customer: 'acme' } }, { device: 'other', ts: T0, fields: { w: 1000 }, tags: {} }, { device: 'plug1', ts: T0 + 30_000, fields: { w: 4 }, tags: {} }] });
    m.receive({ payload: { device: 'plug1', ts: T0 + 60_000, fields: { w: 9 }, tags: {} } });
    const msg = await out;
    assert.equal(msg.topic, 'market/plug1/1m');
    assert.deepEqual(msg.payload, { device: 'plug1', ts: T0, fields: { w: 3 }, tags: { window: '1m' } });
    for (let i = 0; i < 1500 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got.map((g) => g.body), [{ device: 'plug1', ts: T0, end: T0 + 60_000, fields: { w: 3 }, n: { w: 2 } }]);
    // Retained for later subscribers.
    const later = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
    const retained = new Promise<{ topic: string; retain: boolean }>((resolve) => later.once('message', (topic, _p, packet) => resolve({ topic, retain: packet.retain })));
    await later.subscribeAsync('market/+/1m');
    assert.deepEqual(await retained, { topic: 'market/plug1/1m', retain: true });
    await later.endAsync();
  } finally {
    await client.endAsync();
  }
});

test('a bad payload and a grant without a registry or a client fail the message', async () => {
  await helper.load([brokerNode, marketNode, grantNode, catchNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 2, wires: [[]] },
    { id: 'm1', type: 'upperstack-market', broker: 'b1', device: '', configVersion: 1, wires: [[]] },
    { id: 'g1', type: 'upperstack-grant', device: 'plug1', minutes: '60', configVersion: 1, wires: [[]] },
    { id: 'c1', type: 'catch', scope: ['m1', 'g1'], wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ]);
  const errors: Array<{ source: string; message: string }> = [];
  (helper.getNode('caught') as unknown as NodeJS.EventEmitter).on('input', (msg: { error: { source: { id: string }; message: string } }) => errors.push({ source: msg.error.source.id, message: msg.error.message }));
  helper.getNode('m1')!.receive({ payload: 'not a reading' });
  helper.getNode('g1')!.receive({ payload: { client: 'john' } });
  for (let i = 0; i < 3000 && errors.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  const bySource = Object.fromEntries(errors.map((e) => [e.source, e.message]));
  assert.match(bySource.m1, /must be a Reading/);
  assert.match(bySource.g1, /ConfigError: (upperstack-grant.errors.noRegistry|no upperstack-devices node is deployed)/);
});
