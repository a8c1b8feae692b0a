/**
 * PUBACKs the embedded broker writes: one per QoS 1 publish, in the order the
 * publishes came (MQTT-4.6.0-2), and those of one tick in one write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mqttPacket, type Packet } from '../helpers/aedes-packet';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';


async function session(port: number, protocolVersion: 4 | 5, count: number, topic: (i: number) => string) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  let reads = 0;
  parser.on('packet', (p) => packets.push(p));
  socket.on('data', (b) => {
    reads++;
    parser.parse(b);
  });
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 3000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ok(), 'the broker answered');
  };
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId: `puback-${protocolVersion}`, clean: true, keepalive: 60 }, { protocolVersion }));
  await until(() => packets.some((p) => p.cmd === 'connack'));
  reads = 0;
  // All publishes in one write, so aedes reads them together and acknowledges them in the same turns.
  const publishes = [];
  for (let i = 1; i <= count; i++) publishes.push(mqttPacket.generate({ cmd: 'publish', topic: topic(i), payload: Buffer.from(`{"v":${i}}`), qos: 1, messageId: i, retain: false, dup: false }, { protocolVersion }));
  socket.write(Buffer.concat(publishes));
  await until(() => packets.filter((p) => p.cmd === 'puback').length === count);
  const acks = packets.filter((p) => p.cmd === 'puback');
  socket.destroy();
  return { acks, reads };
}

test('QoS 1 publishes are acknowledged each once, in order, over MQTT 3.1.1 and 5 (refusals keep their reason code)', async () => {
  const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
  await broker.start();
  const delivered: string[] = [];
  broker.subscribe('devices/+/telemetry', (p, ack) => {
    delivered.push(p.topic);
    // Acknowledged a turn later, as the journal does.
    setImmediate(ack);
  });
  try {
    for (const version of [4, 5] as const) {
      const { acks, reads } = await session(broker.addresses.tcp, version, 200, (i) => `devices/d${i % 7}/telemetry`);
      assert.deepEqual(
        acks.map((a) => a.messageId),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.ok(acks.every((a) => (a.reasonCode ?? 0) === 0));
      // Written a tick at a time, not one by one.
      assert.ok(reads < 100, `${reads} reads for 200 PUBACKs`);
    }
    const refused = await session(broker.addresses.tcp, 5, 3, (i) => (i === 2 ? '$SYS/x' : `devices/r${i}/telemetry`));
    assert.deepEqual(
      // aedes answers a refusal at once, before the accepted ones before it: compared by message id.
      refused.acks.map((a) => [a.messageId, a.reasonCode ?? 0]).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0)),
      [
        [1, 0],
        [2, 0x87],
        [3, 0],
      ],
    );
  } finally {
    await broker.stop();
  }
});
