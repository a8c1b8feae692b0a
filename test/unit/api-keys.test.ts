/** API keys with scopes, the store as a scoped key sees it, masking of sensitive fields, and the audit route's paging. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ApiKeyStore } from '../../nodes/lib/security/keys';
import { checkScopes, scopesSee, seesSensitive } from '../../nodes/lib/security/scopes';
import { maskFields, mergeMasks, parseMask, sensitiveFields } from '../../nodes/lib/security/masking';
import { ScopedStore, WITHHELD_PAYLOAD } from '../../nodes/lib/security/scoped-store';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { AuditLog } from '../../nodes/lib/audit/audit';
import { handleAudit } from '../../nodes/lib/api/audit';
import { FailureThrottle } from '../../nodes/lib/security/throttle';
import { handleQuery } from '../../nodes/lib/api/handlers';
import { handleDeadLetters } from '../../nodes/lib/api/deadletters';
import * as grafana from '../../nodes/lib/grafana/datasource';
import { BadParameterError, ConfigError, ForbiddenError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

function keyStore(backend = new MemoryBackend()) {
  return { backend, keys: new ApiKeyStore(backend, () => backend.load()) };
}

describe('scopes', () => {
  test('admin, read, read:sensitive and read:tag=<name>:<value> are accepted; anything else is refused by name', () => {
    assert.deepEqual(checkScopes(['read:tag=customer:acme', 'read', 'read']), ['read:tag=customer:acme', 'read']);
    assert.deepEqual(checkScopes(['read:tag=site:hall:3']), ['read:tag=site:hall:3']);
    for (const bad of [[], 'read', ['write'], ['read:tag=customer'], ['read:tag=:acme'], [3]]) {
      assert.throws(() => checkScopes(bad), (e: unknown) => e instanceof BadParameterError && /scope/.test(e.message), JSON.stringify(bad));
    }
  });

  test('a tag scope sees the devices with that tag only; read and admin see all; sensitive needs admin or read:sensitive', () => {
    const acme = ['read:tag=customer:acme'];
    assert.equal(scopesSee(acme, { customer: 'acme', site: 'n' }), true);
    assert.equal(scopesSee(acme, { customer: 'globex' }), false);
    assert.equal(scopesSee(acme, undefined), false);
    assert.equal(scopesSee(['read:tag=customer:acme', 'read:tag=customer:globex'], { customer: 'globex' }), true);
    assert.equal(scopesSee(['read'], undefined), true);
    assert.equal(scopesSee(['admin'], undefined), true);
    assert.equal(seesSensitive(['read']), false);
    assert.equal(seesSensitive(['read', 'read:sensitive']), true);
    assert.equal(seesSensitive(['admin']), true);
  });
});

describe('API key store', () => {
  test('a key is shown once, kept as a scrypt hash, verified, listed and revoked for good', async () => {
    const { backend, keys } = keyStore();
    const made = await keys.create({ name: 'acme dashboard', scopes: ['read:tag=customer:acme'] });
    assert.match(made.key, /^usk_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
    const stored = backend.data.api_keys[0];
    assert.match(stored.hash, /^scrypt\$/);
    // usk_<12 hex>_<secret>; the secret itself may hold "_".
    const secret = made.key.slice('usk_'.length + 12 + 1);
    assert.equal(secret.length, 32);
    assert.ok(!JSON.stringify(backend.data).includes(secret), 'the secret is not stored');
    assert.deepEqual(await keys.verify(made.key), { id: made.apiKey.id, name: 'acme dashboard', scopes: ['read:tag=customer:acme'] });
    // Same id, another secret; a key of another shape.
    assert.equal(await keys.verify(`${made.key.slice(0, -1)}${made.key.endsWith('A') ? 'B' : 'A'}`), undefined);
    assert.equal(await keys.verify('usk_nothing'), undefined);
    const listed = await keys.list();
    assert.equal(listed.length, 1);
    assert.equal(JSON.stringify(listed).includes('scrypt'), false);
    assert.ok(listed[0].lastUsedAt);

    const revoked = await keys.revoke(made.apiKey.id);
    assert.ok(revoked.revokedAt);
    assert.equal(await keys.verify(made.key), undefined, 'a revoked key (remembered as verified before) is refused');
    // Kept across a restart: a new store over the same backend.
    const again = new ApiKeyStore(backend, () => backend.load());
    assert.equal(await again.verify(made.key), undefined);
    assert.equal((await again.list())[0].revokedAt, revoked.revokedAt);
  });

  test('a key made by one store works in another over the same tables (restart), in DuckDB', async () => {
    const store = new DuckDbStore({ path: join(tempDir('us-keys-'), 'db.duckdb') });
    await store.open();
    try {
      const backend = store.registry();
      const first = new ApiKeyStore(backend, () => backend.load());
      const made = await first.create({ name: 'grafana', scopes: ['read', 'read:sensitive'] });
      const second = new ApiKeyStore(backend, () => backend.load());
      assert.deepEqual((await second.verify(made.key))?.scopes, ['read', 'read:sensitive']);
    } finally {
      await store.close();
    }
  });

  test('bad names and scopes are refused; unknown ids are 404s', async () => {
    const { keys } = keyStore();
    await assert.rejects(keys.create({ name: '', scopes: ['read'] }), BadParameterError);
    await assert.rejects(keys.create({ name: 'x', scopes: ['write'] }), BadParameterError);
    await assert.rejects(keys.revoke('000000000000'), /no API key/);
  });
});

describe('masking', () => {
  const schema = {
    type: 'object',
    properties: {
      fields: {
        type: 'object',
        properties: {
          lat: { type: 'number', 'x-upperstack-sensitive': 'round:2' },
          owner: { type: 'string', 'x-upperstack-sensitive': 'mask' },
          pin: { 'x-upperstack-sensitive': true },
          temp: { type: 'number' },
        },
      },
    },
  };

  test('the keyword on fields.properties marks them; a wrong value names the field', () => {
    const masks = sensitiveFields(schema);
    assert.deepEqual([...masks.keys()].sort(), ['lat', 'owner', 'pin']);
    assert.deepEqual(masks.get('lat'), { kind: 'round', digits: 2 });
    assert.throws(() => parseMask('round:x', 'lat'), (e: unknown) => e instanceof ConfigError && /"lat"/.test(e.message));
    assert.deepEqual(sensitiveFields({ allOf: [schema] }).get('pin'), { kind: 'hide' });
    assert.equal(sensitiveFields(true).size, 0);
  });

  test('rounded, masked, left out; other fields as sent; the input is not changed', () => {
    const fields = { lat: 52.520008, owner: 'Jane Doe', pin: 1234, temp: 21.5 };
    const out = maskFields(fields, sensitiveFields(schema));
    assert.deepEqual(out, { lat: 52.52, owner: '****' + ' Doe'.slice(-4), temp: 21.5 });
    assert.equal(fields.pin, 1234);
    assert.deepEqual(maskFields({ lat: 1234.5 }, new Map([['lat', parseMask('round:-2', 'lat')]])), { lat: 1200 });
    assert.deepEqual(mergeMasks([new Map([['lat', parseMask('round:3', 'lat')]]), new Map([['lat', parseMask('round:1', 'lat')]])]).get('lat'), { kind: 'round', digits: 1 });
  });
});

describe('the store as a scoped key sees it', () => {
  async function filled() {
    const store = new DuckDbStore({ path: join(tempDir('us-scoped-'), 'db.duckdb') });
    await store.open();
    const t0 = Date.UTC(2026, 0, 1);
    const readings: Reading[] = [];
    for (let i = 0; i < 10; i++) {
      readings.push({ device: 'acme-1', ts: t0 + i * 1000, fields: { temp: 20 + i, lat: 52.520008 + i / 1000 }, tags: {} });
      readings.push({ device: 'globex-1', ts: t0 + i * 1000, fields: { temp: 30 + i, lat: 48.1 }, tags: {} });
    }
    await store.write(readings);
    const letters = [];
    for (let i = 0; i < 30; i++) letters.push({ ts: t0 + i, device: i % 3 === 0 ? 'acme-1' : 'globex-1', source: 'mqtt:x', code: 'SCHEMA_VIOLATION', reason: '/fields/lat must be number (got "52.520008")', payload: '{"lat":"52.520008"}' });
    await store.writeDeadLetters(letters);
    return store;
  }
  const tags: Record<string, Record<string, string>> = { 'acme-1': { customer: 'acme' }, 'globex-1': { customer: 'globex' } };
  const acme = (masks = new Map()) => ({ sees: (d: string) => scopesSee(['read:tag=customer:acme'], tags[d]), masks, describe: 'scopes read:tag=customer:acme' });

  test('its own device is served; another device is 403 by name; lists leave others out', async () => {
    const store = await filled();
    try {
      const view = new ScopedStore(store, acme());
      const own = await handleQuery(view, 'readings', { device: 'acme-1' }, undefined);
      assert.equal(own.status, 200);
      assert.equal((JSON.parse(own.body) as { readings: unknown[] }).readings.length, 10);
      for (const kind of ['readings', 'aggregate'] as const) {
        const params = kind === 'readings' ? { device: 'globex-1' } : { device: 'globex-1', field: 'temp', every: '1m', fn: 'mean' };
        const other = await handleQuery(view, kind, params, undefined);
        assert.equal(other.status, 403, kind);
        assert.equal((JSON.parse(other.body) as { error: { code: string } }).error.code, 'FORBIDDEN');
      }
      assert.deepEqual((await grafana.search(view, { target: 'devices' })).sort(), ['acme-1']);
      await assert.rejects(grafana.query(view, { targets: [{ target: 'globex-1:temp' }], range: { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }, intervalMs: 60000 }), ForbiddenError);
      // Dead letters: only its device's, paged across the others' without losing or repeating any.
      const seen: number[] = [];
      let cursor: string | undefined;
      do {
        const r = await handleDeadLetters(view, { limit: '3', ...(cursor ? { cursor } : {}) }, undefined);
        assert.equal(r.status, 200, r.body);
        const body = JSON.parse(r.body) as { deadLetters: Array<{ id: number; device: string }>; next?: string };
        for (const l of body.deadLetters) {
          assert.equal(l.device, 'acme-1');
          seen.push(l.id);
        }
        cursor = body.next;
      } while (cursor);
      assert.equal(seen.length, 10);
      assert.equal(new Set(seen).size, 10);
      assert.equal((await handleDeadLetters(view, { device: 'globex-1' }, undefined)).status, 403);
    } finally {
      await store.close();
    }
  });

  test('sensitive fields are masked in readings and aggregates, dead-letter payloads withheld; hidden fields cannot be aggregated', async () => {
    const store = await filled();
    try {
      const masks = new Map([['lat', parseMask('round:2', 'lat')], ['temp', parseMask('hide', 'temp')]]);
      const view = new ScopedStore(store, acme(masks));
      const r = JSON.parse((await handleQuery(view, 'readings', { device: 'acme-1' }, undefined)).body) as { readings: Array<{ fields: Record<string, number> }> };
      assert.deepEqual(r.readings[0].fields, { lat: 52.52 });
      assert.equal(r.readings[9].fields.lat, 52.53);
      const mean = JSON.parse((await handleQuery(view, 'aggregate', { device: 'acme-1', field: 'lat', every: '1h', fn: 'max' }, undefined)).body) as { points: Array<{ value: number }> };
      assert.equal(mean.points[0].value, 52.53);
      assert.equal((await handleQuery(view, 'aggregate', { device: 'acme-1', field: 'temp', every: '1h', fn: 'mean' }, undefined)).status, 403);
      const letters = JSON.parse((await handleDeadLetters(view, { device: 'acme-1' }, undefined)).body) as { deadLetters: Array<{ payload: string }> };
      assert.equal(letters.deadLetters[0].payload, WITHHELD_PAYLOAD);
      // The reason tells what kind of value was refused, not the value: in JSON, CSV and Grafana's annotations.
      assert.equal((letters.deadLetters[0] as { reason?: string }).reason, '/fields/lat must be number (got a string)');
      const csv = (await handleDeadLetters(view, { device: 'acme-1' }, 'text/csv')).body;
      assert.equal(csv.includes('52.520008'), false, csv);
      const notes = await grafana.annotations(view, { range: { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' }, annotation: { query: 'deadletters:acme-1' } });
      assert.ok(notes.length > 0);
      for (const n of notes) assert.equal(n.text, '/fields/lat must be number (got a string)');
      // Stored as sent.
      const raw = await store.readings({ device: 'acme-1', limit: 1 });
      assert.equal(raw.readings[0].fields.lat, 52.520008);
    } finally {
      await store.close();
    }
  });
});

describe('GET /api/v1/audit', () => {
  test('filters by time, actor, action family and outcome; pages newest first without losing entries of one millisecond', () => {
    let now = 1_000_000;
    const log = new AuditLog(tempDir('us-audit-'), { now: () => now });
    for (let i = 0; i < 25; i++) {
      if (i % 5 === 0) now += 1000; // five entries per millisecond
      log.record({ actor: i % 2 ? 'key:aaaaaaaaaaaa' : 'admin', action: i % 3 ? 'query.readings' : 'auth.failed', via: 'api', target: `d${i}`, outcome: i % 3 ? 'ok' : 'denied' });
    }
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const r = handleAudit(log, { limit: '4', ...(cursor ? { cursor } : {}) });
      assert.equal(r.status, 200);
      const body = JSON.parse(r.body) as { entries: Array<{ target: string; ts: string }>; next?: string };
      all.push(...body.entries.map((e) => e.target));
      cursor = body.next;
    } while (cursor);
    assert.deepEqual(all, Array.from({ length: 25 }, (_, i) => `d${24 - i}`));

    const failed = JSON.parse(handleAudit(log, { action: 'auth', limit: '100' }).body) as { entries: Array<{ action: string; outcome: string }> };
    assert.equal(failed.entries.length, 9);
    assert.ok(failed.entries.every((e) => e.action === 'auth.failed' && e.outcome === 'denied'));
    const byKey = JSON.parse(handleAudit(log, { actor: 'key:aaaaaaaaaaaa', from: new Date(1_000_000 + 5000).toISOString(), limit: '100' }).body) as { entries: Array<{ target: string }> };
    assert.deepEqual(byKey.entries.map((e) => e.target), ['d23', 'd21']);
    assert.equal(handleAudit(log, { outcome: 'maybe' }).status, 400);
    assert.equal(handleAudit(log, { cursor: '!!' }).status, 400);
  });
});

describe('wrong API keys per address', () => {
  test('an address is stopped after its budget; others are not', async () => {
    const t = new FailureThrottle(3);
    for (let i = 0; i < 3; i++) {
      assert.equal(await t.blockedMs('10.0.0.1'), 0);
      await t.failed('10.0.0.1');
    }
    assert.ok((await t.blockedMs('10.0.0.1')) >= 1000);
    assert.equal(await t.blockedMs('10.0.0.2'), 0);
  });
});
