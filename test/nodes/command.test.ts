/**
 * The command node: a command reaches an MQTT device on devices/{device}/commands
 * through the embedded broker, and the CoAP observers of the device's board.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { EventEmitter } from 'node:events';
import mqtt from 'mqtt';
import { findBroker } from '../../nodes/shared/runtime';
import { commandBoard, type Command } from '../../nodes/lib/inputs/commands';
import { commandMigrations } from '../../nodes/command/options';
import { migrate } from '../../nodes/shared/config';
import { until, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const brokerNode = require('../../nodes/broker/broker');
const commandNode = require('../../nodes/command/command');

helper.init(require.resolve('node-red'));

useTestRuntime('us-command-node-');

/** The TCP port of the embedded broker `id` once it listens (it may take a while on a busy machine). */
async function brokerPort(id: string): Promise<number> {
  await until(() => !!findBroker(id)?.addresses().tcp, `broker ${id} listening`, 30_000);
  return findBroker(id)!.addresses().tcp!;
}

test('a command is published to the MQTT device and pushed to the device\'s observers', async () => {
  await helper.load([brokerNode, commandNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'c1', type: 'upperstack-command', broker: 'b1', topic: 'devices/{device}/commands', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${await brokerPort('b1')}`);
  try {
    await client.subscribeAsync('devices/pump-7/commands', { qos: 1 });
    const got = new Promise<{ topic: string; payload: string }>((resolve) => client.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() })));
    const observed: Command[] = [];
    const stop = commandBoard.observe('pump-7', (c) => observed.push(c));
    const out = outcome('c1', { device: 'pump-7', payload: { valve: 'open', pct: 40 } });
    assert.deepEqual(await got, { topic: 'devices/pump-7/commands', payload: '{"valve":"open","pct":40}' });
    assert.equal((await out).sent?.topic, 'devices/pump-7/commands');
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
  assert.match(String((await outcome('c1', { payload: 'reboot' })).message), /a command needs a device/);
  assert.equal((await outcome('c1', { topic: 'devices/valve-2/commands', payload: 'reboot' })).sent?.device, 'valve-2');
  assert.equal(commandBoard.get('valve-2')?.contentType, 'text/plain');
});

/** What became of a message sent to the command node: its error, or `sent`, the message as it went on to the node wired to it. */
let outcomes = 0;
function outcome(id: string, msg: Record<string, unknown>): Promise<{ code?: string; message?: string; sent?: Record<string, unknown> }> {
  const node = helper.getNode(id)! as unknown as EventEmitter & { receive(m: unknown): void };
  const out = helper.getNode('out')!;
  const result = new Promise<{ code?: string; message?: string; sent?: Record<string, unknown> }>((resolve) => {
    // Both listeners go once either is called: one left on 'out' would take the input meant for the next outcome.
    const stop = () => {
      out.removeListener('input', sent);
      node.removeListener('call:error', failed);
    };
    const sent = (m: Record<string, unknown>) => {
      stop();
      resolve({ sent: m });
    };
    const failed = (call: { args: [{ code?: string; message: string }, { _msgid?: string }?] }) => {
      // Only the error of this message (done(err) logs it with the message), not one the node logged at start.
      if (call.args[1]?._msgid !== msg._msgid) return;
      stop();
      resolve(call.args[0]);
    };
    out.on('input', sent);
    node.on('call:error', failed);
  });
  msg._msgid ??= `outcome-${++outcomes}`;
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
  await until(() => !!(findBroker('b1') && findBroker('b2')), 'both brokers running');
  const err = await outcome('c1', { device: 'two-1', payload: 'reboot' });
  // The helper runtime shows message keys, not their English.
  assert.match(String(err.message), /2 embedded brokers run: choose the one|errors\.brokerNotChosen/);
  assert.equal(commandBoard.get('two-1'), undefined);
});

/** The calls of `method` made on node `id` alone (the helper spies on Node-RED's Node prototype). */
function callsOn(id: string, method: 'error' | 'status'): unknown[][] {
  const node = helper.getNode(id) as unknown as Record<string, { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> }>;
  return node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}

test('a null payload fails with INVALID_READING: nothing is published nor pushed, and "" is the empty command', async () => {
  await helper.load([brokerNode, commandNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'c1', type: 'upperstack-command', broker: 'b1', topic: 'devices/{device}/commands', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${await brokerPort('b1')}`);
  const observed: Command[] = [];
  const stop = commandBoard.observe('null-1', (c) => observed.push(c));
  try {
    await client.subscribeAsync('devices/null-1/commands', { qos: 1 });
    const published: string[] = [];
    client.on('message', (_topic, payload) => published.push(payload.toString()));
    const err = await outcome('c1', { device: 'null-1', payload: null });
    assert.ok(!('sent' in err), 'null: sent');
    assert.equal(err.code, 'INVALID_READING');
    assert.equal(err.message, 'a command needs a payload: msg.payload is null (send "" for an empty command)');
    assert.equal(commandBoard.get('null-1'), undefined);
    // The empty text is a command: it is the first thing the device gets, so the null before it sent nothing.
    assert.equal((await outcome('c1', { device: 'null-1', payload: '' })).sent?.payload, '');
    await until(() => published.length > 0, 'the empty command published');
    assert.deepEqual(published, ['']);
    assert.deepEqual(observed.map((c) => [c.payload.toString(), c.contentType]), [['', 'text/plain']]);
  } finally {
    stop();
    await client.endAsync();
  }
});

test('a topic without {device} in a hand-written flow fails at start and on each message, publishing nothing', async () => {
  await helper.load([brokerNode, commandNode], [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'c1', type: 'upperstack-command', broker: 'b1', topic: 'devices/all/commands', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'c2', type: 'upperstack-command', broker: 'b1', topic: 'devices/{device}/#', qos: 1, configVersion: 1, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ]);
  const status = callsOn('c1', 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
  assert.equal(status?.fill, 'red');
  assert.match(String(status?.text), /the MQTT topic "devices\/all\/commands" has no \{device\}/);
  // The helper runtime shows message keys, not their English.
  assert.match(String(callsOn('c1', 'error')[0]?.[0]), /command settings: the MQTT topic|errors\.config/);
  const err = await outcome('c1', { device: 'all-1', payload: 'reboot' });
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(String(err.message), /has no \{device\}: every device's command would go to that one topic/);
  assert.equal(commandBoard.get('all-1'), undefined);
  const wild = await outcome('c2', { device: 'all-1', payload: 'reboot' });
  assert.equal(wild.code, 'CONFIG_INVALID');
  assert.match(String(wild.message), /has a wildcard/);
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
