/**
 * The embedded broker when an in-process subscriber cannot make a publish durable (its journal cannot be
 * written: a full disk). aedes reads a client's next packet only once the last one is answered, and a device
 * does not resend on a live connection, so the connection is closed: the device reconnects and resends what
 * was not acknowledged, and once the subscriber can take messages again every publish is acknowledged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

for (const protocolVersion of [4, 5] as const) {
  for (const qos of [1, 2] as const) {
    test(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}, QoS ${qos}: publishes the subscriber cannot make durable close the connection, and are acknowledged after the device resends them`, async () => {
      const errors: string[] = [];
      const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' }, { onClientError: (_id, err) => errors.push(err.message) });
      await broker.start();
      const disk = { full: true };
      const journaled = new Set<string>();
      broker.subscribe('devices/+/telemetry', (p, ack, fail) => {
        // A turn later, as the journal's write.
        setImmediate(() => {
          if (disk.full) return fail();
          journaled.add(p.payload.toString());
          ack();
        });
      });
      const client = mqtt.connect(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion, clientId: `undurable-${protocolVersion}-${qos}`, reconnectPeriod: 50 });
      const disconnects: number[] = [];
      let closes = 0;
      client.on('disconnect', (packet) => disconnects.push(packet.reasonCode ?? 0));
      client.on('close', () => closes++);
      try {
        await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
        const acked: string[] = [];
        for (let i = 0; i < 5; i++) {
          client.publish('devices/d1/telemetry', `{"v":${i}}`, { qos }, (err) => {
            if (!err) acked.push(String(i));
          });
        }
        await until(() => closes >= 1, 'the connection is closed while the subscriber fails');
        if (protocolVersion === 5) assert.equal(disconnects[0], 0x89, 'MQTT 5 is told the server is busy');
        assert.deepEqual(acked, []);
        assert.ok(errors.some((e) => e.includes('could not be made durable')), errors.join('; '));
        disk.full = false;
        await until(() => acked.length === 5, `all publishes acknowledged once the subscriber takes them (${acked.length})`);
        assert.equal(journaled.size, 5);
      } finally {
        client.end(true);
        await broker.stop();
      }
    });
  }
}

test('a QoS 0 publish the subscriber cannot make durable closes the connection instead of stopping it for good', async () => {
  const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
  await broker.start();
  const disk = { full: true };
  const got: string[] = [];
  broker.subscribe('devices/+/telemetry', (p, ack, fail) => {
    setImmediate(() => {
      if (disk.full) return fail();
      got.push(p.payload.toString());
      ack();
    });
  });
  const client = mqtt.connect(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { clientId: 'undurable-qos0', reconnectPeriod: 50 });
  let closes = 0;
  client.on('close', () => closes++);
  try {
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    client.publish('devices/d1/telemetry', 'lost', { qos: 0 });
    await until(() => closes >= 1, 'the connection is closed');
    disk.full = false;
    await until(() => client.connected, 'the device is connected again');
    client.publish('devices/d1/telemetry', 'after', { qos: 0 });
    await until(() => got.includes('after'), 'the next connection is served');
  } finally {
    client.end(true);
    await broker.stop();
  }
});
