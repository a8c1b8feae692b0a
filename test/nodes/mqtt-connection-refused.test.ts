/**
 * upperstack-mqtt-connection when the broker refuses the connection in its CONNACK: a refused MQTT
 * version (nats-server's MQTT listener answers an MQTT 5 CONNECT so) is said in the status, the log
 * and /health and not retried; any other refusal is retried like a broker that is down.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import helper from 'node-red-node-test-helper';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { checkHealth } from '../../nodes/shared/runtime';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-connection/mqtt-connection'), require('../../nodes/mqtt-in/mqtt-in')];

helper.init(require.resolve('node-red'));

/** What nats-server answers an MQTT 5 CONNECT: a 3.1.1 CONNACK, return code 1 (unacceptable protocol version). */
const CONNACK_VERSION_REFUSED = Buffer.from([0x20, 0x02, 0x00, 0x01]);
/** How often the connection retries a broker that is down (mqtt-connection.ts). */
const RECONNECT_MS = 2000;

const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 20_000) => {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

function flow(url: string, protocolVersion: 4 | 5) {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'conn', type: 'upperstack-mqtt-connection', name: 'refusing', url, clientId: 'us-test-refused', protocolVersion, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 2, receiveMaximum: 100 },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, wires: [[], []] },
  ];
}

/** Every status the input has shown (the test helper records each call). */
function statuses(): Array<{ fill?: string; text?: string }> {
  const input = helper.getNode('in') as unknown as { status: { args: Array<[{ fill?: string; text?: string }]> } };
  return input.status.args.map((a) => a[0]);
}

describe('upperstack-mqtt-connection refused by the broker', () => {
  const dataDir = tempDir('us-mqtt-refused-');
  before(async () => {
    helper.settings({ upperstack: { dataDir } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  test('a broker that refuses MQTT 5 (nats-server) turns the connection red saying to use 3.1.1, in the log and /health, and is not asked again', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.once('data', () => s.end(CONNACK_VERSION_REFUSED));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await helper.load(nodes, flow(`mqtt://127.0.0.1:${port}`, 5));
      const conn = helper.getNode('conn') as unknown as { error: { args: unknown[][] }; warn: { args: unknown[][] } };
      // The test runtime has no locale loaded: the message reads as its key there.
      await until(() => conn.error.args.some((a) => String(a[0]).includes('upperstack-mqtt-connection.errors.versionRefused5')), 'the refused version in the log');
      // Two retry periods: a retry would have connected again by now.
      await new Promise((r) => setTimeout(r, 2 * RECONNECT_MS + 500));
      assert.equal(sockets.length, 1, 'the broker was asked once');
      const seen = statuses();
      const last = seen[seen.length - 1];
      assert.equal(last.fill, 'red');
      assert.match(String(last.text), /versionRefused5/);
      assert.ok(!conn.warn.args.some((a) => /Unacceptable protocol version/.test(String(a[0]))), 'not the bare CONNACK text');
      const health = (await checkHealth())['mqtt:refusing'];
      assert.equal(health?.ok, false);
      assert.match(String(health?.detail), /versionRefused5/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('with a shared subscription (a cluster member), a broker that refuses MQTT 5 is said to lack what the subscription needs', async () => {
    const server: Server = createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end(CONNACK_VERSION_REFUSED));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const nodesFlow = flow(`mqtt://127.0.0.1:${port}`, 5);
      (nodesFlow[2] as Record<string, unknown>).group = 'members';
      await helper.load(nodes, nodesFlow);
      const conn = helper.getNode('conn') as unknown as { error: { args: unknown[][] } };
      await until(() => conn.error.args.some((a) => String(a[0]).includes('upperstack-mqtt-connection.errors.versionRefusedShared')), 'the refused version in the log');
      assert.ok(!conn.error.args.some((a) => String(a[0]).includes('versionRefused5')), 'not advice to use 3.1.1');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('a broker that answers "server unavailable" while it starts is asked again, and the input subscribes once it accepts', async () => {
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
    await broker.start();
    const aedes = (broker as unknown as { aedes: { authenticate: unknown } }).aedes;
    let attempts = 0;
    aedes.authenticate = (_client: unknown, _username: unknown, _password: unknown, done: (err: (Error & { returnCode?: number }) | null, ok: boolean) => void) => {
      attempts++;
      if (attempts === 1) done(Object.assign(new Error('starting'), { returnCode: 3 }), false);
      else done(null, true);
    };
    try {
      await helper.load(nodes, flow(`mqtt://127.0.0.1:${broker.addresses.tcp}`, 4));
      await until(() => statuses().some((s) => s.fill === 'green'), 'the connection to be accepted on a retry');
      assert.ok(attempts >= 2, `asked ${attempts} times`);
    } finally {
      await helper.unload();
      await broker.stop();
    }
  });
});
