/**
 * The command node: a command reaches an MQTT device on devices/{device}/commands
 * through the embedded broker, and the CoAP observers of the device's board.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { findBroker } from '../../nodes/shared/runtime';
import { commandBoard, type Command } from '../../nodes/lib/inputs/commands';
import { commandMigrations } from '../../nodes/command/options';
import { migrate } from '../../nodes/shared/config';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const brokerNode = require('../../nodes/broker/broker');
const commandNode = require('../../nodes/command/command');

helper.init(require.resolve('node-red'));

useTestRuntime('us-command-node-');

test('a command is published to the MQTT device and pushed to the device\'s observers', async () => {
  await helper.load([brokerNode, commandNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'c1', type: 'upperstack-command', broker: 'b1', topic: 'devices/{device}/commands', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  let port = 0;
  for (let i = 0; i < 200 && !port; i++) {
    port = findBroker('b1')?.addresses().tcp ?? 0;
    if (!port) await new Promise((r) => setTimeout(r, 10));
  }
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  try {
    await client.subscribeAsync('devices/pump-7/commands', { qos: 1 });
    const got = new Promise<{ topic: string; payload: string }>((resolve) => client.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() })));
    const observed: Command[] = [];
    const stop = commandBoard.observe('pump-7', (c) => observed.push(c));
    const out = new Promise<Record<string, unknown>>((resolve) => helper.getNode('out')!.once('input', resolve));
    helper.getNode('c1')!.receive({ device: 'pump-7', payload: { valve: 'open', pct: 40 } });
    assert.deepEqual(await got, { topic: 'devices/pump-7/commands', payload: '{"valve":"open","pct":40}' });
    const msg = await out;
    assert.equal(msg.topic, 'devices/pump-7/commands');
    stop();
    assert.equal(observed.length, 1);
    assert.equal(observed[0].contentType, 'application/json');
    assert.equal(commandBoard.get('pump-7')?.payload.toString(), '{"valve":"open","pct":40}');
  } finally {
    await client.endAsync();
  }
});

test('a message without a device fails for Catch nodes; the device may come from the topic', async () => {
  await helper.load([commandNode], [
    { id: 'c1', type: 'upperstack-command', topic: '', configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const node = helper.getNode('c1')!;
  const failed = new Promise<unknown>((resolve) => node.once('call:error', (call: { args: unknown[] }) => resolve(call.args[0])));
  node.receive({ payload: 'reboot' });
  assert.match(String(await failed), /a command needs a device/);
  const out = new Promise<Record<string, unknown>>((resolve) => helper.getNode('out')!.once('input', resolve));
  node.receive({ topic: 'devices/valve-2/commands', payload: 'reboot' });
  assert.equal((await out).device, 'valve-2');
  assert.equal(commandBoard.get('valve-2')?.contentType, 'text/plain');
});

test('config v0 → v1', () => {
  assert.deepEqual(migrate({ name: 'x' }, commandMigrations), { name: 'x', broker: '', topic: 'devices/{device}/commands', qos: 1, configVersion: 1 });
  assert.equal(migrate({ qos: '0' }, commandMigrations).qos, 0);
});
