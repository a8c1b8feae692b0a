/**
 * A QoS 1/2 PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE with packet identifier 0 breaks MQTT 3.1.1 [MQTT-2.3.1-1]
 * and MQTT 5 2.2.1: the embedded broker closes the connection (MQTT 5: DISCONNECT 0x82 Protocol Error) and
 * neither delivers nor acknowledges the message, nor anything sent after it in the same read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mqttPacket, type Packet } from '../helpers/aedes-packet';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { protocolViolation } from '../../nodes/lib/broker/refused-packets';


/** A QoS 1 PUBLISH as its bytes, packet identifier and all (MQTT 5 with an empty property list). */
function rawPublish(topic: string, payload: string, messageId: number, version: 4 | 5): Buffer {
  const t = Buffer.from(topic);
  const body = Buffer.concat([Buffer.from([t.length >> 8, t.length & 0xff]), t, Buffer.from([messageId >> 8, messageId & 0xff]), Buffer.from(version === 5 ? [0] : []), Buffer.from(payload)]);
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([0x32, body.length]), body]);
}

/** SUBSCRIBE (MQTT 3.1.1) to one filter at QoS 0. */
function rawSubscribe(filter: string, messageId: number): Buffer {
  const f = Buffer.from(filter);
  const body = Buffer.concat([Buffer.from([messageId >> 8, messageId & 0xff, f.length >> 8, f.length & 0xff]), f, Buffer.from([0])]);
  return Buffer.concat([Buffer.from([0x82, body.length]), body]);
}

async function client(port: number, version: 4 | 5, clientId: string) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  socket.on('data', (b) => parser.parse(b));
  const gone = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const until = async (ok: () => boolean, what: string) => {
    for (let i = 0; i < 3000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ok(), what);
  };
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 60 }, { protocolVersion: version }));
  await until(() => packets.some((p) => p.cmd === 'connack'), 'CONNACK');
  return { socket, packets, gone, until };
}

test('packet identifier 0 closes the connection and the message is neither delivered nor acknowledged', async () => {
  const problems: string[] = [];
  const b = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' }, { onProtocolError: (_id, err) => problems.push(err.message) });
  await b.start();
  const delivered: string[] = [];
  b.subscribe('devices/+/telemetry', (p, ack) => {
    delivered.push(p.payload.toString());
    ack();
  });
  try {
    for (const version of [4, 5] as const) {
      // The same connection's valid publish is taken: the check is on the identifier, not the client.
      const ok = await client(b.addresses.tcp, version, `pid-ok-${version}`);
      ok.socket.write(rawPublish('devices/pid/telemetry', `{"ok":${version}}`, 1, version));
      await ok.until(() => ok.packets.some((p) => p.cmd === 'puback' && p.messageId === 1), 'PUBACK 1');
      ok.socket.destroy();

      const bad = await client(b.addresses.tcp, version, `pid-zero-${version}`);
      // Identifier 0, then a valid one in the same write: neither is taken once the first broke the protocol.
      bad.socket.write(Buffer.concat([rawPublish('devices/pid/telemetry', `{"zero":${version}}`, 0, version), rawPublish('devices/pid/telemetry', `{"after":${version}}`, 2, version)]));
      await bad.gone;
      assert.deepEqual(bad.packets.filter((p) => p.cmd === 'puback'), [], `MQTT ${version}: no PUBACK`);
      if (version === 5) assert.deepEqual(bad.packets.filter((p) => p.cmd === 'disconnect').map((p) => p.reasonCode), [0x82]);
    }
    assert.deepEqual(delivered, ['{"ok":4}', '{"ok":5}']);
    assert.ok(problems.some((m) => /pid-zero-4 was disconnected: a QoS 1 PUBLISH with packet identifier 0/.test(m)), problems.join('\n'));

    const sub = await client(b.addresses.tcp, 4, 'pid-sub');
    sub.socket.write(rawSubscribe('elsewhere/#', 0));
    await sub.gone;
    assert.deepEqual(sub.packets.filter((p) => p.cmd === 'suback'), []);
  } finally {
    await b.stop();
  }
});

test('which packets need a non-zero identifier', () => {
  assert.equal(protocolViolation({ cmd: 'publish', qos: 0, messageId: 0 }), undefined);
  assert.equal(protocolViolation({ cmd: 'publish', qos: 1, messageId: 1 }), undefined);
  assert.match(protocolViolation({ cmd: 'publish', qos: 2, messageId: 0 }) ?? '', /QoS 2 PUBLISH with packet identifier 0/);
  assert.match(protocolViolation({ cmd: 'unsubscribe', messageId: 0 }) ?? '', /UNSUBSCRIBE with packet identifier 0/);
  assert.equal(protocolViolation({ cmd: 'pingreq' }), undefined);
});
