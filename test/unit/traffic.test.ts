/** Rate limits and signed messages (nodes/lib/security/traffic.ts), and how DeviceAuth applies them. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { Traffic, sign } from '../../nodes/lib/security/traffic';
import { encodeCbor } from '../../nodes/lib/codec/cbor';
import type { AuditInput } from '../../nodes/lib/audit/audit';

const KEY = randomBytes(32);
const T0 = 1_780_000_000_000;

function signer(now = () => T0, opts: { maxNonces?: number } = {}) {
  return new Traffic({ signingKey: (d) => (d === 'signer' ? KEY : undefined), now, ...opts });
}

function code(d: { ok: boolean; code?: string }): string {
  return d.ok ? 'ok' : (d.code as string);
}

describe('rate limits', () => {
  test('a device over its own limit does not use up its address: the other device behind it keeps its rate', async () => {
    const t = new Traffic({ perDevice: 5, perAddress: 12, signingKey: () => undefined });
    let floodAccepted = 0;
    for (let i = 0; i < 200; i++) if ((await t.consume('flood', '10.0.0.1')).ok) floodAccepted++;
    let quietAccepted = 0;
    for (let i = 0; i < 5; i++) if ((await t.consume('quiet', '10.0.0.1')).ok) quietAccepted++;
    assert.equal(floodAccepted, 5);
    assert.equal(quietAccepted, 5);
    const r = await t.consume('flood', '10.0.0.1');
    assert.ok(!r.ok && r.status === 429 && r.reasonCode === 0x97 && r.code === 'RATE_LIMITED');
    assert.ok(!r.ok && r.retryAfterMs !== undefined && r.retryAfterMs > 0 && r.retryAfterMs <= 1000);
  });

  test('many devices from one address share its limit; 0 means no limit', async () => {
    const t = new Traffic({ perDevice: 100, perAddress: 10, signingKey: () => undefined });
    let accepted = 0;
    for (let i = 0; i < 50; i++) if ((await t.consume(`d${i}`, '10.0.0.2')).ok) accepted++;
    assert.equal(accepted, 10);
    assert.ok((await t.consume('d99', '10.0.0.3')).ok, 'another address has its own budget');
    const off = new Traffic({ signingKey: () => undefined });
    for (let i = 0; i < 500; i++) assert.ok((await off.consume('x', '10.0.0.2')).ok);
  });
});

describe('devices a request names line by line', () => {
  test('each counts one message; the first over its limit refuses them all, named, and the others get their count back', async () => {
    const t = new Traffic({ perDevice: 2, signingKey: () => undefined });
    assert.ok((await t.consume('busy', undefined)).ok);
    assert.deepEqual(await t.consumeDevices(['busy', 'calm']), { ok: true });
    // busy is at its limit now: the request is refused under its name, after calm was counted.
    const r = await t.consumeDevices(['calm', 'busy']);
    assert.ok(!r.ok && r.device === 'busy' && r.status === 429 && r.code === 'RATE_LIMITED' && /device "busy" sends more than 2/.test(r.message), JSON.stringify(r));
    // calm was counted once (the accepted request), not twice: one message is left in its second.
    assert.equal(code(await t.consume('calm', undefined)), 'ok');
    assert.equal(code(await t.consume('calm', undefined)), 'RATE_LIMITED');
    assert.deepEqual(await new Traffic({ signingKey: () => undefined }).consumeDevices(['x', 'x']), { ok: true });
  });
});

describe('signatures', () => {
  const body = Buffer.from('{"t":21.5}');

  test('HMAC over "<ts>.<nonce>." and the body, hex or base64; a changed body or wrong key is refused', () => {
    const t = signer();
    const ts = String(T0 / 1000);
    assert.equal(code(t.verify('signer', body, { ts, nonce: 'n1', sig: sign(KEY, ts, 'n1', body) })), 'ok');
    const b64 = Buffer.from(sign(KEY, ts, 'n2', body), 'hex').toString('base64');
    assert.equal(code(t.verify('signer', body, { ts, nonce: 'n2', sig: b64 })), 'ok');
    assert.equal(code(t.verify('signer', Buffer.from('{"t":99}'), { ts, nonce: 'n3', sig: sign(KEY, ts, 'n3', body) })), 'BAD_SIGNATURE');
    assert.equal(code(t.verify('signer', body, { ts, nonce: 'n4', sig: sign(randomBytes(32), ts, 'n4', body) })), 'BAD_SIGNATURE');
    assert.equal(code(t.verify('signer', body, { ts, nonce: 'n5' })), 'SIGNATURE_REQUIRED');
    assert.equal(code(t.verify('plain', body, {})), 'ok', 'a device that does not sign');
  });

  test('STALE past five minutes either way (seconds or milliseconds); REPLAYED for a nonce seen', () => {
    const t = signer();
    const old = String(T0 - 5 * 60_000 - 1000);
    assert.equal(code(t.verify('signer', body, { ts: old, nonce: 'a', sig: sign(KEY, old, 'a', body) })), 'STALE');
    const future = String((T0 + 6 * 60_000) / 1000);
    assert.equal(code(t.verify('signer', body, { ts: future, nonce: 'b', sig: sign(KEY, future, 'b', body) })), 'STALE');
    const near = String(T0 - 4 * 60_000);
    const msg = { ts: near, nonce: 'c', sig: sign(KEY, near, 'c', body) };
    assert.equal(code(t.verify('signer', body, msg)), 'ok');
    assert.equal(code(t.verify('signer', body, msg)), 'REPLAYED');
  });

  test('the nonce cache is bounded; what it can no longer vouch for is refused, never accepted twice', () => {
    let now = T0;
    const t = signer(() => now, { maxNonces: 50 });
    const sent: Array<{ ts: string; nonce: string; sig: string }> = [];
    for (let i = 0; i < 500; i++) {
      now += 10;
      const ts = String(now);
      const m = { ts, nonce: `n${i}`, sig: sign(KEY, ts, `n${i}`, body) };
      sent.push(m);
      assert.equal(code(t.verify('signer', body, m)), 'ok');
      assert.ok(t.noncesKept <= 50);
    }
    // Every message sent again within the skew window is refused, remembered or not.
    for (const m of sent) assert.notEqual(code(t.verify('signer', body, m)), 'ok', m.nonce);
    // A fresh message still gets in.
    now += 10;
    const ts = String(now);
    assert.equal(code(t.verify('signer', body, { ts, nonce: 'fresh', sig: sign(KEY, ts, 'fresh', body) })), 'ok');
  });

  test('envelopes: JSON with a text body, CBOR with a byte body; the body comes out with its content type', () => {
    const t = signer();
    const ts = String(T0);
    const json = Buffer.from(JSON.stringify({ ts: T0, nonce: 'j1', body: body.toString(), sig: sign(KEY, ts, 'j1', body), ct: 'application/json' }));
    const j = t.unwrap('signer', json, undefined);
    assert.ok(j.ok && j.payload?.equals(body) && j.contentType === 'application/json');
    const cbor = encodeCbor({ ts: T0, nonce: 'c1', body, sig: sign(KEY, ts, 'c1', body) });
    const c = t.unwrap('signer', cbor, 'application/cbor');
    assert.ok(c.ok && c.payload?.equals(body));
    assert.equal(code(t.unwrap('signer', cbor, 'application/cbor')), 'REPLAYED');
    assert.equal(code(t.unwrap('signer', body, undefined)), 'SIGNATURE_REQUIRED', 'a bare reading from a device that signs');
    assert.equal(code(t.unwrap('signer', Buffer.from('not json'), undefined)), 'SIGNATURE_REQUIRED');
    const plain = t.unwrap('plain', body, undefined);
    assert.ok(plain.ok && plain.payload === undefined, 'a device that does not sign passes unchanged');
  });

  test('a signing key sealed under another registry key: 503 naming the key file, for headers and envelopes alike', async () => {
    const backend = new MemoryBackend();
    const sealedHere = new DeviceRegistry(backend, { sealKey: KEY });
    await sealedHere.open();
    const made = await sealedHere.add({ id: 'signer', signing: true });
    // The same record on a server whose registry key file is another one (a cluster member with its own key).
    const elsewhere = new DeviceRegistry(backend, { sealKey: randomBytes(32) });
    await elsewhere.open();
    const t = new Traffic({ signingKey: (d) => elsewhere.signingKey(d), now: () => T0 });
    const key = Buffer.from(made.signingKey!, 'base64url');
    const ts = String(T0);
    assert.equal(t.signs('signer'), true);
    for (const d of [t.verify('signer', body, { ts, nonce: 'k1', sig: sign(key, ts, 'k1', body) }), t.unwrap('signer', Buffer.from(JSON.stringify({ ts, nonce: 'k2', body: body.toString(), sig: sign(key, ts, 'k2', body) })), undefined)]) {
      assert.ok(!d.ok);
      assert.equal(d.status, 503);
      assert.equal(d.reasonCode, 0x88, 'MQTT: server unavailable');
      assert.equal(d.code, 'SIGNING_KEY_UNAVAILABLE');
      assert.match(d.message, /device "signer" signs its messages, but this server cannot check them: .*upperstack-registry\.key/);
    }
  });
});

describe('DeviceAuth with traffic checks', () => {
  test('MQTT: over the limit 0x97 with a retry time; a signing device\'s envelope is unwrapped; all audited', async () => {
    const reg = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    const audit: AuditInput[] = [];
    const traffic = new Traffic({ perDevice: 3, signingKey: (d) => reg.signingKey(d) });
    const auth = new DeviceAuth({ registry: reg, traffic, audit: (e) => audit.push(e) });
    await reg.add({ id: 'a' });
    const s = await reg.add({ id: 's', signing: true });
    const key = Buffer.from(s.signingKey as string, 'base64url');
    const who = { kind: 'device', id: 'a' } as const;
    const p = { topic: 'devices/a/telemetry', payload: body(), qos: 1 };
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await auth.authorizePublish(who, p));
    assert.deepEqual(results.map((r) => (r.ok ? 'ok' : r.reasonCode)), ['ok', 'ok', 'ok', 0x97, 0x97]);
    assert.ok(audit.some((e) => e.action === 'rate.limited' && e.actor === 'device:a' && e.via === 'mqtt'));

    const ts = String(Date.now());
    const env = Buffer.from(JSON.stringify({ ts, nonce: 'x', body: '{"t":1}', sig: sign(key, ts, 'x', Buffer.from('{"t":1}')) }));
    const ok = await auth.authorizePublish({ kind: 'device', id: 's' }, { topic: 'devices/s/telemetry', payload: env, qos: 1 });
    assert.ok(ok.ok && ok.payload?.toString() === '{"t":1}');
    const again = await auth.authorizePublish({ kind: 'device', id: 's' }, { topic: 'devices/s/telemetry', payload: env, qos: 1 });
    assert.ok(!again.ok && again.code === 'REPLAYED' && again.reasonCode === 0x87);
    assert.ok(audit.some((e) => e.action === 'signature.refused' && e.reason === 'REPLAYED' && e.target === 's'));
    const http = auth.verifySigned({ kind: 'device', id: 's' }, 's', Buffer.from('{}'), { ts, nonce: 'y', sig: 'f'.repeat(64) }, 'http');
    assert.equal(code(http), 'BAD_SIGNATURE');
  });
});

describe('DeviceAuth decisions without a promise', () => {
  test('a rate limit leaves the decision to authorizePublish; without one, a signed envelope is unwrapped at once and its replay refused', async () => {
    const reg = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    const s = await reg.add({ id: 's', signing: true });
    const key = Buffer.from(s.signingKey as string, 'base64url');
    const limited = new DeviceAuth({ registry: reg, traffic: new Traffic({ perDevice: 3, signingKey: (d) => reg.signingKey(d) }) });
    assert.equal(limited.authorizePublishNow({ kind: 'device', id: 's' }, { topic: 'devices/s/telemetry', payload: body(), qos: 1 }), undefined);
    const open = new DeviceAuth({ registry: reg, traffic: new Traffic({ signingKey: (d) => reg.signingKey(d) }) });
    const ts = String(Date.now());
    const env = Buffer.from(JSON.stringify({ ts, nonce: 'n1', body: '{"t":2}', sig: sign(key, ts, 'n1', Buffer.from('{"t":2}')) }));
    const p = { topic: 'devices/s/telemetry', payload: env, qos: 1 };
    const first = open.authorizePublishNow({ kind: 'device', id: 's' }, p);
    assert.ok(first?.ok && first.payload?.toString() === '{"t":2}');
    const again = open.authorizePublishNow({ kind: 'device', id: 's' }, p);
    assert.ok(again && !again.ok && again.code === 'REPLAYED');
  });
});

function body(): Buffer {
  return Buffer.from('{"t":1}');
}
