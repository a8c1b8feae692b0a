/**
 * upperstack-mqtt-connection probing a shared subscription on a broker that has them (aedes, the embedded
 * broker's engine): the probe comes back, the input stays green and receives its messages, and nothing
 * is said about shared subscriptions (nats-server, which has none, is in test/integration/nats-broker.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { checkHealth } from '../../nodes/shared/runtime';
import { tempDir } from '../helpers/temp';
import { eventually } from '../helpers/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-connection/mqtt-connection'), require('../../nodes/mqtt-in/mqtt-in')];
helper.init(require.resolve('node-red'));

const dataDir = tempDir('us-mqtt-shared-');
let broker: EmbeddedMqttBroker;

before(async () => {
  broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
  await broker.start();
  helper.settings({ upperstack: { dataDir } });
  await helper.startServer();
});
after(async () => {
  await helper.unload();
  await helper.stopServer();
  await broker.stop();
});


type Aedes = NodeJS.EventEmitter & { authorizeForward: (client: unknown, packet: { topic: string }) => unknown };
const aedes = () => (broker as unknown as { aedes: Aedes }).aedes;

/**
 * The probe's subscriptions and unsubscriptions of plain topics as aedes takes them, in order ("+filter",
 * "-filter"). A `$share/...` one is taken by the embedded broker before aedes and is not seen here.
 */
function probeFilters(): { seen: string[]; off: () => void } {
  const seen: string[] = [];
  const onSub = (subs: Array<{ topic: string }>) => seen.push(...subs.filter((x) => x.topic.includes('share-probe')).map((x) => `+${x.topic}`));
  const onUnsub = (topics: string[]) => seen.push(...topics.filter((t) => t.includes('share-probe')).map((t) => `-${t}`));
  aedes().on('subscribe', onSub);
  aedes().on('unsubscribe', onUnsub);
  return { seen, off: () => void (aedes().off('subscribe', onSub), aedes().off('unsubscribe', onUnsub)) };
}

/** After the probe's waits: the connection reported nothing about shared subscriptions, /health is ok and the input green. */
async function nothingReported(connId: string, name: string, inputId: string): Promise<void> {
  const conn = helper.getNode(connId) as unknown as { error: { args: unknown[][] } };
  assert.ok(!conn.error.args.some((a) => /noSharedSubscriptions|delivered nothing/.test(String(a[0]))), JSON.stringify(conn.error.args));
  assert.equal((await checkHealth())[`mqtt:${name}`]?.ok, true);
  const input = helper.getNode(inputId) as unknown as { status: { args: Array<[{ fill?: string }]> } };
  assert.equal(input.status.args.at(-1)?.[0].fill, 'green');
}

test('on a broker with shared subscriptions the probe comes back: the input stays green and nothing is reported', async () => {
  const probes: string[] = [];
  aedes().on('publish', (packet: { topic: string }) => {
    if (packet.topic.startsWith('upperstack/share-probe/')) probes.push(packet.topic);
  });
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'conn', type: 'upperstack-mqtt-connection', name: 'sharing', url: `mqtt://127.0.0.1:${broker.addresses.tcp}`, clientId: 'us-test-shared', protocolVersion: 5, persistent: false, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 2, receiveMaximum: 100 },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', group: 'g', configVersion: 2, coalesce: true, wires: [['out'], []] },
    { id: 'out', type: 'helper', z: 'tab' },
  ]);
  await eventually(async () => (probes.length ? true : undefined), 20_000, 'the probe published');
  // Past the probe's wait (10 s): a probe that had not come back would have been reported by now.
  await new Promise((r) => setTimeout(r, 11_000));
  await nothingReported('conn', 'sharing', 'in');
  // The probe went to the connection, not to the input; a device's message still does.
  const received: unknown[] = [];
  (helper.getNode('out') as unknown as NodeJS.EventEmitter).on('input', (m) => received.push(m));
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion: 4 });
  await device.publishAsync('devices/s1/telemetry', '{"t":1,"ts":1767225600000}', { qos: 1 });
  await device.endAsync();
  await eventually(async () => (received.length ? true : undefined), 20_000, 'the device message');
  assert.equal(received.length, 1);
});

test('a broker that keeps the probe\'s topic from the login (an ACL giving it only the devices\' topics) leaves the input green: no verdict, nothing reported', async () => {
  await helper.unload();
  const allowed = aedes().authorizeForward;
  const dropped: string[] = [];
  const filters = probeFilters();
  const published: string[] = [];
  const onPublish = (packet: { topic: string }) => {
    if (packet.topic.startsWith('upperstack/share-probe/')) published.push(packet.topic);
  };
  aedes().on('publish', onPublish);
  // As mosquitto with an acl_file does over MQTT 3.1.1: SUBSCRIBE granted, PUBLISH acknowledged, nothing delivered.
  aedes().authorizeForward = (client, packet) => {
    if (packet.topic.startsWith('upperstack/share-probe/')) {
      dropped.push(packet.topic);
      return null;
    }
    return allowed(client, packet);
  };
  try {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'conn2', type: 'upperstack-mqtt-connection', name: 'acl', url: `mqtt://127.0.0.1:${broker.addresses.tcp}`, clientId: 'us-test-acl', protocolVersion: 4, persistent: false, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 2, receiveMaximum: 100 },
      { id: 'in2', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn2', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', group: 'g2', configVersion: 2, coalesce: true, wires: [[], []] },
    ]);
    await eventually(async () => (dropped.length ? true : undefined), 20_000, 'the probe kept from the login');
    // The plain step gives up after its 10 s wait and the probe ends there, with no verdict: before, a probe the
    // broker dropped was taken for a broker without shared subscriptions. A shared step would start in the same
    // turn (its SUBSCRIBE right behind the UNSUBSCRIBE, its PUBLISH once granted): a moment is left for the broker
    // to take them, then the probe has published once.
    const topic = 'upperstack/share-probe/us-test-acl';
    await eventually(async () => (filters.seen.includes(`-${topic}`) ? true : undefined), 30_000, `the plain step given up: ${filters.seen.join(', ')}`);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(filters.seen, [`+${topic}`, `-${topic}`]);
    assert.deepEqual(published, [topic], 'no shared step after a plain one that did not come back');
    await nothingReported('conn2', 'acl', 'in2');
  } finally {
    aedes().off('publish', onPublish);
    filters.off();
    aedes().authorizeForward = allowed;
  }
});
