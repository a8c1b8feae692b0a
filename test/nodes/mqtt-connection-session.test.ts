/**
 * upperstack-mqtt-connection with a persistent session on Debian's mosquitto:
 * what devices publish while Node-RED restarts or redeploys an input is queued
 * by the broker and arrives once the input is back; deleting an input, or
 * changing its topic, gives the old subscription up. A retained message is
 * taken once, when it is published, not again each time the session subscribes.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt, { type MqttClient } from 'mqtt';
import { settleReceipts, type Receipt } from '../../nodes/lib/journal/receipts';
import { registerSettlingType } from '../../nodes/shared/settlement';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { removeTempDir, tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-connection/mqtt-connection'), require('../../nodes/mqtt-in/mqtt-in')];

helper.init(require.resolve('node-red'));
registerSettlingType('helper');

interface Msg {
  payload: Buffer | Buffer[];
  upperstack?: { receipts: Receipt[] };
}

const dataDir = tempDir('us-mqtt-session-');
let mosquitto: Mosquitto;
let device: MqttClient;

before(async () => {
  mosquitto = await startMosquitto({ persistence: true });
  helper.settings({ upperstack: { dataDir } });
  await helper.startServer();
  device = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosquitto.port}`, { clientId: 'session-device', reconnectPeriod: 0 });
});
after(async () => {
  await device.endAsync();
  await helper.stopServer();
  await mosquitto.stop();
  removeTempDir(dataDir);
});
afterEach(async () => {
  await helper.unload();
});

function flow(clientId: string, topic = 'plant/{device}/telemetry', protocolVersion: 4 | 5 = 4): Array<Record<string, unknown>> {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'conn', type: 'upperstack-mqtt-connection', url: `mqtt://127.0.0.1:${mosquitto.port}`, clientId, protocolVersion, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic, qos: 1, format: 'auto', configVersion: 2, wires: [['out'], []] },
    { id: 'out', type: 'helper', z: 'tab' },
  ];
}

/**
 * A deploy of the changed nodes only, as the editor's default "Modified Nodes". Through the runtime
 * the helper loaded: the helper's own setFlows gives up when flows:started takes over 300 ms.
 */
async function deploy(nodesOfFlow: Array<Record<string, unknown>>): Promise<void> {
  const red = (helper as unknown as { _redNodes: { setFlows(f: unknown[], creds: object, type: string): Promise<unknown> } })._redNodes;
  await red.setFlows(nodesOfFlow, {}, 'nodes');
}

const collected = new WeakMap<object, string[]>();

/** Every payload the input sends on from now (batches flattened), settled as the store would; one list per helper node. */
function collect(): string[] {
  const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
  const known = collected.get(out);
  if (known) return known;
  const got: string[] = [];
  collected.set(out, got);
  out.on('input', (msg: Msg) => {
    for (const p of Array.isArray(msg.payload) ? msg.payload : [msg.payload]) got.push(String(p));
    settleReceipts(msg.upperstack?.receipts);
  });
  return got;
}

