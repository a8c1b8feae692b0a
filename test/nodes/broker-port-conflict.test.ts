/**
 * Two brokers on one MQTT port in one Node-RED: the default pack's broker beside a broker dropped from the
 * palette (both on `${UPPERSTACK_MQTT_PORT}`), as README's "In your own Node-RED" warns. One listens; the
 * other's error, status and /health name the broker node that has the port, so the user knows which of
 * the two to change, while the one listening keeps serving. A port another program holds says so instead.
 * A broker whose port is in use keeps trying, and listens once the port comes free; a redeploy stops it trying.
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

// Node-RED gives up on a node's close after 15 s by default and goes on: a close that waited for the port to come
// free would then go unseen. Here it holds up the redeploy, and the test fails.
useTestRuntime('us-broker-port-', { settings: () => ({ nodeCloseTimeout: 3_600_000 }) });

interface Call {
  thisValue: unknown;
  args: unknown[];
}
type Spied = Record<'error' | 'status' | 'log', { getCalls(): Call[] }>;

/** The helper spies on Node-RED's Node prototype: the calls made on node `id` alone. */
function callsOn(id: string, method: 'error' | 'status' | 'log'): unknown[][] {
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
    const named = `port ${port} on 127.0.0.1 is already in use by broker "${winnerName}" (${winner}) in this Node-RED: give one of them another port; trying again`;

    assert.deepEqual(callsOn(loser, 'error').map((a) => String(a[0])), [`the broker could not start: ${named}`]);
    const shown = callsOn(loser, 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
    assert.equal(shown?.fill, 'red');
    assert.equal(shown?.text, named);
    const health = await checkHealth();
    const entry = Object.entries(health).find(([k]) => k.startsWith('broker:') && k.includes(loser === 'us_broker' ? 'embedded broker' : 'lab broker'));
    assert.ok(entry, JSON.stringify(health));
    assert.equal(entry[1].ok, false);
    assert.equal(entry[1].detail, named);

    // The refusal can come before the other broker has finished starting (its persistence opens after the port).
    await eventually(async () => (findBroker(winner)?.addresses().tcp === port ? true : undefined), 20_000, 'the other broker started');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    await client.endAsync();
  });
});

/** A plain TCP listener on a free loopback port, as any other program on the machine holds one. */
async function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
  const other = createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as { port: number }).port;
  return { port, release: () => new Promise<void>((r) => other.close(() => r())) };
}

const brokerOn = (port: number) => [{ id: 'b', type: 'upperstack-broker', name: 'embedded broker', port: String(port), bind: '127.0.0.1', configVersion: 4, wires: [[]] }];

/** The broker's errors once it has said one. */
const errorsOf = (id: string) =>
  eventually(async () => {
    const calls = callsOn(id, 'error');
    return calls.length ? calls.map((a) => String(a[0])) : undefined;
  }, 20_000, 'the broker refused the port');

/** An MQTT client connects and has a QoS 1 publish acknowledged, trying until the broker listens. */
const publishes = (port: number, scheme = 'mqtt') =>
  eventually(async () => {
    const client = await mqtt.connectAsync(`${scheme}://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      await client.publishAsync('devices/d1/telemetry', '{"t":1}', { qos: 1 });
      return true;
    } finally {
      await client.endAsync();
    }
  }, 90_000, 'an MQTT client connected and published');

test('a port another program holds: the broker says so once, keeps trying, and serves once the port comes free', async () => {
  const held = await holdPort();
  let released = false;
  try {
    await helper.load(nodes, brokerOn(held.port));
    const inUse = `port ${held.port} on 127.0.0.1 is already in use by another program: stop it, or give this broker another port; trying again`;
    assert.deepEqual(await errorsOf('b'), [`the broker could not start: ${inUse}`]);
    const shown = callsOn('b', 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
    assert.equal(shown?.fill, 'red');
    assert.equal(shown?.text, inUse);
    assert.deepEqual((await checkHealth())['broker:embedded broker'], { ok: false, detail: inUse });

    await held.release();
    released = true;
    await publishes(held.port);
    const health = await checkHealth();
    assert.equal(health['broker:embedded broker']?.ok, true, JSON.stringify(health));
    assert.equal(callsOn('b', 'error').length, 1, 'the refusal is logged once, however often it was tried');
    assert.ok(callsOn('b', 'log').some((a) => String(a[0]) === `listening on 127.0.0.1:${held.port} after the port came free`), JSON.stringify(callsOn('b', 'log')));
    const now = callsOn('b', 'status').at(-1)?.[0] as { fill?: string } | undefined;
    assert.equal(now?.fill, 'green');
  } finally {
    if (!released) await held.release();
  }
});

test('a redeploy while the port is in use stops the old broker trying; the new one listens once the port comes free', { timeout: 180_000 }, async () => {
  const held = await holdPort();
  let released = false;
  try {
    await helper.load(nodes, brokerOn(held.port));
    await errorsOf('b');
    // The old broker's close ends its wait for the port, or this would wait as long as the port is held.
    await helper.unload();
    await helper.load(nodes, brokerOn(held.port));
    await errorsOf('b');
    await held.release();
    released = true;
    await publishes(held.port);
  } finally {
    if (!released) await held.release();
  }
});

test('a WebSocket port in use: the broker keeps trying it, /health failing, and serves MQTT over WebSocket once it comes free', async () => {
  const held = await holdPort();
  const tcp = await freePort();
  let released = false;
  try {
    await helper.load(nodes, [{ ...brokerOn(tcp)[0], wsPort: String(held.port) }]);
    const inUse = `port ${held.port} on 127.0.0.1 is already in use by another program: stop it, or give this broker another port; trying again`;
    assert.deepEqual(await errorsOf('b'), [`the broker could not start: ${inUse}`]);
    assert.deepEqual((await checkHealth())['broker:embedded broker'], { ok: false, detail: inUse });

    await held.release();
    released = true;
    await publishes(held.port, 'ws');
    await eventually(async () => ((await checkHealth())['broker:embedded broker']?.ok ? true : undefined), 20_000, 'the broker healthy');
    assert.equal(callsOn('b', 'error').length, 1);
  } finally {
    if (!released) await held.release();
  }
});
