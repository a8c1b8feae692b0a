/**
 * upperstack-simulate over MQTT with a largest message of its own: on the real
 * embedded broker, the batches its devices send are cut to stay within it, as
 * a decode node with that size limit needs; and old configs get the 1 MiB
 * they always kept to.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { simulateMigrations } from '../../nodes/simulate/options';
import { migrate } from '../../nodes/shared/config';
import { findBroker } from '../../nodes/shared/runtime';
import { eventually } from '../helpers/runtime';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/broker/broker'), require('../../nodes/simulate/simulate')];

helper.init(require.resolve('node-red'));

const LIMIT = 1024;

/** The node's last status (the helper spies on status() of every node at once). */
const statusOf = (id: string): unknown => {
  const node = helper.getNode(id) as unknown as { status: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> } };
  const own = node.status.getCalls().filter((c) => c.thisValue === node);
  return own[own.length - 1]?.args[0];
};
// A long id makes each reading about 250 bytes: a batch of five is over the limit.
const PREFIX = `${'s'.repeat(100)}-`;

describe('upperstack-simulate with a largest message', () => {
  useTestRuntime('us-sim-maxbytes-');

  test('devices whose messages are acknowledged slowly: every message, batches too, is within the limit', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'broker', type: 'upperstack-broker', z: 'tab', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
      { id: 'sim', type: 'upperstack-simulate', z: 'tab', broker: 'broker', target: 'embedded', devices: 20, rate: '100/s', mix: 'env:1', anomalies: 0, codec: 'json', prefix: PREFIX, autoStart: true, maxBytes: LIMIT, wires: [[], []] },
    ]);
    const sizes: number[] = [];
    const batched: number[] = [];
    // Every message the devices publish, as the broker hands it to a subscriber in this runtime.
    const broker = await eventually(async () => findBroker('broker'), 10_000, 'the broker');
    broker.subscribe('devices/+/telemetry', (p, ack) => {
      const raw = Buffer.from(p.payload);
      sizes.push(raw.length);
      const body: unknown = JSON.parse(raw.toString());
      if (Array.isArray(body)) batched.push(body.length);
      // A slow acknowledgement, as from a busy pipeline: a device keeps its readings meanwhile and sends them as a batch.
      setTimeout(ack, 100);
    });
    // Batches of several readings must have formed, or the limit was never put to the test.
    await eventually(async () => (batched.some((n) => n >= 2) && sizes.length >= 100 ? true : undefined), 30_000, 'batches from the devices').catch((e: Error) => { throw new Error(`${e.message}: ${sizes.length} messages, batches of ${[...new Set(batched)].join(', ')}; ${JSON.stringify(statusOf('sim'))}`); });
    assert.ok(Math.max(...sizes) <= LIMIT, `largest message ${Math.max(...sizes)} bytes, over ${LIMIT}; batches of ${[...new Set(batched)].join(', ')}`);
  });
});

test('simulate v2 → v3 adds the largest MQTT message, 1 MiB (the decode node\'s default limit, which v2 kept to)', () => {
  const v2 = { devices: 5, rate: '1/s', target: 'mqtt', url: 'mqtt://h', register: false, configVersion: 2 };
  assert.deepEqual(migrate<Record<string, unknown>>(v2, simulateMigrations), { ...v2, maxBytes: 1048576, configVersion: 3 });
  assert.equal(migrate<{ maxBytes: number }>({ ...v2, maxBytes: '2048' }, simulateMigrations).maxBytes, 2048);
});