async function eventually(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Publishes until the input has one through, so its subscription is known to be in place. */
async function subscribed(got: string[], topic: string): Promise<void> {
  const probe = `{"probe":${Date.now()}}`;
  const end = performance.now() + 30_000;
  while (!got.includes(probe)) {
    if (performance.now() > end) throw new Error('the input never received its probe');
    await device.publishAsync(topic, probe, { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a QoS 1 message published while Node-RED was stopped arrives once it is back: the session kept the subscription', async () => {
  await helper.load(nodes, flow('us-session-restart'));
  await subscribed(collect(), 'plant/p1/telemetry');
  await helper.unload();

  // The broker acknowledges it to the device while nobody is connected for the session.
  await device.publishAsync('plant/p1/telemetry', '{"t":"while-away"}', { qos: 1 });

  await helper.load(nodes, flow('us-session-restart'));
  const got = collect();
  await eventually(() => got.includes('{"t":"while-away"}'), `the message sent while away (got ${JSON.stringify(got)})`);
});

test('a steady stream through a redeploy of the input alone: every message arrives', async () => {
  await helper.load(nodes, flow('us-session-redeploy'));
  const got = collect();
  await subscribed(got, 'plant/p2/telemetry');
  let sent = 0;
  let publishing = true;
  const stream = (async () => {
    while (publishing) {
      await device.publishAsync('plant/p2/telemetry', `{"n":${++sent}}`, { qos: 1 });
    }
  })();
  await eventually(() => got.some((p) => p.startsWith('{"n":')), 'the stream to flow');
  // A changed input (its name) is closed and started again; the connection stays.
  const changed = flow('us-session-redeploy').map((n) => (n.id === 'in' ? { ...n, name: 'renamed' } : n));
  await deploy(changed);
  // The helper node was not changed: the same one collects on.
  assert.equal(collect(), got);
  const before = got.length;
  await eventually(() => got.slice(before).some((p) => p.startsWith('{"n":')), 'the stream after the redeploy');
  publishing = false;
  await stream;
  const missing = () => {
    const all = new Set(got);
    return [...Array(sent).keys()].map((i) => `{"n":${i + 1}}`).filter((p) => !all.has(p));
  };
  await eventually(() => missing().length === 0, `all ${sent} messages`).catch(() => assert.deepEqual(missing(), [], `of ${sent} messages`));
});

test('an input deleted in a deploy gives its topic up', async () => {
  await helper.load(nodes, flow('us-session-delete'));
  await subscribed(collect(), 'plant/p3/telemetry');
  // Deleted: the connection stays (the flow still has it), the subscription goes.
  await deploy(flow('us-session-delete').filter((n) => n.id !== 'in'));
  await device.publishAsync('plant/p3/telemetry', '{"t":"after-delete"}', { qos: 1 });
  await deploy(flow('us-session-delete'));
  const got = collect();
  await subscribed(got, 'plant/p3/telemetry');
  assert.ok(!got.includes('{"t":"after-delete"}'), `nothing is queued for a deleted input: ${JSON.stringify(got)}`);
});

test('an input whose topic changed in a deploy gives the old topic up', async () => {
  await helper.load(nodes, flow('us-session-topic'));
  const got = collect();
  await subscribed(got, 'plant/p4/telemetry');
  await deploy(flow('us-session-topic', 'hall/{device}/telemetry'));
  const now = collect();
  await subscribed(now, 'hall/h1/telemetry');
  await device.publishAsync('plant/p4/telemetry', '{"t":"old-topic"}', { qos: 1 });
  await device.publishAsync('hall/h1/telemetry', '{"t":"new-topic"}', { qos: 1 });
  await eventually(() => now.includes('{"t":"new-topic"}'), 'the new topic');
  assert.ok(![...got, ...now].includes('{"t":"old-topic"}'), 'the old topic is not subscribed');
});

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? '5' : '3.1.1'}: a retained publish is taken once, not again when the input subscribes after a restart`, async () => {
    const clientId = `us-session-retained-${version}`;
    const topic = `plant/r${version}/telemetry`;
    const inputFlow = () => flow(clientId, undefined, version);
    // Kept by the broker from before the input ever subscribed: not a reading that reached Upperstack.
    await device.publishAsync(topic, '{"t":"before"}', { qos: 1, retain: true });
    await helper.load(nodes, inputFlow());
    const first = collect();
    await subscribed(first, topic);
    await device.publishAsync(topic, '{"t":"live"}', { qos: 1, retain: true });
    await subscribed(first, topic);
    assert.deepEqual(first.filter((p) => p.startsWith('{"t"')), ['{"t":"live"}']);
    await helper.unload();

    // Published while Node-RED is stopped: the session queues it, and it is also the topic's retained message now.
    await device.publishAsync(topic, '{"t":"while-away"}', { qos: 1, retain: true });
    await helper.load(nodes, inputFlow());
    const again = collect();
    // Twice: the input's subscription is renewed once the connection is up, and the broker sends retained messages then.
    await subscribed(again, topic);
    await subscribed(again, topic);
    assert.deepEqual(again.filter((p) => p.startsWith('{"t"')), ['{"t":"while-away"}']);
  });
}
