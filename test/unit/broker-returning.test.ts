/**
 * An MQTT input restarted by a deploy unsubscribes from the embedded broker and subscribes again. A device's
 * QoS 1 publish between the two must not be acknowledged with nobody to journal it: it waits, and the input
 * that comes back gets it before the PUBACK goes. One that does not come back is let go when the deploy is over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';

const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 3000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
};

test('a publish while an input restarts reaches the input that comes back, then is acknowledged', async () => {
  const b = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
  await b.start();
  const before: string[] = [];
  const after: string[] = [];
  // Another in-process subscriber that stays: it shows that the broker has the publish.
  const watcher: string[] = [];
  b.subscribe('devices/#', (p, ack) => {
    watcher.push(p.payload.toString());
    ack();
  });
  const unsubscribe = b.subscribe('devices/+/telemetry', (p, ack) => {
    before.push(p.payload.toString());
    ack();
  });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.addresses.tcp}`, { clientId: 'returning-device', reconnectPeriod: 0 });
  try {
    await client.publishAsync('devices/d1/telemetry', 'r1', { qos: 1 });
    // Node-RED closes the input with removed = false: it is started again.
    unsubscribe(false);
    let acked = false;
    const sent = client.publishAsync('devices/d1/telemetry', 'r2', { qos: 1 }).then(() => (acked = true));
    await until(() => watcher.includes('r2'), 'the broker has r2');
    b.subscribe('devices/+/telemetry', (p, ack) => {
      after.push(p.payload.toString());
      ack();
    });
    await sent;
    assert.ok(acked);
    assert.deepEqual(before, ['r1']);
    assert.deepEqual(after, ['r2'], 'the restarted input journals what came while it was away');

    // An input that does not come back (disabled, another topic): once the deploy is over the publish goes on.
    const gone = b.subscribe('devices/+/status', (_p, ack) => ack());
    gone(false);
    const unheard = client.publishAsync('devices/d1/status', 's1', { qos: 1 });
    await until(() => watcher.includes('s1'), 'the broker has s1');
    b.releaseReturning();
    await unheard;
  } finally {
    await client.endAsync();
    await b.stop();
  }
});
