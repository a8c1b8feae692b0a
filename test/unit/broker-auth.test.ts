/**
 * The device registry's rules on the embedded broker (nodes/lib/broker/auth.ts)
 * with real MQTT.js clients: a client certificate signed by the configured CA
 * logs a device in by its CN over TLS (an unverified one does not); a revoked
 * principal's subscription is removed or its connection ended; a market grant
 * that lapses stops deliveries at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { Traffic, sign } from '../../nodes/lib/security/traffic';
import type { AuditInput } from '../../nodes/lib/audit/audit';
import { freePort } from '../helpers/ports';
import { eventually } from '../helpers/intake';
import { tempDir } from '../helpers/temp';

const TLS = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');
const pem = (f: string) => readFileSync(join(TLS, f));

describe('broker with the device registry', () => {
  let broker: EmbeddedMqttBroker;
  let auth: DeviceAuth;
  let registry: DeviceRegistry;
  const grants = new Set<string>();
  const audit: AuditInput[] = [];
  const got: string[] = [];
  let johnSecret = '';

  before(async () => {
    registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    johnSecret = randomBytes(8).toString('hex');
    auth = new DeviceAuth({
      registry,
      requireAuth: true,
      audit: (e) => audit.push(e),
      market: {
        hasClient: (id) => id === 'john',
        checkClient: (id, secret) => Promise.resolve(id === 'john' && secret === johnSecret),
        granted: (client, device) => grants.has(`${client}/${device}`),
      },
    });
    await registry.add({ id: 'devA' });
    await registry.add({ id: 'devB' });
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', tlsPort: await freePort(), tlsKeyFile: join(TLS, 'key.pem'), tlsCertFile: join(TLS, 'cert.pem'), tlsCaFile: join(TLS, 'ca.pem'), auth });
    await broker.start();
    broker.subscribe('devices/+/telemetry', (p, ack) => {
      got.push(p.topic);
      ack();
    });
  });
  after(async () => {
    await broker?.stop();
    auth?.close();
  });

  const tlsUrl = () => `mqtts://127.0.0.1:${broker.addresses.tls}`;

  test('a client certificate signed by the CA logs in as the device its CN names, without a password', async () => {
    const a = await mqtt.connectAsync(tlsUrl(), { protocolVersion: 5, reconnectPeriod: 0, rejectUnauthorized: false, key: pem('client-devA-key.pem'), cert: pem('client-devA.pem') });
    const acks: number[] = [];
    a.on('packetreceive', (p) => {
      if (p.cmd === 'puback') acks.push((p as { reasonCode?: number }).reasonCode ?? 0);
    });
    await a.publishAsync('devices/devA/telemetry', '{"t":1}', { qos: 1 });
    await a.publishAsync('devices/devB/telemetry', '{"t":2}', { qos: 1 }).catch(() => undefined);
    await a.endAsync();
    assert.deepEqual(acks, [0, 0x87]);
    assert.deepEqual(got, ['devices/devA/telemetry']);
  });

  test('a client certificate with a user name naming another device is refused at CONNECT (MQTT 5: 0x87, 3.1.1: 5); its own id still logs in', async () => {
    const withCert = { reconnectPeriod: 0, rejectUnauthorized: false, key: pem('client-devA-key.pem'), cert: pem('client-devA.pem') };
    const refusedCodes: number[] = [];
    for (const protocolVersion of [5, 4] as const) {
      const c = mqtt.connect(tlsUrl(), { ...withCert, protocolVersion, username: 'devB' });
      refusedCodes.push(
        await new Promise<number>((resolve) => {
          c.on('packetreceive', (p) => {
            if (p.cmd === 'connack') resolve((p as { reasonCode?: number; returnCode?: number }).reasonCode ?? (p as { returnCode?: number }).returnCode ?? -1);
          });
        }),
      );
      c.end(true);
    }
    assert.deepEqual(refusedCodes, [0x87, 5]);
    assert.ok(audit.some((e) => e.action === 'auth.failed' && e.reason === 'DEVICE_MISMATCH' && e.target === 'devB'));
    const own = await mqtt.connectAsync(tlsUrl(), { ...withCert, protocolVersion: 5, username: 'devA' });
    await own.endAsync();
  });

  test('a certificate the CA did not sign is not a login (authentication for everyone: refused)', async () => {
    await assert.rejects(
      mqtt.connectAsync(tlsUrl(), { protocolVersion: 5, reconnectPeriod: 0, rejectUnauthorized: false, key: pem('rogue-devB-key.pem'), cert: pem('rogue-devB.pem') }),
      /Not authorized|Bad User Name or Password/i,
    );
    assert.ok(audit.some((e) => e.action === 'auth.failed' && e.via === 'mqtt'));
  });

  test('a lapsed grant stops live deliveries at once; revoking its filter ends the subscription', async () => {
    grants.add('john/plug1');
    const john = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion: 5, reconnectPeriod: 0, username: 'john', password: johnSecret });
    const live: string[] = [];
    john.on('message', (_t, p) => live.push(p.toString()));
    await john.subscribeAsync('market/plug1/live', { qos: 0 });
    await broker.publish('market/plug1/live', Buffer.from('1'));
    await eventually(() => live.length === 1, 'the first live message');
    grants.delete('john/plug1');
    await broker.publish('market/plug1/live', Buffer.from('2'));
    auth.revoke({ kind: 'client', id: 'john' }, ['market/plug1/live']);
    // A round trip after the revocation (its unsubscribe is done by then).
    await john.subscribeAsync('market/plug1/1m', { qos: 0 });
    grants.add('john/plug1');
    // The subscription is gone, so even a renewed grant delivers nothing until john subscribes again.
    await broker.publish('market/plug1/live', Buffer.from('3'));
    await broker.publish('market/plug1/1m', Buffer.from('avg'));
    await eventually(() => live.includes('avg'), 'the public average');
    assert.deepEqual(live, ['1', 'avg']);
    await john.endAsync();
  });

  test('disabling a device ends its session (MQTT 5 DISCONNECT 0x87)', async () => {
    const secret = (await registry.rotate('devB')).secret;
    const b = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion: 5, reconnectPeriod: 0, username: 'devB', password: secret });
    const reason = new Promise<number | undefined>((resolve) => {
      b.once('disconnect', (p) => resolve(p.reasonCode));
      b.once('close', () => resolve(undefined));
    });
    await registry.update('devB', { enabled: false });
    assert.equal(await reason, 0x87);
  });

  test('a device disabled or given a new secret while connected: its will is not published, as nothing more of that login is', async () => {
    const url = `mqtt://127.0.0.1:${broker.addresses.tcp}`;
    const seen: string[] = [];
    const off = broker.subscribe('devices/+/telemetry', (p, ack) => {
      seen.push(String(p.payload));
      ack();
    });
    const withWill = async (id: string, protocolVersion: 4 | 5) => {
      const { secret } = await registry.add({ id });
      const will = { topic: `devices/${id}/telemetry`, payload: Buffer.from(`{"will":"${id}"}`), qos: 1 as const, retain: false };
      return mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0, username: id, password: secret, will });
    };
    const closed = (c: mqtt.MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));
    try {
      const disabled = await withWill('devW1', 5);
      const disabledGone = closed(disabled);
      await registry.update('devW1', { enabled: false });
      await disabledGone;
      const rotated = await withWill('devW2', 4);
      const rotatedGone = closed(rotated);
      await registry.rotate('devW2');
      await rotatedGone;
      // A device still allowed: what it publishes goes through, and its will too when its link drops.
      const kept = await withWill('devW3', 5);
      await kept.publishAsync('devices/devW3/telemetry', '{"after":1}', { qos: 1 });
      kept.stream.destroy();
      await eventually(() => seen.includes('{"will":"devW3"}'), 'the will of a dropped link');
      assert.deepEqual(seen, ['{"after":1}', '{"will":"devW3"}']);
    } finally {
      off();
    }
  });
});

describe('refused publishes say their code', () => {
  let broker: EmbeddedMqttBroker;
  let auth: DeviceAuth;
  const secrets: Record<string, string> = {};
  let key = Buffer.alloc(0);

  before(async () => {
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    auth = new DeviceAuth({ registry, traffic: new Traffic({ signingKey: (d) => registry.signingKey(d) }) });
    const s = await registry.add({ id: 'sig1', signing: true });
    secrets.sig1 = s.secret;
    key = Buffer.from(s.signingKey as string, 'base64url');
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth });
    await broker.start();
    broker.subscribe('devices/+/telemetry', (_p, ack) => ack());
  });
  after(async () => {
    await broker?.stop();
    auth?.close();
  });

  test('MQTT 5: the PUBACK\'s reason string starts with the code (SIGNATURE_REQUIRED, REPLAYED, DEVICE_MISMATCH), as a CoAP diagnostic does', async () => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion: 5, reconnectPeriod: 0, username: 'sig1', password: secrets.sig1 });
    const acks: Array<[number | undefined, string | undefined]> = [];
    c.on('packetreceive', (p) => {
      if (p.cmd === 'puback') acks.push([p.reasonCode, p.properties?.reasonString]);
    });
    const ts = String(Date.now());
    const body = '{"t":1}';
    const envelope = JSON.stringify({ ts, nonce: 'n1', body, sig: sign(key, ts, 'n1', Buffer.from(body)) });
    try {
      await assert.rejects(c.publishAsync('devices/sig1/telemetry', '{"ts":1767225600000,"t":1}', { qos: 1 }));
      await c.publishAsync('devices/sig1/telemetry', envelope, { qos: 1 });
      await assert.rejects(c.publishAsync('devices/sig1/telemetry', envelope, { qos: 1 }));
      await assert.rejects(c.publishAsync('devices/other/telemetry', body, { qos: 1 }));
    } finally {
      await c.endAsync();
    }
    assert.deepEqual(
      acks.map(([code, reason]) => [code ?? 0, reason?.split(': ')[0]]),
      [[0x87, 'SIGNATURE_REQUIRED'], [0, undefined], [0x87, 'REPLAYED'], [0x87, 'DEVICE_MISMATCH']],
    );
    assert.match(acks[0][1] ?? '', /^SIGNATURE_REQUIRED: device "sig1" signs its messages: send the reading inside a JSON envelope \{ts, nonce, body, sig\}$/);
  });
});

describe('failed logins on the broker', () => {
  let broker: EmbeddedMqttBroker;
  let auth: DeviceAuth;
  let secret = '';
  let neighbourSecret = '';

  before(async () => {
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    auth = new DeviceAuth({ registry, failuresPerMinute: 3 });
    secret = (await registry.add({ id: 'devC' })).secret;
    neighbourSecret = (await registry.add({ id: 'devD' })).secret;
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth });
    await broker.start();
  });
  after(async () => {
    await broker?.stop();
    auth?.close();
  });

  /** The CONNACK's reason code (MQTT 5) or return code (3.1.1): 0 when the login succeeded. */
  const connack = (password: string, protocolVersion: 4 | 5, username = 'devC') =>
    new Promise<number>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${broker.addresses.tcp}`, { protocolVersion, username, password, reconnectPeriod: 0 });
      c.once('connect', () => {
        c.end(true);
        resolve(0);
      });
      c.once('error', (err: Error & { code?: number }) => {
        c.end(true);
        resolve(err.code ?? -1);
      });
    });

  test('the budget\'s failures are told "bad user name or password"; the next try, right password or not, 0x9F (3 on MQTT 3.1.1)', async () => {
    assert.deepEqual([await connack('bad', 5), await connack('bad', 5), await connack('bad', 5)], [0x86, 0x86, 0x86]);
    assert.equal(await connack(secret, 5), 0x9f, 'connection rate exceeded, not 0x88 server unavailable');
    assert.equal(await connack(secret, 4), 3);
    assert.equal(await connack(neighbourSecret, 5, 'devD'), 0, 'another device from the same address logs in');
  });
});

describe('the will of a revoked login and a restart', () => {
  test('a delayed will of a device disabled, given a new secret or removed is not kept for a restart to publish; a kept device\'s is', async () => {
    const dir = tempDir('us-willrevoked-');
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    const auth = new DeviceAuth({ registry, requireAuth: true });
    const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth, dataDir: dir });
    await broker.start();
    const closed = (c: mqtt.MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));
    // A will that waits ten minutes after the link drops: a restart within them finds it in the data folder.
    const withWill = async (id: string) => {
      const { secret } = await registry.add({ id });
      return mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses.tcp}`, {
        protocolVersion: 5, reconnectPeriod: 0, clientId: `c-${id}`, username: id, password: secret, clean: false,
        properties: { sessionExpiryInterval: 600 },
        will: { topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 600 } },
      });
    };
    try {
      // Gone before it is disabled: its will was waiting for its delay.
      const gone = await withWill('wGone');
      const goneClosed = closed(gone);
      gone.stream.destroy();
      await goneClosed;
      await registry.update('wGone', { enabled: false });
      // Connected while its secret is rotated, or while it is removed.
      for (const [id, revoke] of [['wRotated', (d: string) => registry.rotate(d)], ['wRemoved', (d: string) => registry.remove(d)]] as const) {
        const c = await withWill(id);
        const gone2 = closed(c);
        await revoke(id);
        await gone2;
      }
      const kept = await withWill('wKept');
      const keptClosed = closed(kept);
      kept.stream.destroy();
      await keptClosed;
    } finally {
      await broker.stop();
      auth.close();
    }
    // The broker started again on this folder publishes the wills it holds (aedes: once their broker is gone).
    const restarted = new BrokerPersistence({ dir });
    await restarted.setup({ id: 'after-restart' } as Parameters<BrokerPersistence['setup']>[0]);
    try {
      const left: string[] = [];
      for await (const w of restarted.streamWill()) left.push(String((w as { clientId?: string }).clientId));
      assert.deepEqual(left.sort(), ['c-wKept']);
    } finally {
      await restarted.destroy();
    }
  });
});
