/**
 * A subscriber that stops reading its socket (a crashed dashboard, a client on a dead link) must not hold
 * up the devices publishing: with aedes left to itself the publisher's next message waits until that
 * socket drains, so a frozen subscriber stalls every device's intake. Real clients on the embedded
 * broker: a raw TCP subscriber that never reads, and an MQTT.js device publishing at QoS 1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { SLOW_SUBSCRIBER_BYTES } from '../../nodes/lib/broker/connection';
import { frozenSubscriber } from '../helpers/frozen-subscriber';

let broker: EmbeddedMqttBroker;
const problems: string[] = [];
let stored = 0;

before(async () => {
  broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' }, { onClientError: (_id, err) => problems.push(err.message) });
  await broker.start();
  broker.subscribe('devices/+/telemetry', (_p, ack) => {
    stored++;
    ack();
  });
});
after(async () => {
  await broker?.stop();
});

test('a subscriber that never reads is cut off once it falls behind; the devices publishing are never held up', async () => {
  const sub = await frozenSubscriber(broker.addresses.tcp);
  let closed = false;
  sub.on('close', () => (closed = true));
  sub.on('error', () => undefined);
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { reconnectPeriod: 0 });
  const body = Buffer.alloc(16 * 1024, 0x31);
  // Four times what the subscriber may fall behind, so without the cut-off the publisher waits for a drain.
  const n = Math.ceil((4 * SLOW_SUBSCRIBER_BYTES) / body.length);
  for (let i = 0; i < n; i++) await device.publishAsync('devices/busy/telemetry', body, { qos: 1 });
  assert.equal(stored, n, 'every message reached the intake and was acknowledged');
  assert.ok(problems.some((m) => /^frozen was disconnected: it fell \d+ bytes behind/.test(m)), problems.join('\n'));
  // Read now, the subscriber finds its connection closed by the broker.
  sub.resume();
  while (!closed) await new Promise((r) => setTimeout(r, 10));
  await device.endAsync();
});

test('with the limit off (0) a subscriber far behind stays connected and gets every message once it reads', async () => {
  const lenient = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', maxBehindBytes: 0 }, { onClientError: (_id, err) => problems.push(err.message) });
  await lenient.start();
  const before = problems.length;
  try {
    const sub = await frozenSubscriber(lenient.addresses.tcp);
    let closed = false;
    sub.on('close', () => (closed = true));
    sub.on('error', () => undefined);
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${lenient.addresses.tcp}`, { reconnectPeriod: 0 });
    const body = Buffer.alloc(16 * 1024, 0x32);
    const n = Math.ceil((2 * SLOW_SUBSCRIBER_BYTES) / body.length);
    for (let i = 0; i < n; i++) await device.publishAsync('devices/busy/telemetry', body, { qos: 1 });
    await device.endAsync();
    let received = 0;
    sub.on('data', (d: Buffer) => (received += d.length));
    sub.resume();
    const deadline = performance.now() + 60_000;
    while (received < n * body.length && !closed && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(closed, false, 'the subscriber was not cut off');
    assert.ok(received >= n * body.length, `read ${received} of at least ${n * body.length} bytes`);
    assert.deepEqual(problems.slice(before).filter((m) => /frozen was disconnected/.test(m)), []);
    sub.destroy();
  } finally {
    await lenient.stop();
  }
});

test('a negative or fractional limit is refused with a clear error', () => {
  assert.throws(() => new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', maxBehindBytes: -1 }), /slow subscriber limit must be a whole number of bytes, 0 for none/);
  assert.throws(() => new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', maxBehindBytes: 1.5 }), /slow subscriber limit/);
});
