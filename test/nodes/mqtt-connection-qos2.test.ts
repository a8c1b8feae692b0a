/**
 * QoS 2 from an external broker: a copy the broker resends (DUP) before its
 * PUBREL is answered with PUBREC and journaled once, not twice.
 *
 * The broker here is a small scripted MQTT server (mqtt-packet) rather than
 * mosquitto: mosquitto resends an unacknowledged QoS 2 PUBLISH only after a
 * reconnect, and only when our PUBREC was lost on the way, which a test cannot
 * bring about at a chosen moment. The script sends the copy right after the first
 * PUBREC, the way a broker does whose retry timer fired just before that PUBREC
 * arrived.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import * as mqttPacket from 'mqtt-packet';
import { settleReceipts, type Receipt } from '../../nodes/lib/journal/receipts';
import { registerSettlingType } from '../../nodes/shared/settlement';
import { removeTempDir, tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-connection/mqtt-connection'), require('../../nodes/mqtt-in/mqtt-in')];

helper.init(require.resolve('node-red'));
registerSettlingType('helper');

type Pkt = mqttPacket.Packet & Record<string, unknown>;

/** One connection of the scripted broker: what our client sent, in order, and a way to answer. */
interface Session {
  send(p: Record<string, unknown>): void;
  next(cmd: string): Promise<Pkt>;
}

const dataDir = tempDir('us-mqtt-qos2-');
let server: Server;
let port = 0;
let session: Promise<Session>;
let opened: (s: Session) => void = () => undefined;
const sockets = new Set<Socket>();

before(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const queue: Pkt[] = [];
    const waiting: Array<{ cmd: string; resolve: (p: Pkt) => void }> = [];
    const s: Session = {
      send: (p) => socket.write(mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: 4 })),
      next: (cmd) => {
        const i = queue.findIndex((p) => p.cmd === cmd);
        if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
        return new Promise((resolve) => waiting.push({ cmd, resolve }));
      },
    };
    parser.on('packet', (packet) => {
      const p = packet as Pkt;
      if (p.cmd === 'connect') return s.send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      if (p.cmd === 'subscribe') {
        s.send({ cmd: 'suback', messageId: p.messageId, granted: (p.subscriptions as unknown[]).map(() => 2) });
        return opened(s);
      }
      if (p.cmd === 'pingreq') return s.send({ cmd: 'pingresp' });
      // As a broker does: DISCONNECT ends the connection (the client's close waits for that).
      if (p.cmd === 'disconnect') return void socket.end();
      const w = waiting.findIndex((x) => x.cmd === p.cmd);
      if (w >= 0) waiting.splice(w, 1)[0].resolve(p);
      else queue.push(p);
    });
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
  helper.settings({ upperstack: { dataDir } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  removeTempDir(dataDir);
});
afterEach(async () => {
  await helper.unload();
});

/** Everything the input's journal holds on disk. */
function journalText(nodeId: string): string {
  const dir = join(dataDir, 'journal', nodeId);
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');
}

test('a QoS 2 copy resent before PUBREL gets PUBREC again and is journaled and sent on once', async () => {
  session = new Promise((r) => (opened = r));
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'conn', type: 'upperstack-mqtt-connection', url: `mqtt://127.0.0.1:${port}`, clientId: 'us-qos2', protocolVersion: 4, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 2, format: 'auto', configVersion: 2, wires: [['out'], []] },
    { id: 'out', type: 'helper', z: 'tab' },
  ]);
  const received: Array<{ payload: unknown; upperstack?: { receipts: Receipt[] } }> = [];
  (helper.getNode('out') as unknown as NodeJS.EventEmitter).on('input', (msg: { payload: unknown; upperstack?: { receipts: Receipt[] } }) => {
    received.push(msg);
    settleReceipts(msg.upperstack?.receipts);
  });
  const broker = await session;
  const marker = 'resent-once-7f3a';
  const publish = { cmd: 'publish', topic: 'devices/d1/telemetry', payload: Buffer.from(`{"v":1,"tag":"${marker}"}`), qos: 2, messageId: 7, retain: false };

  broker.send({ ...publish, dup: false });
  assert.equal((await broker.next('pubrec')).messageId, 7);
  // The copy, with the same packet id, before the broker has sent PUBREL.
  broker.send({ ...publish, dup: true });
  assert.equal((await broker.next('pubrec')).messageId, 7, 'the copy is acknowledged too');
  broker.send({ cmd: 'pubrel', messageId: 7 });
  assert.equal((await broker.next('pubcomp')).messageId, 7);

  // A later message with the same id after PUBREL is a new one.
  const second = { ...publish, payload: Buffer.from('{"v":2}'), dup: false };
  broker.send(second);
  assert.equal((await broker.next('pubrec')).messageId, 7);
  broker.send({ cmd: 'pubrel', messageId: 7 });
  await broker.next('pubcomp');
  const end = performance.now() + 30_000;
  while (received.length < 2 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));

  assert.equal(journalText('in').split(marker).length - 1, 1, 'the resent copy is not journaled again');
  const sent = received.map((m) => String(m.payload));
  assert.equal(sent.length, 2, sent.join('\n'));
  assert.ok(sent[0].includes(marker) && sent[1] === '{"v":2}', sent.join('\n'));
});

test('a broker that stops answering does not hold up a redeploy: the connection is dropped when its close has waited long enough', async () => {
  session = new Promise((r) => (opened = r));
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    // A clean session: closing the input unsubscribes, and this broker never sends the UNSUBACK.
    { id: 'conn', type: 'upperstack-mqtt-connection', url: `mqtt://127.0.0.1:${port}`, clientId: 'us-mute', protocolVersion: 4, persistent: false, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, wires: [[], []] },
  ]);
  await session;
  assert.equal(sockets.size, 1);
  await helper.unload();
  // MQTT.js's graceful end waits for every answer; Node-RED gives up on the close after 15 s and leaves it open.
  const end = performance.now() + 30_000;
  while (sockets.size > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.equal(sockets.size, 0, 'the connection is closed');
});
