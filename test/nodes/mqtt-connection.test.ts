/**
 * upperstack-mqtt-in through upperstack-mqtt-connection, against a real MQTT
 * broker (aedes, in this process, on a free port). The broker's 'ack' event shows
 * when our client's PUBACK arrives, so the test can check that every
 * acknowledged message was already in the journal on disk.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { settleReceipts, type Receipt } from '../../nodes/lib/journal/receipts';
import { registerSettlingType } from '../../nodes/shared/settlement';
import { tempDir } from '../helpers/temp';
import { checkHealth } from '../../nodes/shared/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-connection/mqtt-connection'), require('../../nodes/mqtt-in/mqtt-in')];

helper.init(require.resolve('node-red'));
// The helper nodes stand in for the store: they settle what they receive (the tests call settleReceipts).
registerSettlingType('helper');

interface Msg {
  payload: Buffer;
  device?: string;
  upperstack?: { receipts: Receipt[] };
}

interface AckEvents {
  on(event: 'ack', fn: (packet: { payload: Buffer | string }) => void): void;
}

const dataDir = tempDir('us-mqtt-conn-');

/** Everything the input's journal holds on disk right now. */
function journalText(nodeId: string): string {
  const dir = join(dataDir, 'journal', nodeId);
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');
}

/** Counts write(2) calls that carry `marker` (journal writes of our payloads). */
function countWrites(marker: string, failNext = 0): { count: () => number; restore: () => void } {
  const original = fs.writeSync;
  let n = 0;
  let failures = failNext;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buf: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(buf) && buf.includes(marker)) {
      if (failures > 0) {
        failures--;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      n++;
    }
    return (original as (...a: unknown[]) => number)(fd, buf, ...rest);
  };
  return { count: () => n, restore: () => ((fs as { writeSync: unknown }).writeSync = original) };
}

