/**
 * The embedded broker with real mqtt.js clients: MQTT 3.1.1 and 5 on TCP,
 * WebSocket and TLS, in-process delivery before PUBACK, and who may connect.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { freePort } from '../helpers/ports';

interface Got {
  topic: string;
  payload: string;
  qos: number;
  contentType?: string;
}

describe('embedded broker listeners and protocol versions', () => {
  let broker: EmbeddedMqttBroker;
  // A self-signed localhost pair valid for 100 years, so `npm test` needs no openssl binary.
  const tls = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');
  const key = join(tls, 'key.pem');
  const cert = join(tls, 'cert.pem');
  const got: Got[] = [];
  let holdAcks = false;
  const held: Array<() => void> = [];

  before(async () => {
    // For WebSocket and TLS, port 0 means "off", so free ports are found first.
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', wsPort: await freePort(), tlsPort: await freePort(), tlsKeyFile: key, tlsCertFile: cert });
    await broker.start();
    broker.subscribe('devices/+/telemetry', (p, ack) => {
      got.push({ topic: p.topic, payload: p.payload.toString(), qos: p.qos, contentType: p.contentType });
      if (holdAcks) held.push(ack);
      else ack();
    });
  });
  after(async () => {
    await broker?.stop();
  });

  const urls = () => ({
    tcp: `mqtt://127.0.0.1:${broker.addresses.tcp}`,
    ws: `ws://127.0.0.1:${broker.addresses.ws}`,
    tls: `mqtts://127.0.0.1:${broker.addresses.tls}`,
  });

  for (const listener of ['tcp', 'ws', 'tls'] as const) {
    for (const version of [4, 5] as const) {
      test(`MQTT ${version === 4 ? '3.1.1' : '5'} over ${listener}: a QoS 1 publish reaches the in-process subscriber`, async () => {
        const client = await mqtt.connectAsync(urls()[listener], { protocolVersion: version, reconnectPeriod: 0, ca: readFileSync(cert), rejectUnauthorized: false });
        try {
          const device = `${listener}-v${version}`;
          const properties = version === 5 ? { contentType: 'application/json' } : undefined;
          await client.publishAsync(`devices/${device}/telemetry`, '{"v":1}', { qos: 1, properties });
          const m = got.find((g) => g.topic === `devices/${device}/telemetry`);
          assert.ok(m, 'delivered before PUBACK');
          assert.equal(m.payload, '{"v":1}');
          assert.equal(m.qos, 1);
          assert.equal(m.contentType, version === 5 ? 'application/json' : undefined);
        } finally {
          await client.endAsync();
        }
      });
    }
  }

  test('an MQTT 5 device gets no PUBACK until the subscriber says the message is durable', async () => {
    const client = await mqtt.connectAsync(urls().tcp, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      holdAcks = true;
      let acked = false;
      const publishing = client.publishAsync('devices/held/telemetry', '{"v":2}', { qos: 1 }).then(() => (acked = true));
      await waitFor(() => held.length === 1);
      // A round trip through the broker proves it had time to answer, had it not been waiting.
      await client.subscribeAsync('nothing/here', { qos: 0 });
      assert.equal(acked, false, 'PUBACK came before the subscriber acknowledged');
      held.shift()!();
      await publishing;
      assert.equal(acked, true);
    } finally {
      holdAcks = false;
      await client.endAsync();
    }
  });
});

describe('who may connect', () => {
  test('off loopback without a device login, anonymous MQTT 5 clients are refused', async () => {
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '0.0.0.0' });
    await broker.start();
    try {
      await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion: 5, reconnectPeriod: 0 }), /Not authorized|not authorized/i);
    } finally {
      await broker.stop();
    }
  });

  test('with a device login, the right password connects over MQTT 3.1.1 and 5 and a wrong one is refused', async () => {
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '0.0.0.0', username: 'device', password: 's3cret' });
    await broker.start();
    const url = `mqtt://127.0.0.1:${broker.addresses.tcp}`;
    try {
      for (const protocolVersion of [4, 5] as const) {
        const ok = await mqtt.connectAsync(url, { protocolVersion, username: 'device', password: 's3cret', reconnectPeriod: 0 });
        await ok.endAsync();
        await assert.rejects(mqtt.connectAsync(url, { protocolVersion, username: 'device', password: 'wrong', reconnectPeriod: 0 }), /bad user ?name or password/i);
      }
    } finally {
      await broker.stop();
    }
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 3000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached');
}

describe('refusals carry their own MQTT 5 reason code', () => {
  test('a PUBLISH refused with reasonCode 0x97 is answered with PUBACK 0x97 and the reason, not aedes\' fixed 0x87', async () => {
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
    await broker.start();
    // What an authorization hook (per-device rate limits) does: refuse with a reason code of its own.
    const aedes = (broker as unknown as { aedes: { authorizePublish: (c: unknown, p: { topic: string }, cb: (e?: Error | null) => void) => void } }).aedes;
    const allow = aedes.authorizePublish;
    aedes.authorizePublish = (c, p, cb) => (p.topic === 'devices/flood/telemetry' ? cb(Object.assign(new Error('over its rate limit, retry in 3 s'), { reasonCode: 0x97 })) : allow(c, p, cb));
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const acks: Array<{ reasonCode?: number; properties?: { reasonString?: string } }> = [];
      client.on('packetreceive', (p) => {
        if (p.cmd === 'puback') acks.push(p as never);
      });
      await assert.rejects(client.publishAsync('devices/flood/telemetry', '{}', { qos: 1 }));
      await client.publishAsync('devices/fine/telemetry', '{}', { qos: 1 }).catch(() => undefined);
      assert.equal(acks[0].reasonCode, 0x97);
      assert.equal(acks[0].properties?.reasonString, 'over its rate limit, retry in 3 s');
      assert.equal(acks[1].reasonCode ?? 0, 0, 'the next one is not affected');
    } finally {
      await client.endAsync();
      await broker.stop();
    }
  });
});
