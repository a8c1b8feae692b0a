/**
 * The broker node as a pack deploys it: placeholders for variables that are not
 * set (a pack imported into a runtime started without Upperstack's settings)
 * fall back to the defaults instead of failing to start.
 * Sessions as the broker node keeps them, and as /health counts them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { checkHealth, findBroker } from '../../nodes/shared/runtime';
import { frozenSubscriber } from '../helpers/frozen-subscriber';
import { eventually, freePort } from '../helpers/runtime';
import { fresh } from '../helpers/editor-templates';
import { catalogTranslator, translating, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const brokerNode = require('../../nodes/broker/broker');

helper.init(require.resolve('node-red'));

useTestRuntime('us-broker-node-');

test('an unset ${UPPERSTACK_BIND} placeholder means loopback, and the broker accepts devices', async () => {
  assert.equal(process.env.UPPERSTACK_TEST_NEVER_SET, undefined);
  delete process.env.UPPERSTACK_BIND;
  await helper.load(brokerNode, [
    { id: 'b1', type: 'upperstack-broker', port: '0', bind: '${UPPERSTACK_TEST_NEVER_SET}', wsPort: '${UPPERSTACK_TEST_NEVER_SET}', configVersion: 1, wires: [[]] },
  ]);
  let port = 0;
  for (let i = 0; i < 200 && !port; i++) {
    port = findBroker('b1')?.addresses().tcp ?? 0;
    if (!port) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(port > 0, 'the broker started');
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  await client.endAsync();
  assert.deepEqual(Object.keys(findBroker('b1')!.addresses()), ['tcp'], 'no WebSocket listener from an unset placeholder');
});

async function tcpPort(id: string): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const port = findBroker(id)?.addresses().tcp;
    if (port) return port;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the broker did not start');
}

test('a broker as the palette adds it listens on the runtime\'s MQTT port, as the default pack\'s broker', async () => {
  const port = await freePort();
  const before = process.env.UPPERSTACK_MQTT_PORT;
  process.env.UPPERSTACK_MQTT_PORT = String(port);
  try {
    await helper.load(brokerNode, [{ ...fresh('upperstack-broker', {}), id: 'b0', type: 'upperstack-broker', bind: '127.0.0.1', wires: [[]] }]);
    assert.equal(await tcpPort('b0'), port);
    await helper.unload();
  } finally {
    if (before === undefined) delete process.env.UPPERSTACK_MQTT_PORT;
    else process.env.UPPERSTACK_MQTT_PORT = before;
  }
});

test('the MQTT 5 limits set on the node reach the clients (CONNACK), a v1 node gets the defaults', async () => {
  await helper.load(brokerNode, [{ id: 'b2', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', maxPacketKb: 1, receiveMaximum: 7, maxQueued: 10, configVersion: 2, wires: [[]] }]);
  const port = await tcpPort('b2');
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  const connack = await new Promise<{ properties?: Record<string, unknown> }>((r) => c.once('connect', (p) => r(p as { properties?: Record<string, unknown> })));
  c.end(true);
  assert.equal(connack.properties?.maximumPacketSize, 1024);
  assert.equal(connack.properties?.receiveMaximum, 7);
  await helper.unload();

  await helper.load(brokerNode, [{ id: 'b3', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', wsPort: '', tlsPort: '', tlsKey: '', tlsCert: '', configVersion: 1, wires: [[]] }]);
  const port3 = await tcpPort('b3');
  const d = mqtt.connect(`mqtt://127.0.0.1:${port3}`, { protocolVersion: 5, reconnectPeriod: 0 });
  const connack3 = await new Promise<{ properties?: Record<string, unknown> }>((r) => d.once('connect', (p) => r(p as { properties?: Record<string, unknown> })));
  d.end(true);
  assert.equal(connack3.properties?.maximumPacketSize, 16 * 1024 * 1024);
  assert.equal(connack3.properties?.receiveMaximum, 1000);
});

test('a persistent session and its queued message outlive a redeploy of the broker node', async () => {
  const flow = [{ id: 'b4', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 2, wires: [[]] }];
  await helper.load(brokerNode, flow);
  const port = await tcpPort('b4');
  const url = `mqtt://127.0.0.1:${port}`;
  const dev = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'redeploy-dev', properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
  await dev.subscribeAsync('devices/redeploy-dev/commands/#', { qos: 1 });
  await dev.endAsync();
  const app = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await app.publishAsync('devices/redeploy-dev/commands/reboot', 'now', { qos: 1 });
  await app.endAsync();
  await helper.unload();

  // The same node (same id) on the same port, as after a redeploy or a restart of Node-RED.
  await helper.load(brokerNode, [{ ...flow[0], port: String(port) }]);
  await tcpPort('b4');
  const back = mqtt.connect(url, { protocolVersion: 5, clientId: 'redeploy-dev', clean: false, reconnectPeriod: 0 });
  const got: string[] = [];
  back.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
  const connack = await new Promise<{ sessionPresent: boolean }>((r) => back.once('connect', (p) => r(p as { sessionPresent: boolean })));
  try {
    assert.equal(connack.sessionPresent, true);
    for (let i = 0; i < 3000 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ['devices/redeploy-dev/commands/reboot=now']);
  } finally {
    back.end(true);
  }
});

/** The broker node's line in /health once it matches `re` (or the last one seen, after 30 s). */
async function healthDetail(id: string, re: RegExp): Promise<string> {
  let detail = '';
  for (let i = 0; i < 3000; i++) {
    detail = (await checkHealth())[`broker:${id}`]?.detail ?? '';
    if (re.test(detail)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return detail;
}

test('MQTT 5: a session resumed with Session Expiry 0 gets its queue and ends when that connection closes (/health agrees)', async () => {
  await helper.load(brokerNode, [{ id: 'b5', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', configVersion: 2, wires: [[]] }]);
  const url = `mqtt://127.0.0.1:${await tcpPort('b5')}`;
  const opts = { protocolVersion: 5 as const, clientId: 'exp0-dev', reconnectPeriod: 0 };
  const dev = await mqtt.connectAsync(url, { ...opts, properties: { sessionExpiryInterval: 3600 } });
  await dev.subscribeAsync('devices/exp0-dev/commands/#', { qos: 1 });
  await dev.endAsync();
  const app = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await app.publishAsync('devices/exp0-dev/commands/reboot', 'queued', { qos: 1 });
  assert.match(await healthDetail('b5', /, 1 queued/), /, 1 persistent sessions, 1 queued messages/);

  // Back without a Session Expiry of its own (0): the session it resumes still delivers what waited.
  const back = mqtt.connect(url, { ...opts, clean: false });
  const got: string[] = [];
  back.on('message', (_t, p) => got.push(p.toString()));
  const connack = await new Promise<{ sessionPresent: boolean }>((r) => back.once('connect', (p) => r(p as { sessionPresent: boolean })));
  assert.equal(connack.sessionPresent, true);
  for (let i = 0; i < 3000 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, ['queued']);
  await back.endAsync();
  assert.match(await healthDetail('b5', / 1 clients/), / 1 clients/, 'the broker saw it go');

  // Session Expiry 0: the session ended with that connection, nothing is kept or queued for it.
  await app.publishAsync('devices/exp0-dev/commands/reboot', 'after the session ended', { qos: 1 });
  await app.endAsync();
  assert.match(await healthDetail('b5', / 0 clients/), /, 0 persistent sessions, 0 queued messages/);
  const again = mqtt.connect(url, { ...opts, clean: false });
  const later: string[] = [];
  again.on('message', (_t, p) => later.push(p.toString()));
  const connack2 = await new Promise<{ sessionPresent: boolean }>((r) => again.once('connect', (p) => r(p as { sessionPresent: boolean })));
  // A round trip, so that anything still queued would have been delivered by now.
  await again.subscribeAsync('nothing/here', { qos: 1 });
  await again.endAsync();
  assert.equal(connack2.sessionPresent, false, 'no session is left to resume');
  assert.deepEqual(later, []);
});

test('a subscriber cut off for falling behind is named in the Node-RED log, with the limit and the setting', async () => {
  // The test runtime has no catalogues: the broker's own one, so the line is read as an operator reads it.
  const translated = translating(catalogTranslator(['broker']));
  await helper.load([brokerNode, translated], [{ id: 'b9', type: 'upperstack-broker', port: '0', bind: '127.0.0.1', maxBehindKb: 64, configVersion: 4, wires: [[]] }]);
  const port = await tcpPort('b9');
  const b = helper.getNode('b9') as unknown as NodeJS.EventEmitter;
  const warnings: string[] = [];
  b.on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0])));
  // Device data is not for anonymous subscribers: a topic of the lab's own.
  const sub = await frozenSubscriber(port, 'lab/+/load');
  sub.on('error', () => undefined);
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  try {
    const body = Buffer.alloc(16 * 1024, 0x31);
    // Until the socket's buffers in the kernel are full and 64 KiB more wait in the broker (a few MiB on loopback).
    for (let i = 0; i < 4096 && !warnings.some((w) => /frozen was disconnected/.test(w)); i++) await device.publishAsync('lab/busy/load', body, { qos: 1 });
    const line = await eventually(async () => warnings.find((w) => /frozen was disconnected/.test(w)), 30_000, 'the log line of the cut-off');
    assert.match(line, /^broker limit: frozen was disconnected: it fell \d+ bytes behind reading its messages \(at most 65536; the broker's "slow subscriber" setting\)/);
  } finally {
    sub.destroy();
    await device.endAsync();
  }
});
