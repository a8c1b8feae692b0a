/**
 * Two brokers on one MQTT port in one Node-RED: the default pack's broker beside a broker dropped from the
 * palette (both on `${UPPERSTACK_MQTT_PORT}`), as README's "In your own Node-RED" warns. One listens; the
 * other's error, status and /health name the broker node that has the port, so the user knows which of
 * the two to change, while the one listening keeps serving. A port another program holds says so instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { checkHealth, findBroker } from '../../nodes/shared/runtime';
import { eventually, freePort } from '../helpers/runtime';
import { fresh } from '../helpers/editor-templates';
import { catalogTranslator, translating, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [translating(catalogTranslator(['broker'])), require('../../nodes/broker/broker')];

helper.init(require.resolve('node-red'));

useTestRuntime('us-broker-port-');

interface Call {
  thisValue: unknown;
  args: unknown[];
}
type Spied = Record<'error' | 'status', { getCalls(): Call[] }>;

/** The helper spies on Node-RED's Node prototype: the calls made on node `id` alone. */
function callsOn(id: string, method: 'error' | 'status'): unknown[][] {
  const node = helper.getNode(id) as unknown as Spied;
  return node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}

async function withMqttPort<T>(port: number, run: () => Promise<T>): Promise<T> {
  const before = process.env.UPPERSTACK_MQTT_PORT;
  process.env.UPPERSTACK_MQTT_PORT = String(port);
  try {
    return await run();
  } finally {
    if (before === undefined) delete process.env.UPPERSTACK_MQTT_PORT;
    else process.env.UPPERSTACK_MQTT_PORT = before;
  }
}

test('the default pack\'s broker and one from the palette on one port: the refused one names the other, which keeps serving', async () => {
  const port = await freePort();
  await withMqttPort(port, async () => {
    await helper.load(nodes, [
      { id: 'us_broker', type: 'upperstack-broker', name: 'embedded broker', port: '${UPPERSTACK_MQTT_PORT}', bind: '${UPPERSTACK_BIND}', configVersion: 4, wires: [[]] },
      { ...fresh('upperstack-broker', {}), id: 'dropped', type: 'upperstack-broker', name: 'lab broker', wires: [[]] },
    ]);
    const failed = await eventually(async () => {
      const errors = ['us_broker', 'dropped'].filter((id) => callsOn(id, 'error').length > 0);
      return errors.length > 0 ? errors : undefined;
    }, 20_000, 'one of the brokers refused the port');
    assert.equal(failed.length, 1, JSON.stringify(failed.map((id) => callsOn(id, 'error'))));
    const loser = failed[0];
    const winner = loser === 'us_broker' ? 'dropped' : 'us_broker';
    const winnerName = winner === 'us_broker' ? 'embedded broker' : 'lab broker';
    const named = `port ${port} on 127.0.0.1 is already in use by broker "${winnerName}" (${winner}) in this Node-RED: give one of them another port`;

    assert.deepEqual(callsOn(loser, 'error').map((a) => String(a[0])), [`the broker could not start: ${named}`]);
    const shown = callsOn(loser, 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
    assert.equal(shown?.fill, 'red');
    assert.equal(shown?.text, named);
    const health = await checkHealth();
    const entry = Object.entries(health).find(([k]) => k.startsWith('broker:') && k.includes(loser === 'us_broker' ? 'embedded broker' : 'lab broker'));
    assert.ok(entry, JSON.stringify(health));
    assert.equal(entry[1].ok, false);
    assert.equal(entry[1].detail, named);

    assert.equal(findBroker(winner)?.addresses().tcp, port);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    await client.endAsync();
  });
});

test('a port another program holds: the broker says another program has it, and how to go on', async () => {
  const other = createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as { port: number }).port;
  try {
    await helper.load(nodes, [{ id: 'b', type: 'upperstack-broker', name: 'embedded broker', port: String(port), bind: '127.0.0.1', configVersion: 4, wires: [[]] }]);
    const errors = await eventually(async () => {
      const calls = callsOn('b', 'error');
      return calls.length ? calls.map((a) => String(a[0])) : undefined;
    }, 20_000, 'the broker refused the port');
    assert.deepEqual(errors, [`the broker could not start: port ${port} on 127.0.0.1 is already in use by another program: stop it, or give this broker another port`]);
  } finally {
    other.close();
  }
});
