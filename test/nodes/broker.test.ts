/**
 * The broker node as a pack deploys it: placeholders for variables that are not
 * set (a pack imported into a runtime started without Upperstack's settings)
 * fall back to the defaults instead of failing to start.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { findBroker } from '../../nodes/shared/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const brokerNode = require('../../nodes/broker/broker');

helper.init(require.resolve('node-red'));

before(async () => {
  helper.settings({ upperstack: { dataDir: mkdtempSync(join(tmpdir(), 'us-broker-node-')) } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

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
