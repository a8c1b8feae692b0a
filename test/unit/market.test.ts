/** The data market's grants (nodes/lib/devices/market.ts) and its 1-minute means (nodes/lib/market/average.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Market } from '../../nodes/lib/devices/market';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { MinuteAverager } from '../../nodes/lib/market/average';
import { BadParameterError, ConflictError, NotFoundError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { migrate } from '../../nodes/shared/config';
import { marketMigrations, type MarketOptions } from '../../nodes/market/options';
import { grantMigrations, type GrantOptions } from '../../nodes/grant/options';

function market(backend = new MemoryBackend(), clock = { t: Date.UTC(2026, 0, 1) }, extra: Partial<ConstructorParameters<typeof Market>[1]> = {}) {
  const m = new Market(backend, { load: () => backend.load(), now: () => clock.t, ...extra });
  return { m, backend, clock };
}

describe('market grants', () => {
  test('the first grant makes the client login, shown once; the password is kept only as a hash', async () => {
    const { m, backend } = market();
    const first = await m.grant({ client: 'john', device: 'plug1', minutes: 60, by: 'api' });
    assert.equal(first.login?.username, 'john');
    assert.ok((first.login?.password.length ?? 0) >= 32);
    assert.equal(first.grant.client, 'john');
    assert.equal(first.grant.device, 'plug1');
    assert.equal(first.grant.active, true);
    assert.equal(Date.parse(first.grant.expiresAt) - Date.parse(first.grant.createdAt), 3_600_000);
    const stored = JSON.stringify(backend.data);
    assert.ok(!stored.includes(first.login!.password), 'the password is not stored');
    assert.ok(backend.data.clients[0].hash.startsWith('scrypt$'));
    assert.equal(await m.checkClient('john', first.login!.password), true);
    assert.equal(await m.checkClient('john', 'guess'), false);
    const second = await m.grant({ client: 'john', device: 'plug2', minutes: '5', by: 'api' });
    assert.equal(second.login, undefined, 'an existing client keeps its password');
    assert.equal(backend.data.grants.length, 2);
  });

  test('granted holds until the expiry, for that client and device only', async () => {
    const { m, clock } = market();
    await m.grant({ client: 'john', device: 'plug1', minutes: 1, by: 'api' });
    assert.equal(m.granted('john', 'plug1'), true);
    assert.equal(m.granted('john', 'plug2'), false);
    assert.equal(m.granted('mary', 'plug1'), false);
    clock.t += 59_999;
    assert.equal(m.granted('john', 'plug1'), true);
    clock.t += 1;
    assert.equal(m.granted('john', 'plug1'), false);
    assert.deepEqual(m.list({ active: true }), []);
    assert.equal(m.list({ active: false }).length, 1);
    m.close();
  });

  test('an expiry is announced once, unless another grant of the client still covers the device', async () => {
    const { m } = market(new MemoryBackend(), { t: Date.now() }, { now: Date.now });
    const ended: string[] = [];
    m.onEnded((client, device, why) => ended.push(`${client}/${device}/${why}`));
    await m.grant({ client: 'john', device: 'plug1', minutes: 0.02, by: 'api' });
    await m.grant({ client: 'john', device: 'plug1', minutes: 60, by: 'api' });
    await m.grant({ client: 'mary', device: 'plug1', minutes: 0.02, by: 'api' });
    for (let i = 0; i < 600 && ended.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ended, ['mary/plug1/expired']);
    assert.equal(m.granted('john', 'plug1'), true);
    m.close();
  });

  test('deleting a grant ends it at once and is announced', async () => {
    const { m, backend } = market();
    const ended: string[] = [];
    m.onEnded((client, device, why) => ended.push(`${client}/${device}/${why}`));
    const g = await m.grant({ client: 'john', device: 'plug1', minutes: 60, by: 'api' });
    const view = await m.revoke(g.grant.id);
    assert.equal(view.id, g.grant.id);
    assert.equal(m.granted('john', 'plug1'), false);
    assert.deepEqual(ended, ['john/plug1/revoked']);
    assert.equal(backend.data.grants.length, 0);
    await assert.rejects(m.revoke(g.grant.id), NotFoundError);
    assert.equal(m.hasClient('john'), true, 'the client keeps its login for later grants');
    m.close();
  });

  test('grants and clients come back from the backend, with their expiry', async () => {
    const backend = new MemoryBackend();
    const clock = { t: Date.UTC(2026, 0, 1) };
    const a = market(backend, clock).m;
    const g = await a.grant({ client: 'john', device: 'plug1', minutes: 10, by: 'flow:n1' });
    a.close();
    clock.t += 5 * 60_000;
    const b = market(backend, clock).m;
    await b.open();
    assert.equal(b.granted('john', 'plug1'), true);
    assert.equal(await b.checkClient('john', g.login!.password), true);
    assert.equal(b.get(g.grant.id)?.by, 'flow:n1');
    clock.t += 5 * 60_000;
    assert.equal(b.granted('john', 'plug1'), false);
    b.close();
  });

  test('bad grants are refused with the parameter named', async () => {
    const { m } = market(new MemoryBackend(), undefined, { isDevice: (id) => id === 'plug1', reserved: ['apikey'], deviceProblem: (id) => (id.includes('/') ? 'not a device id' : undefined) });
    const bad = async (input: Record<string, unknown>, parameter: string) => {
      await assert.rejects(m.grant({ client: 'john', device: 'plug1', minutes: 60, by: 'api', ...input }), (err: unknown) => {
        assert.ok(err instanceof BadParameterError, String(err));
        assert.equal((err as BadParameterError).details.parameter, parameter);
        return true;
      });
    };
    await bad({ client: '' }, 'client');
    await bad({ client: 'a/b' }, 'client');
    await bad({ client: 42 }, 'client');
    await bad({ client: 'apikey' }, 'client');
    await bad({ device: 'a/b' }, 'device');
    await bad({ device: undefined }, 'device');
    await bad({ minutes: 0 }, 'minutes');
    await bad({ minutes: -5 }, 'minutes');
    await bad({ minutes: 'soon' }, 'minutes');
    await bad({ minutes: 1e9 }, 'minutes');
    await assert.rejects(m.grant({ client: 'plug1', device: 'plug1', minutes: 1, by: 'api' }), ConflictError);
    assert.equal(m.list().length, 0);
  });
});

function reading(ts: number, fields: Reading['fields'], device = 'plug1'): Reading {
  return { device, ts, fields, tags: {} };
}

describe('1-minute means', () => {
  const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

  test('each minute closes with the mean of its readings, by the readings\' own time', () => {
    const a = new MinuteAverager();
    assert.deepEqual(a.add(reading(T0 + 1000, { power: 10, on: true, label: 'x' }), 0), []);
    assert.deepEqual(a.add(reading(T0 + 20_000, { power: 20 }), 0), []);
    assert.deepEqual(a.add(reading(T0 + 59_999, { power: 60, volts: 230 }), 0), []);
    const closed = a.add(reading(T0 + 60_000, { power: 1 }), 0);
    assert.deepEqual(closed, [{ device: 'plug1', ts: T0, end: T0 + 60_000, fields: { power: 30, volts: 230 }, n: { power: 3, volts: 1 } }]);
  });

  test('devices are averaged apart; late readings stay out of a later minute', () => {
    const a = new MinuteAverager();
    a.add(reading(T0, { v: 1 }, 'a'), 0);
    a.add(reading(T0, { v: 100 }, 'b'), 0);
    a.add(reading(T0 + 61_000, { v: 3 }, 'a'), 0);
    assert.deepEqual(a.add(reading(T0 + 1000, { v: 999 }, 'a'), 0), [], 'a reading of a closed minute');
    assert.equal(a.late, 1);
    const [m] = a.add(reading(T0 + 125_000, { v: 0 }, 'a'), 0);
    assert.deepEqual(m.fields, { v: 3 });
    const [b] = a.add(reading(T0 + 60_000, { v: 0 }, 'b'), 0);
    assert.deepEqual(b.fields, { v: 100 });
  });

  test('a silent device\'s minute closes after it falls silent', () => {
    const a = new MinuteAverager();
    a.add(reading(T0, { v: 2 }, 'a'), 1000);
    a.add(reading(T0, { v: 4 }, 'b'), 5000);
    const closed = a.closeSilent(2000);
    assert.deepEqual(closed.map((m) => [m.device, m.fields.v]), [['a', 2]]);
    assert.equal(a.devices, 1);
  });

  test('followed devices are bounded: the one silent longest is closed to make room', () => {
    const a = new MinuteAverager({ maxDevices: 2 });
    a.add(reading(T0, { v: 1 }, 'a'), 1);
    a.add(reading(T0, { v: 2 }, 'b'), 2);
    const out = a.add(reading(T0, { v: 3 }, 'c'), 3);
    assert.deepEqual(out.map((m) => m.device), ['a']);
    assert.equal(a.devices, 2);
  });
});

describe('market and grant node options', () => {
  test('market v0 → v1: every option present, the device trimmed', () => {
    assert.deepEqual(migrate<MarketOptions>({ device: ' plug1 ' }, marketMigrations), { broker: '', device: 'plug1', configVersion: 1 });
    assert.deepEqual(migrate<MarketOptions>({}, marketMigrations), { broker: '', device: '', configVersion: 1 });
  });

  test('grant v0 → v1: minutes as text, 60 when unset', () => {
    assert.deepEqual(migrate<GrantOptions>({}, grantMigrations), { device: '', minutes: '60', configVersion: 1 });
    assert.deepEqual(migrate<GrantOptions>({ device: 'plug1', minutes: 5 }, grantMigrations), { device: 'plug1', minutes: '5', configVersion: 1 });
  });
});