describe('upperstack-mqtt-in on an external broker', () => {
  let broker: EmbeddedMqttBroker;
  let port = 0;
  let loaded = 0;
  before(async () => {
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
    await broker.start();
    port = broker.addresses.tcp;
    helper.settings({ upperstack: { dataDir } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
    await broker.stop();
  });
  afterEach(async () => {
    await helper.unload();
  });

  function acks(): AckEvents {
    return (broker as unknown as { aedes: AckEvents }).aedes;
  }

  async function load(marks = { highWater: 0, lowWater: 0 }, settle = (_msg: Msg) => true): Promise<{ inId: string; received: Msg[]; connected: Promise<void> }> {
    const inId = `ext-in-${++loaded}`;
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'conn', type: 'upperstack-mqtt-connection', url: `mqtt://127.0.0.1:${port}`, clientId: `us-test-${loaded}`, protocolVersion: 4, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
      { id: inId, type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, ...marks, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const received: Msg[] = [];
    const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
    out.on('input', (msg: Msg) => {
      received.push(msg);
      if (settle(msg)) settleReceipts(msg.upperstack?.receipts);
    });
    const input = helper.getNode(inId) as unknown as NodeJS.EventEmitter & { status: (s: { fill?: string }) => void };
    // The subscription is in place once the status turns green.
    const connected = new Promise<void>((resolve) => {
      const original = input.status.bind(input);
      input.status = (s) => {
        if (s.fill === 'green') resolve();
        original(s);
      };
    });
    return { inId, received, connected };
  }

  const until = async (cond: () => boolean, what: string, ms = 30_000) => {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  test('an empty broker URL (a flow naming an unset environment variable) turns the connection red saying so', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'conn', type: 'upperstack-mqtt-connection', url: '', clientId: 'us-test-empty', protocolVersion: 4, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
      { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, wires: [[], []] },
    ]);
    const conn = helper.getNode('conn') as unknown as { error: { args: unknown[][] } };
    // The test runtime has no locale loaded: the message reads as its key there.
    assert.ok(conn.error.args.some((a) => /upperstack-mqtt-connection\.errors\.urlEmpty|broker URL is empty/.test(String(a[0]))), JSON.stringify(conn.error.args));
    assert.ok(!conn.error.args.some((a) => /Missing protocol/.test(String(a[0]))));
  });

  test('a login in the broker URL (UPPERSTACK_MQTT_URL=mqtt://user:password@host) is used, and /health never shows its password', async () => {
    const logins: Array<{ username?: string; password?: string }> = [];
    const aedes = (broker as unknown as { aedes: { authenticate: unknown } }).aedes;
    const original = aedes.authenticate;
    // Refused, so /health describes the connection by its URL (its "connected" line is a bare locale key here).
    aedes.authenticate = (_client: unknown, username: string | undefined, password: Buffer | undefined, done: (err: Error & { returnCode?: number }, ok: boolean) => void) => {
      logins.push({ username, password: password?.toString() });
      done(Object.assign(new Error('refused'), { returnCode: 4 }), false);
    };
    try {
      await helper.load(nodes, [
        { id: 'tab', type: 'tab', label: 'test' },
        { id: 'conn', type: 'upperstack-mqtt-connection', name: 'userinfo', url: `mqtt://ups:s3cret-pw@127.0.0.1:${port}`, clientId: 'us-test-userinfo', protocolVersion: 4, persistent: false, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
        { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, wires: [[], []] },
      ]);
      await until(() => logins.length > 0, 'the connection to log in');
      assert.deepEqual(logins[0], { username: 'ups', password: 's3cret-pw' });
      let detail = '';
      for (const end = performance.now() + 30_000; !detail.includes('127.0.0.1'); await new Promise((r) => setTimeout(r, 20))) {
        if (performance.now() > end) throw new Error(`timed out waiting for the connection in /health (${detail})`);
        detail = (await checkHealth())['mqtt:userinfo']?.detail ?? '';
      }
      assert.match(detail, /^mqtt:\/\/ups:\*\*\*@127\.0\.0\.1:\d+: /);
      assert.doesNotMatch(detail, /s3cret-pw/);
    } finally {
      aedes.authenticate = original;
    }
  });

  test('every PUBACK reaches the broker after its message is in the journal, and a burst takes fewer writes than messages', async () => {
    const { inId, received, connected } = await load();
    await connected;
    await new Promise((r) => setTimeout(r, 100));
    const marker = 'burst-';
    const writes = countWrites(marker);
    const notJournaledAtAck: string[] = [];
    let acked = 0;
    acks().on('ack', (p) => {
      const body = String(p.payload);
      if (!body.includes(marker)) return;
      acked++;
      if (!journalText(inId).includes(body)) notJournaledAtAck.push(body);
    });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'us-test-pub', reconnectPeriod: 0 });
    try {
      const total = 200;
      await Promise.all(Array.from({ length: total }, (_, i) => pub.publishAsync(`devices/d${i % 5}/telemetry`, `{"v":${i},"tag":"${marker}${i}"}`, { qos: 1 })));
      await until(() => received.length === total && acked === total, `${total} messages and PUBACKs (got ${received.length}, ${acked})`);
      assert.deepEqual(notJournaledAtAck, [], 'no PUBACK before the journal write');
      assert.ok(writes.count() < total, `messages arriving together share journal writes (${writes.count()} writes for ${total})`);
      assert.deepEqual(new Set(received.map((m) => JSON.parse(String(m.payload)).v)).size, total);
    } finally {
      writes.restore();
      await pub.endAsync();
    }
  });

  test('when the journal cannot be written, no PUBACK goes out; the broker resends and the message arrives once the disk recovers', async () => {
    const { inId, received, connected } = await load();
    await connected;
    await new Promise((r) => setTimeout(r, 100));
    const marker = 'disk-full-';
    const writes = countWrites(marker, 1);
    const ackedBodies: string[] = [];
    const notJournaledAtAck: string[] = [];
    acks().on('ack', (p) => {
      const body = String(p.payload);
      if (!body.includes(marker)) return;
      ackedBodies.push(body);
      if (!journalText(inId).includes(body)) notJournaledAtAck.push(body);
    });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'us-test-pub2', reconnectPeriod: 0 });
    try {
      const body = `{"v":1,"tag":"${marker}1"}`;
      await pub.publishAsync('devices/x/telemetry', body, { qos: 1 });
      // MQTT.js reconnects after 2 s; the persistent session makes the broker resend.
      await until(() => received.some((m) => String(m.payload) === body), 'the resent message');
      assert.equal(writes.count(), 1, 'written once the disk took it');
      assert.deepEqual(ackedBodies, [body], 'acknowledged once, after the successful write');
      assert.deepEqual(notJournaledAtAck, []);
    } finally {
      writes.restore();
      await pub.endAsync();
    }
  });

  test('an ack held by backpressure is not sent when the turn it came in could not be journaled', async () => {
    // Pause at 1 unsettled message: the first one is kept unsettled, so the next one's ack is held.
    let held: Msg | undefined;
    const { inId, received, connected } = await load({ highWater: 1, lowWater: 0 }, (msg) => {
      if (held || !String(msg.payload).includes('first')) return true;
      held = msg;
      return false;
    });
    await connected;
    await new Promise((r) => setTimeout(r, 100));
    const marker = 'held-';
    const ackedBodies: string[] = [];
    const notJournaledAtAck: string[] = [];
    acks().on('ack', (p) => {
      const body = String(p.payload);
      if (!body.includes(marker)) return;
      ackedBodies.push(body);
      if (!journalText(inId).includes(body)) notJournaledAtAck.push(body);
    });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'us-test-pub3', reconnectPeriod: 0 });
    const first = `{"v":1,"tag":"${marker}first"}`;
    const second = `{"v":2,"tag":"${marker}second"}`;
    try {
      await pub.publishAsync('devices/x/telemetry', first, { qos: 1 });
      await until(() => held !== undefined, 'the first message');
      const writes = countWrites(`${marker}second`, 1);
      try {
        await pub.publishAsync('devices/x/telemetry', second, { qos: 1 });
        // The failed write drops the connection; settling the first message now releases the held ack.
        await until(() => writes.count() === 0 && ackedBodies.length === 1, 'the first PUBACK');
        await new Promise((r) => setTimeout(r, 50));
        settleReceipts(held!.upperstack?.receipts);
        await until(() => received.some((m) => String(m.payload) === second), 'the resent second message');
        await until(() => ackedBodies.length === 2, 'the second PUBACK');
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        writes.restore();
      }
      assert.deepEqual(ackedBodies, [first, second], 'each acknowledged once');
      assert.deepEqual(notJournaledAtAck, [], 'no PUBACK before the journal write');
    } finally {
      await pub.endAsync();
    }
  });
});
