/**
 * The MQTT 5 receive maximum of upperstack-mqtt-connection: announced in
 * CONNECT (the broker sends at most that many unacknowledged messages), absent
 * with 0 or on MQTT 3.1.1. Against the embedded broker (aedes, in this process),
 * which records what each client announced.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import type { AedesClient } from '../../nodes/lib/broker/aedes-types';
import { registerSettlingType } from '../../nodes/shared/settlement';
import { removeTempDir, tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-connection/mqtt-connection'), require('../../nodes/mqtt-in/mqtt-in')];

helper.init(require.resolve('node-red'));
registerSettlingType('helper');

const dataDir = tempDir('us-mqtt-window-');
let broker: EmbeddedMqttBroker;
let port = 0;
const seen = new Map<string, AedesClient>();

before(async () => {
  broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
  await broker.start();
  port = broker.addresses.tcp;
  (broker as unknown as { aedes: { on(e: 'clientReady', fn: (c: AedesClient) => void): void } }).aedes.on('clientReady', (c) => seen.set(c.id, c));
  helper.settings({ upperstack: { dataDir } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  await broker.stop();
  removeTempDir(dataDir);
});
afterEach(async () => {
  await helper.unload();
});

async function connectWith(clientId: string, conn: Record<string, unknown>): Promise<AedesClient> {
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'conn', type: 'upperstack-mqtt-connection', url: `mqtt://127.0.0.1:${port}`, clientId, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, ...conn },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, wires: [['out'], []] },
    { id: 'out', type: 'helper', z: 'tab' },
  ]);
  const end = performance.now() + 30_000;
  while (!seen.get(clientId)?.connected) {
    if (performance.now() > end) throw new Error(`${clientId} did not connect`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return seen.get(clientId)!;
}

test('an MQTT 5 connection announces its receive maximum; a version 1 config gets 100', async () => {
  assert.equal((await connectWith('us-window-a', { protocolVersion: 5, receiveMaximum: 250, configVersion: 2 })).receiveMaximum, 250);
  await helper.unload();
  assert.equal((await connectWith('us-window-b', { protocolVersion: 5, configVersion: 1 })).receiveMaximum, 100);
});

test('receive maximum 0 and MQTT 3.1.1 announce none: the broker keeps its own window', async () => {
  const zero = await connectWith('us-window-c', { protocolVersion: 5, receiveMaximum: 0, configVersion: 2 });
  assert.equal(zero.version, 5);
  assert.ok(zero.receiveMaximum === undefined || zero.receiveMaximum === 65535, `announced ${zero.receiveMaximum}`);
  await helper.unload();
  const v4 = await connectWith('us-window-d', { protocolVersion: 4, receiveMaximum: 250, configVersion: 2 });
  assert.equal(v4.version, 4);
  assert.ok(v4.receiveMaximum === undefined || v4.receiveMaximum === 65535, `announced ${v4.receiveMaximum}`);
});
