import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { AckBatch, collectAcks, installAckHook, stopCollecting } from '../../nodes/lib/mqtt/acks';

// The mqtt-packet copy MQTT.js loads, as MQTT.js calls it (through the module's property).
const mqttPacket = createRequire(require.resolve('mqtt'))('mqtt-packet') as {
  writeToStream(packet: object, stream: Writable, opts?: object): boolean;
  generate(packet: object, opts?: object): Buffer;
};

/** A stream that records each write it gets, as MQTT.js's socket would send them. */
function recorder(): { stream: Writable; writes: Buffer[]; bytes: () => Buffer } {
  const writes: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, writes, bytes: () => Buffer.concat(writes) };
}

/** What mqtt-packet itself puts on the wire for these packets, one after the other. */
function wire(packets: object[], opts?: object): Buffer {
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p, opts)));
}

const flushed = () => new Promise((r) => setImmediate(r));

test('PUBACKs of a turn reach the socket as one write, byte for byte what mqtt-packet writes, in the order given', async () => {
  installAckHook();
  const { stream, writes, bytes } = recorder();
  const acks = [1, 2, 300, 65535, 7].map((messageId) => ({ cmd: 'puback', messageId }));
  const batch = new AckBatch(2); // grows past its first room
  collectAcks(stream, batch);
  for (const a of acks) assert.equal(mqttPacket.writeToStream(a, stream, { protocolVersion: 4 }), true);
  await flushed();
  assert.equal(writes.length, 0, 'nothing is sent while the turn is open');
  assert.equal(batch.size, 5);
  stopCollecting(stream, true);
  await flushed();
  assert.equal(writes.length, 1);
  assert.deepEqual(bytes(), wire(acks));
});

test('MQTT 5: a PUBACK with reason code 0 is batched; one with another code or properties is written by mqtt-packet, after the batched ones', async () => {
  installAckHook();
  const v5 = { protocolVersion: 5 };
  const { stream, bytes } = recorder();
  collectAcks(stream, new AckBatch());
  const packets = [
    { cmd: 'puback', messageId: 1, reasonCode: 0 },
    { cmd: 'puback', messageId: 2, reasonCode: 0x10 },
    { cmd: 'puback', messageId: 3, reasonCode: 0 },
    { cmd: 'puback', messageId: 4, reasonCode: 0, properties: { reasonString: 'ok' } },
    { cmd: 'puback', messageId: 5 },
    { cmd: 'puback', messageId: 6, reasonCode: 0 },
  ];
  for (const p of packets) mqttPacket.writeToStream(p, stream, v5);
  stopCollecting(stream, true);
  await flushed();
  assert.deepEqual(bytes(), wire(packets, v5));
});

test('another packet written during a turn goes out after the PUBACKs collected before it', async () => {
  installAckHook();
  const { stream, bytes } = recorder();
  collectAcks(stream, new AckBatch());
  const packets = [
    { cmd: 'puback', messageId: 10 },
    { cmd: 'pubrec', messageId: 11 },
    { cmd: 'puback', messageId: 12 },
    { cmd: 'pingreq' },
    { cmd: 'puback', messageId: 13 },
  ];
  for (const p of packets) mqttPacket.writeToStream(p, stream, { protocolVersion: 4 });
  stopCollecting(stream, true);
  await flushed();
  assert.deepEqual(bytes(), wire(packets));
});

test('a turn whose journal write failed sends none of its PUBACKs, and later ones are written as usual', async () => {
  installAckHook();
  const { stream, bytes } = recorder();
  collectAcks(stream, new AckBatch());
  mqttPacket.writeToStream({ cmd: 'puback', messageId: 20 }, stream, { protocolVersion: 4 });
  mqttPacket.writeToStream({ cmd: 'puback', messageId: 21 }, stream, { protocolVersion: 4 });
  stopCollecting(stream, false);
  await flushed();
  assert.equal(bytes().length, 0);
  // No batch on the stream any more: mqtt-packet writes it itself.
  mqttPacket.writeToStream({ cmd: 'puback', messageId: 22 }, stream, { protocolVersion: 4 });
  await flushed();
  assert.deepEqual(bytes(), wire([{ cmd: 'puback', messageId: 22 }]));
});

test('a stream without a batch is written by mqtt-packet unchanged, and installing twice wraps once', async () => {
  installAckHook();
  const hooked = mqttPacket.writeToStream;
  installAckHook();
  assert.equal(mqttPacket.writeToStream, hooked);
  const { stream, bytes } = recorder();
  const packets = [{ cmd: 'puback', messageId: 30 }, { cmd: 'puback', messageId: 31 }];
  for (const p of packets) mqttPacket.writeToStream(p, stream, { protocolVersion: 4 });
  await flushed();
  assert.deepEqual(bytes(), wire(packets));
});
