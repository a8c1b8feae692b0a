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

/** What became of a message sent to the command node: its error, or `sent` once it went on to the node wired to it. */
function outcome(id: string, msg: Record<string, unknown>): Promise<{ code?: string; message?: string; sent?: true }> {
  const node = helper.getNode(id)!;
  const result = new Promise<{ code?: string; message?: string; sent?: true }>((resolve) => {
    helper.getNode('out')!.once('input', () => resolve({ sent: true }));
    node.once('call:error', (call: { args: Array<{ code?: string; message: string }> }) => resolve(call.args[0]));
  });
  node.receive(msg);
  return result;
}

test('a device id outside the id rule fails with BAD_DEVICE_ID and sets no command', async () => {
  await helper.load([commandNode], [
    { id: 'c1', type: 'upperstack-command', topic: '', configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  for (const device of ['temp sensor', 'x'.repeat(129), 'pump/7']) {
    const err = await outcome('c1', { device, payload: 'reboot' });
    assert.ok(!('sent' in err), `${device}: sent`);
    assert.equal(err.code, 'BAD_DEVICE_ID', device);
    assert.match(String(err.message), /is not a device id: use 1 to 128 letters, digits/);
    assert.equal(commandBoard.get(device), undefined);
  }
});

test('a msg.device that is not text fails saying so, with the id to send for a number', async () => {
  await helper.load([commandNode], [
    { id: 'c1', type: 'upperstack-command', topic: '', configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const num = await outcome('c1', { device: 42, payload: 'reboot' });
  assert.ok(!('sent' in num), 'a number: sent');
  assert.equal(num.code, 'INVALID_READING');
  assert.equal(String(num.message), 'msg.device must be the device id as text, not a number: send "42"');
  const obj = await outcome('c1', { device: { id: 'p1' }, payload: 'reboot' });
  assert.equal(String(obj.message), 'msg.device must be the device id as text, not an object');
  assert.equal(commandBoard.get('42'), undefined);
});

test('with an MQTT topic but no broker, the command fails and is not set for CoAP observers either', async () => {
  await helper.load([commandNode], [
    { id: 'c1', type: 'upperstack-command', broker: 'absent', topic: 'devices/{device}/commands', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const observed: Command[] = [];
  const stop = commandBoard.observe('nb-1', (c) => observed.push(c));
  try {
    const err = await outcome('c1', { device: 'nb-1', payload: 'reboot' });
    // The helper runtime shows message keys, not their English.
    assert.match(String(err.message), /broker chosen in this node \(absent\) is not running|errors\.brokerGone/);
    assert.deepEqual(observed, []);
    assert.equal(commandBoard.get('nb-1'), undefined);
  } finally {
    stop();
  }
});

test('with two brokers and none chosen, the failure says to choose one', async () => {
  await helper.load([brokerNode, commandNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'b2', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'c1', type: 'upperstack-command', broker: '', topic: 'devices/{device}/commands', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  for (let i = 0; i < 200 && !(findBroker('b1') && findBroker('b2')); i++) await new Promise((r) => setTimeout(r, 10));
  const err = await outcome('c1', { device: 'two-1', payload: 'reboot' });
  // The helper runtime shows message keys, not their English.
  assert.match(String(err.message), /2 embedded brokers run: choose the one|errors\.brokerNotChosen/);
  assert.equal(commandBoard.get('two-1'), undefined);
});

test('an observer that throws does not fail the command nor keep the others from it', () => {
  const got: string[] = [];
  const stopA = commandBoard.observe('thr-1', () => {
    throw new Error('socket closed');
  });
  const stopB = commandBoard.observe('thr-1', (c) => got.push(c.payload.toString()));
  try {
    commandBoard.set('thr-1', 'one');
    commandBoard.set('thr-1', 'two');
    assert.deepEqual(got, ['one', 'two']);
    assert.equal(commandBoard.observers('thr-1'), 1);
  } finally {
    stopA();
    stopB();
  }
});

test('config v0 → v1', () => {
  assert.deepEqual(migrate({ name: 'x' }, commandMigrations), { name: 'x', broker: '', topic: 'devices/{device}/commands', qos: 1, configVersion: 1 });
  assert.equal(migrate({ qos: '0' }, commandMigrations).qos, 0);
});
