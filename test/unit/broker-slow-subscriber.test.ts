/**
 * A subscriber that stops reading its socket (a crashed dashboard, a client on a dead link) must not hold
 * up the devices publishing: with aedes left to itself the publisher's next message waits until that
 * socket drains, so a frozen subscriber stalls every device's intake. Real clients on the embedded
 * broker: a raw TCP subscriber that never reads, and an MQTT.js device publishing at QoS 1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { SLOW_SUBSCRIBER_BYTES } from '../../nodes/lib/broker/connection';

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

/** CONNECT (MQTT 3.1.1, clean session, no keepalive) and SUBSCRIBE devices/+/telemetry at QoS 0, written by hand. */
function frozenSubscriber(port: number): Promise<Socket> {
  const id = Buffer.from('frozen');
  const connectBody = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0x02, 0, 0, 0, id.length]), id]);
  const filter = Buffer.from('devices/+/telemetry');
  const subBody = Buffer.concat([Buffer.from([0, 1, 0, filter.length]), filter, Buffer.from([0])]);
  const packet = (type: number, body: Buffer) => Buffer.concat([Buffer.from([type, body.length]), body]);
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(Buffer.concat([packet(0x10, connectBody), packet(0x82, subBody)])));
    s.once('error', reject);
    let seen = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      // CONNACK (4 bytes) then SUBACK (5 bytes): subscribed; from here on the socket is never read again.
      if (seen.length >= 9) {
        s.off('data', onData);
        s.pause();
        resolve(s);
      }
    };
    s.on('data', onData);
  });
}

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
