/** Access rules (nodes/lib/security/device-auth.ts), topic filter relations and the audit log. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { withCheck } from '../../nodes/lib/devices/checkdigit';
import { DeviceAuth, type AuthResult, type Principal } from '../../nodes/lib/security/device-auth';
import { filtersIntersect, filterWithin } from '../../nodes/lib/security/topics';
import { AuditLog, type AuditInput } from '../../nodes/lib/audit/audit';
import { tempDir } from '../helpers/temp';

describe('topic filter relations', () => {
  test('intersects', () => {
    const yes: Array<[string, string]> = [['#', 'devices/#'], ['+/a/b', 'devices/+/b'], ['devices/x', 'devices/#'], ['devices/+/telemetry', 'devices/x/telemetry'], ['a', 'a']];
    const no: Array<[string, string]> = [['other/#', 'devices/#'], ['devices/x/telemetry', 'devices/y/#'], ['a/b', 'a'], ['a', 'a/b/c']];
    for (const [a, b] of yes) assert.equal(filtersIntersect(a, b), true, `${a} ∩ ${b}`);
    for (const [a, b] of no) assert.equal(filtersIntersect(a, b), false, `${a} ∩ ${b}`);
  });
  test('within', () => {
    const yes: Array<[string, string]> = [['devices/x/commands', 'devices/x/commands/#'], ['devices/x/commands/#', 'devices/x/commands/#'], ['devices/x/commands/a/+', 'devices/x/commands/#'], ['market/p/1m', 'market/+/1m'], ['market/+/1m', 'market/+/1m']];
    const no: Array<[string, string]> = [['devices/+/commands', 'devices/x/commands/#'], ['devices/x/#', 'devices/x/commands/#'], ['#', 'market/+/1m'], ['market/p/1m/x', 'market/+/1m'], ['devices/x', 'devices/x/commands/#']];
    for (const [a, b] of yes) assert.equal(filterWithin(a, b), true, `${a} ⊆ ${b}`);
    for (const [a, b] of no) assert.equal(filterWithin(a, b), false, `${a} ⊆ ${b}`);
  });
});

async function setup(opts: { requireAuth?: boolean; checkDigits?: boolean } = {}) {
  const reg = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32), checkDigits: opts.checkDigits });
  const audit: AuditInput[] = [];
  const auth = new DeviceAuth({ registry: reg, requireAuth: opts.requireAuth, audit: (e) => audit.push(e), failuresPerMinute: 5 });
  const a = await reg.add({ id: opts.checkDigits ? withCheck('deva') : 'devA' });
  const b = await reg.add({ id: opts.checkDigits ? withCheck('devb') : 'devB' });
  return { reg, auth, audit, a, b };
}

const principal = (r: AuthResult): Principal => {
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.principal;
};

describe('DeviceAuth', () => {
  test('logins: device with its secret; wrong secret 0x86; disabled 0x8A; anonymous only on loopback', async () => {
    const { auth, reg, a } = await setup();
    assert.deepEqual(principal(await auth.authenticate({ protocol: 'mqtt', username: 'devA', password: Buffer.from(a.secret), loopback: false })), { kind: 'device', id: 'devA' });
    const wrong = await auth.authenticate({ protocol: 'mqtt', username: 'devA', password: 'x', loopback: true });
    assert.deepEqual(wrong.ok ? null : [wrong.reasonCode, wrong.status], [0x86, 401]);
    assert.deepEqual(principal(await auth.authenticate({ protocol: 'mqtt', loopback: true })), { kind: 'anonymous' });
    const far = await auth.authenticate({ protocol: 'mqtt', loopback: false });
    assert.deepEqual(far.ok ? null : [far.reasonCode, far.status], [0x87, 401]);
    await reg.update('devA', { enabled: false });
    const off = await auth.authenticate({ protocol: 'http', username: 'devA', password: a.secret, loopback: true });
    assert.deepEqual(off.ok ? null : [off.reasonCode, off.code], [0x8a, 'DEVICE_DISABLED']);
  });

  test('authentication for everyone: no anonymous client, loopback included', async () => {
    const { auth } = await setup({ requireAuth: true });
    const r = await auth.authenticate({ protocol: 'coap', loopback: true });
    assert.equal(r.ok, false);
    const unknown = await auth.authenticate({ protocol: 'mqtt', username: 'nobody', password: 'x', loopback: true });
    assert.equal(unknown.ok, false);
  });

  test('the shared login of earlier releases: anonymous is off while it is set, and it cannot write as a registered device', async () => {
    const { auth } = await setup();
    const shared = { username: 'fleet', password: 'pw' };
    assert.equal((await auth.authenticate({ protocol: 'mqtt', loopback: true, shared })).ok, false);
    const who = principal(await auth.authenticate({ protocol: 'mqtt', username: 'fleet', password: 'pw', loopback: false, shared }));
    assert.equal(auth.canWrite(who, 'unregistered', 'mqtt').ok, true);
    assert.equal(auth.canWrite(who, 'devA', 'mqtt').ok, false);
  });

  test('a client certificate whose CN is a registered, enabled device logs in as it', async () => {
    const { auth } = await setup();
    assert.deepEqual(principal(await auth.authenticate({ protocol: 'mqtt', certCN: 'devB', loopback: false })), { kind: 'device', id: 'devB' });
    assert.equal((await auth.authenticate({ protocol: 'mqtt', certCN: 'stranger', loopback: false })).ok, false);
  });

  test('a client certificate with a login naming another device is refused (DEVICE_MISMATCH, 0x87, 403); its own id, none or apikey still log in', async () => {
    const { auth, audit, a } = await setup();
    for (const protocol of ['mqtt', 'http'] as const) {
      const other = await auth.authenticate({ protocol, certCN: 'devB', username: 'devA', password: a.secret, loopback: false });
      assert.deepEqual(other.ok ? null : [other.status, other.reasonCode, other.code], [403, 0x87, 'DEVICE_MISMATCH']);
      assert.match(other.ok ? '' : other.message, /certificate is device "devB"'s, but the login names "devA"/);
    }
    const stranger = await auth.authenticate({ protocol: 'mqtt', certCN: 'devB', username: 'nobody', loopback: false });
    assert.equal(stranger.ok ? null : stranger.code, 'DEVICE_MISMATCH');
    for (const username of [undefined, '', 'devB', 'apikey']) {
      assert.deepEqual(principal(await auth.authenticate({ protocol: 'mqtt', certCN: 'devB', username, loopback: false })), { kind: 'device', id: 'devB' }, String(username));
    }
    const shared = { username: 'fleet', password: 'pw' };
    assert.deepEqual(principal(await auth.authenticate({ protocol: 'mqtt', certCN: 'devB', username: 'fleet', password: 'pw', shared, loopback: false })), { kind: 'device', id: 'devB' });
    assert.ok(audit.some((e) => e.action === 'auth.failed' && e.actor === 'device:devB' && e.reason === 'DEVICE_MISMATCH'));
  });

  test('writes: own id only; a registered id never anonymously; audited', async () => {
    const { auth, audit } = await setup();
    const A: Principal = { kind: 'device', id: 'devA' };
    assert.equal(auth.canWrite(A, 'devA', 'http').ok, true);
    const asB = auth.canWrite(A, 'devB', 'http', '10.0.0.9');
    assert.deepEqual(asB.ok ? null : [asB.status, asB.code], [403, 'DEVICE_MISMATCH']);
    const anonB = auth.canWrite({ kind: 'anonymous' }, 'devB', 'coap');
    assert.deepEqual(anonB.ok ? null : anonB.status, 401);
    assert.equal(auth.canWrite({ kind: 'anonymous' }, 'free-device', 'coap').ok, true);
    assert.deepEqual(audit.map((e) => [e.actor, e.action, e.target, e.reason]), [
      ['device:devA', 'acl.denied', 'devB', 'DEVICE_MISMATCH'],
      ['anonymous', 'acl.denied', 'devB', 'UNAUTHORIZED'],
    ]);
    assert.equal(audit[0].remote, '10.0.0.9');
  });

  test('a mistyped id (check characters on) is refused everywhere, also for anonymous clients', async () => {
    const { auth, a } = await setup({ checkDigits: true });
    const id = a.device.id;
    const typo = `${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`;
    const r = auth.canWrite({ kind: 'anonymous' }, typo, 'http');
    assert.deepEqual(r.ok ? null : [r.status, r.code], [400, 'BAD_DEVICE_ID']);
    assert.equal(auth.canWrite({ kind: 'device', id }, id, 'http').ok, true);
    const login = await auth.authenticate({ protocol: 'mqtt', username: typo, password: 'x', loopback: false });
    assert.deepEqual(login.ok ? null : login.code, 'BAD_DEVICE_ID');
  });

  test('without check characters, a name no device could register goes on to the pipeline (which dead-letters what is bad)', async () => {
    const { auth } = await setup({});
    assert.equal(auth.canWrite({ kind: 'anonymous' }, 'zone 1 \u00e9', 'http').ok, true);
    assert.equal(auth.canWrite({ kind: 'anonymous' }, '\ufffd\ufffd', 'mqtt').ok, true);
  });

  test('MQTT publish: own devices/{id}/… only; Upperstack topics never; anonymous keeps other topics', async () => {
    const { auth } = await setup();
    const A: Principal = { kind: 'device', id: 'devA' };
    const pub = (who: Principal, topic: string) => auth.authorizePublish(who, { topic, payload: Buffer.from('{}'), qos: 1 });
    assert.equal((await pub(A, 'devices/devA/telemetry')).ok, true);
    for (const t of ['devices/devB/telemetry', 'upperstack/deadletter/devB', 'somewhere/else', 'market/devA/live']) {
      const r = await pub(A, t);
      assert.deepEqual(r.ok ? null : r.reasonCode, 0x87, t);
    }
    const anon: Principal = { kind: 'anonymous' };
    assert.equal((await pub(anon, 'devices/devB/telemetry')).ok, false);
    assert.equal((await pub(anon, 'upperstack/deadletter/x')).ok, false);
    assert.equal((await pub(anon, 'devices/free/telemetry')).ok, true);
    assert.equal((await pub(anon, 'home/lights')).ok, true);
  });

  test('MQTT publish decided without a promise (no rate limits): the same answer as authorizePublish', async () => {
    const { auth } = await setup();
    const whos: Principal[] = [{ kind: 'device', id: 'devA' }, { kind: 'anonymous' }, { kind: 'client', id: 'c1' }, { kind: 'key', id: 'k', scopes: ['read'] }, { kind: 'key', id: 'adm', scopes: ['admin'] }];
    const topics = ['devices/devA/telemetry', 'devices/devB/telemetry', 'devices/free/telemetry', 'upperstack/deadletter/x', 'market/devA/live', '$SYS/x', 'home/lights', 'devices/+/x', 'devices'];
    for (const who of whos) {
      for (const topic of topics) {
        const p = { topic, payload: Buffer.from('{}'), qos: 1 };
        const now = auth.authorizePublishNow(who, p);
        assert.ok(now !== undefined, 'without rate limits nothing has to wait');
        assert.deepEqual(now, await auth.authorizePublish(who, p), `${JSON.stringify(who)} ${topic}`);
      }
    }
  });

  test('MQTT subscribe: a device its own commands; anonymous neither device data nor upperstack/#', async () => {
    const { auth } = await setup();
    const A: Principal = { kind: 'device', id: 'devA' };
    const ok = (who: Principal, f: string) => auth.authorizeSubscribe(who, f).ok;
    assert.equal(ok(A, 'devices/devA/commands'), true);
    assert.equal(ok(A, 'devices/devA/commands/#'), true);
    assert.equal(ok(A, 'market/devB/1m'), true);
    for (const f of ['devices/devB/commands', 'devices/devA/telemetry', 'devices/+/commands', '#', 'market/devB/live']) assert.equal(ok(A, f), false, f);
    const anon: Principal = { kind: 'anonymous' };
    for (const f of ['#', 'devices/#', 'devices/+/telemetry', 'devices/devB/telemetry', 'upperstack/#', 'upperstack/deadletter/+', '$share/g/devices/#', 'devices/devB/commands', 'market/#']) assert.equal(ok(anon, f), false, f);
    for (const f of ['devices/free/commands', 'market/+/1m', 'home/lights/#']) assert.equal(ok(anon, f), true, f);
  });

  test('disable, rotate, remove: the device is told to go (revocation)', async () => {
    const { auth, reg } = await setup();
    const told: string[] = [];
    auth.onRevoke((who, what) => told.push(`${who.kind === 'anonymous' ? '' : who.id}:${String(what)}`));
    await reg.update('devA', { enabled: false });
    await reg.rotate('devB');
    await reg.update('devA', { tags: { x: '1' } });
    await reg.remove('devA');
    assert.deepEqual(told, ['devA:all', 'devB:all', 'devA:all']);
  });

  test('failed logins of a device from one address are counted; past the budget it is refused there before any check, other devices there are not', async () => {
    const { auth, a, b } = await setup();
    for (let i = 0; i < 6; i++) await auth.authenticate({ protocol: 'http', username: 'devA', password: 'bad', remote: '10.1.1.1', loopback: false });
    const blocked = await auth.authenticate({ protocol: 'http', username: 'devA', password: a.secret, remote: '10.1.1.1', loopback: false });
    assert.deepEqual(blocked.ok ? null : [blocked.status, blocked.code], [429, 'TOO_MANY_REQUESTS']);
    assert.ok(!blocked.ok && blocked.retryAfterMs! > 0);
    assert.equal((await auth.authenticate({ protocol: 'http', username: 'devA', password: a.secret, remote: '10.1.1.2', loopback: false })).ok, true, 'another address is not affected');
    assert.equal((await auth.authenticate({ protocol: 'http', username: 'devB', password: b.secret, remote: '10.1.1.1', loopback: false })).ok, true, 'another device behind the same address');
  });

  test('failed logins spread over many addresses: what is kept of them stays bounded, and an address past its budget is still refused', async () => {
    const reg = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    const auth = new DeviceAuth({ registry: reg, failuresPerMinute: 2, failedAddressesKept: 100 });
    const a = await reg.add({ id: 'devA' });
    const login = (remote: string, password: string) => auth.authenticate({ protocol: 'http', username: 'devA', password, remote, loopback: false });
    for (let i = 0; i < 3; i++) await login('10.0.0.1', 'bad');
    // A login nobody has (no hashing): 1,000 more addresses fail once each.
    for (let i = 0; i < 1000; i++) await auth.authenticate({ protocol: 'http', username: 'nobody', password: 'x', remote: `10.9.${i >> 8}.${i & 255}`, loopback: false });
    assert.ok(auth.failedAddresses <= 100, `${auth.failedAddresses} addresses kept`);
    const blocked = await login('10.0.0.1', a.secret);
    assert.deepEqual(blocked.ok ? null : [blocked.status, blocked.code], [429, 'TOO_MANY_REQUESTS'], 'the address past its budget is refused though newer failures pushed it out');
    assert.equal((await login('10.0.0.2', a.secret)).ok, true, 'an address that never failed logs in');
    assert.equal((await login('10.9.0.7', a.secret)).ok, true, 'one failure is within the budget');
  });
});

describe('AuditLog', () => {
  test('entries as JSON lines, newest first in queries, filtered; rotated by size', () => {
    const dir = tempDir('us-audit-');
    let now = 1000;
    const log = new AuditLog(dir, { maxBytes: 1000, keep: 3, now: () => now++ });
    for (let i = 0; i < 40; i++) log.record({ actor: 'admin', action: i % 2 ? 'device.add' : 'key.create', target: `d${i}` });
    const files = log.files();
    assert.equal(files.length, 3, 'rotated, at most keep files');
    const first = JSON.parse(readFileSync(files[0], 'utf8').split('\n')[0]) as Record<string, unknown>;
    assert.deepEqual(Object.keys(first)[0], 'ts');
    const newest = log.query({ limit: 3 });
    assert.deepEqual(newest.map((e) => e.target), ['d39', 'd38', 'd37']);
    assert.deepEqual(log.query({ limit: 2, action: 'device' }).map((e) => e.target), ['d39', 'd37']);
    assert.deepEqual(log.query({ limit: 100, targets: (t) => t === 'd38' }).map((e) => e.action), ['key.create']);
  });

  test('repeated refusals are folded: one entry per quiet window, the next says how many', () => {
    const dir = tempDir('us-audit-');
    let now = 0;
    const log = new AuditLog(dir, { quietMs: 10_000, now: () => now });
    for (let i = 0; i < 50; i++) log.refusal({ actor: 'device:x', action: 'acl.denied', target: 'devices/y/t', reason: '0x87' });
    now = 10_001;
    log.refusal({ actor: 'device:x', action: 'acl.denied', target: 'devices/y/t', reason: '0x87' });
    const entries = log.query({ limit: 100 });
    assert.equal(entries.length, 2);
    assert.equal(entries[0].count, 50);
  });
});
