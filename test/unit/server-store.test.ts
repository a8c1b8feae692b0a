/**
 * A time-series server as the only store: dead letters and the device
 * registry in files (queries, paging, replay marks, a torn last line, a
 * restart), UPPERSTACK_STORE and the pack it makes, and sink lists without an
 * embedded store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDeadLetters } from '../../nodes/lib/store/file-deadletters';
import { FileRegistryBackend } from '../../nodes/lib/store/file-registry';
import { serverOnlyPack, storeModeFromEnv } from '../../nodes/lib/store/store-mode';
import { SinkSet, normalizeSinks } from '../../nodes/lib/store/sinks';
import { ServerStore } from '../../nodes/lib/store/server-store';
import { ConfigError } from '../../nodes/lib/errors';
import type { DeadLetter } from '../../nodes/lib/store/types';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'us-server-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const letter = (device: string, ts: number, extra: Partial<DeadLetter> = {}): DeadLetter => ({ ts, device, source: 'mqtt:devices/x/telemetry', code: 'DECODE_FAILED', reason: 'bad JSON', payload: '{"ts": oops', ...extra });

test('dead letters in a file: ids in order, filters, paging both ways, bodies for replay, marks survive a reopen, a torn last line is skipped', async (t) => {
  const file = join(tmp(t), 'store', 'cfg.deadletters.jsonl');
  const a = new FileDeadLetters(file);
  await a.open();
  await a.write([letter('d1', 1000), letter('d2', 2000, { code: 'SCHEMA_VIOLATION' }), letter('d1', 2000)]);
  await a.write([letter('d1', 3000, { payload: 'x'.repeat(5000) + '…' })]);
  const all = await a.query({ limit: 10, order: 'asc' });
  assert.deepEqual(all.map((l) => [l.id, l.device, l.ts]), [[1, 'd1', 1000], [2, 'd2', 2000], [3, 'd1', 2000], [4, 'd1', 3000]]);
  assert.deepEqual(all.map((l) => l.replayable), [true, true, true, false], 'a truncated excerpt is not the message');
  assert.equal(all[0].body, undefined, 'listings leave bodies out');
  assert.deepEqual((await a.query({ limit: 10, device: 'd1' })).map((l) => l.id), [4, 3, 1], 'newest first by default');
  assert.deepEqual((await a.query({ limit: 10, codes: ['SCHEMA_VIOLATION'] })).map((l) => l.id), [2]);
  assert.deepEqual((await a.query({ limit: 10, from: 2000, to: 3000 })).map((l) => l.id), [3, 2]);
  assert.deepEqual((await a.query({ limit: 2, order: 'asc', after: { ts: 2000, id: 2 } })).map((l) => l.id), [3, 4]);
  assert.deepEqual((await a.query({ limit: 10, after: { ts: 2000, id: 3 } })).map((l) => l.id), [2, 1]);
  const withBody = await a.query({ limit: 1, ids: [1], withBody: true });
  assert.equal(Buffer.from(withBody[0].body!, 'base64').toString(), '{"ts": oops');
  assert.throws(() => a.query({ limit: 0 }), /limit/);

  assert.deepEqual(await a.markReplayed([1, 2, 4], 5000), [1, 2, 4]);
  assert.deepEqual(await a.markReplayed([1, 3], 6000), [3], 'a letter is marked once');
  await a.unmarkReplayed([{ id: 2, body: Buffer.from('again').toString('base64') }]);
  // A crash while appending leaves a line without its end: never reported written, skipped.
  appendFileSync(file, '{"l":{"id":99,"ts":1');
  const b = new FileDeadLetters(file);
  await b.open();
  const replayed = await b.query({ limit: 10, order: 'asc', replayed: true });
  assert.deepEqual(replayed.map((l) => [l.id, l.replayedAt, l.replayable]), [[1, 5000, false], [3, 6000, false], [4, 5000, false]]);
  const open = await b.query({ limit: 10, replayed: false, withBody: true });
  assert.deepEqual(open.map((l) => [l.id, Buffer.from(l.body!, 'base64').toString()]), [[2, 'again']]);
  await b.write([letter('d3', 7000)]);
  assert.equal((await b.query({ limit: 1 }))[0].id, 5, 'ids go on after the last one kept');
  assert.ok(!readFileSync(file, 'utf8').includes('"id":99'), 'the torn line is cut at the reopen');
});

/** The letters as the file says, folded from every line: what any query must agree with. */
function foldFile(file: string): DeadLetter[] {
  const byId = new Map<number, DeadLetter>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (!raw) continue;
    const line = JSON.parse(raw) as { l?: DeadLetter; m?: number; at?: number; u?: number; b?: string };
    if (line.l) byId.set(line.l.id!, { ...line.l });
    else if (line.m !== undefined && byId.has(line.m)) Object.assign(byId.get(line.m)!, { replayedAt: line.at, body: undefined });
    else if (line.u !== undefined && byId.has(line.u)) {
      const l = byId.get(line.u)!;
      delete l.replayedAt;
      if (line.b !== undefined) l.body = line.b;
    }
  }
  return [...byId.values()];
}

test('dead letters in a file: a query reads only the letters it answers, and every answer agrees with the whole file folded', async (t) => {
  const file = join(tmp(t), 'store', 'cfg.deadletters.jsonl');
  const a = new FileDeadLetters(file);
  await a.open();
  // A flood: 3,000 letters with 1 KB messages kept for replay, some replayed, some put back.
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  const devices = ['d0', 'd1', 'd2', 'd3 with space', 'd4 ✓'];
  for (let i = 0; i < 30; i++) {
    const batch: DeadLetter[] = [];
    for (let j = 0; j < 100; j++) {
      const k = i * 100 + j;
      // Times mostly rise with ids, not always (a late letter), and repeat.
      batch.push(letter(devices[rnd(5)], 1000 + k * 10 - rnd(3) * 500, { code: rnd(4) === 0 ? 'SCHEMA_VIOLATION' : 'DECODE_FAILED', payload: `{"k":${k},"pad":"${'p'.repeat(1000)}"` }));
    }
    await a.write(batch);
    const ids = Array.from({ length: 20 }, () => 1 + rnd((i + 1) * 100));
    const marked = await a.markReplayed(ids, 1_000_000 + i);
    if (marked.length) await a.unmarkReplayed(marked.filter((id) => id % 3 === 0).map((id) => (id % 2 ? { id } : { id, body: Buffer.from(`again ${id}`).toString('base64') })));
  }
  const size = readFileSync(file).length;
  assert.ok(size > 3_000_000, `the file holds the flood (${size} bytes)`);

  const before = a.readBytes;
  const newest = await a.query({ limit: 5 });
  assert.equal(newest.length, 5);
  const read = a.readBytes - before;
  assert.ok(read > 0 && read < 5 * 4096, `a page of 5 read ${read} bytes of a ${size}-byte file`);

  const expect = (letters: DeadLetter[], q: Parameters<FileDeadLetters['query']>[0]) => {
    const desc = q.order !== 'asc';
    return letters
      .filter((l) => (q.device === undefined || l.device === q.device) && (!q.codes?.length || q.codes.includes(l.code)) && (q.from === undefined || l.ts >= q.from) && (q.to === undefined || l.ts < q.to))
      .filter((l) => !q.after || (desc ? (l.ts === q.after.ts ? l.id! < q.after.id : l.ts < q.after.ts) : l.ts === q.after.ts ? l.id! > q.after.id : l.ts > q.after.ts))
      .filter((l) => (q.replayed === undefined || (l.replayedAt !== undefined) === q.replayed) && (q.replayable === undefined || (typeof l.body === 'string') === q.replayable) && (!q.ids || q.ids.includes(l.id!)))
      .sort((x, y) => (x.ts === y.ts ? x.id! - y.id! : x.ts - y.ts) * (desc ? -1 : 1))
      .slice(0, q.limit)
      .map((l) => {
        const { body, ...rest } = l;
        const shown: DeadLetter = { ...rest, replayable: typeof body === 'string' };
        if (shown.replayedAt === undefined) delete shown.replayedAt;
        if (q.withBody && typeof body === 'string') shown.body = body;
        return shown;
      });
  };
  const b = new FileDeadLetters(file);
  await b.open();
  const truth = foldFile(file);
  for (let i = 0; i < 60; i++) {
    const q: Parameters<FileDeadLetters['query']>[0] = { limit: 1 + rnd(40), order: rnd(2) ? 'asc' : 'desc', withBody: rnd(2) === 1 };
    if (rnd(3) === 0) q.device = devices[rnd(5)];
    if (rnd(4) === 0) q.codes = ['SCHEMA_VIOLATION'];
    if (rnd(3) === 0) q.from = 1000 + rnd(30_000);
    if (rnd(4) === 0) q.to = 1000 + rnd(30_000);
    if (rnd(3) === 0) q.replayed = rnd(2) === 1;
    if (rnd(3) === 0) q.replayable = rnd(2) === 1;
    if (rnd(5) === 0) q.ids = Array.from({ length: 10 }, () => 1 + rnd(3000));
    if (rnd(3) === 0) q.after = { ts: 1000 + rnd(30_000), id: 1 + rnd(3000) };
    const want = expect(truth, q);
    assert.deepEqual(await a.query(q), want, `query ${JSON.stringify(q)}`);
    assert.deepEqual(await b.query(q), want, `query ${JSON.stringify(q)} after a reopen`);
  }
});

test('the device registry in a file: put, replace, remove, kept across a reopen', async (t) => {
  const file = join(tmp(t), 'store', 'cfg.registry.json');
  const a = new FileRegistryBackend(file);
  assert.deepEqual(await a.load(), { devices: [], api_keys: [], clients: [], grants: [] });
  const dev = { id: 'm1', enabled: true, secretHash: 'h', signing: false, tags: { site: 'n' }, meta: {}, createdAt: 1, updatedAt: 1 };
  await a.put('devices', dev);
  await a.put('devices', { ...dev, id: 'm2' });
  await a.put('devices', { ...dev, tags: { site: 's' }, updatedAt: 2 });
  await a.remove('devices', 'm2');
  await a.remove('devices', 'none');
  const b = new FileRegistryBackend(file);
  const data = await b.load();
  assert.deepEqual(data.devices, [{ ...dev, tags: { site: 's' }, updatedAt: 2 }]);
  data.devices.length = 0;
  assert.equal((await b.load()).devices.length, 1, 'load hands out a copy');
});

test('UPPERSTACK_STORE: duckdb by default; influxdb / victoriametrics need UPPERSTACK_INFLUX_URL; wrong values are refused by name', () => {
  assert.equal(storeModeFromEnv({}), 'duckdb');
  assert.equal(storeModeFromEnv({ UPPERSTACK_STORE: 'DuckDB', UPPERSTACK_INFLUX_URL: 'http://x:8086' }), 'duckdb');
  assert.equal(storeModeFromEnv({ UPPERSTACK_STORE: 'influxdb', UPPERSTACK_INFLUX_URL: 'http://x:8086' }), 'influxdb');
  assert.equal(storeModeFromEnv({ UPPERSTACK_STORE: 'victoriametrics', UPPERSTACK_INFLUX_URL: 'http://vm:8428' }), 'victoriametrics');
  const fails = (env: NodeJS.ProcessEnv, re: RegExp) => assert.throws(() => storeModeFromEnv(env), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  fails({ UPPERSTACK_STORE: 'influx' }, /UPPERSTACK_STORE must be one of duckdb, influxdb, victoriametrics \(got "influx"\)/);
  fails({ UPPERSTACK_STORE: 'influxdb' }, /set UPPERSTACK_INFLUX_URL/);
  fails({ UPPERSTACK_STORE: 'influxdb', UPPERSTACK_INFLUX_URL: 'http://x', UPPERSTACK_INFLUX_BUCKET: 'b' }, /InfluxQL/);
  fails({ UPPERSTACK_STORE: 'victoriametrics', UPPERSTACK_INFLUX_URL: 'http://x', UPPERSTACK_CLUSTER_BROKER: 'mqtt://b' }, /cluster member/);
});

test('the server-only pack: the store config keeps only its server sink, not optional, of the kind asked for', () => {
  const pack = [
    { id: 'cfg', type: 'upperstack-store-config', name: 'embedded DuckDB', sinks: [{ id: 'main', kind: 'duckdb' }, { id: 'influx', kind: 'influxdb', optional: true, url: '${UPPERSTACK_INFLUX_URL}', api: 'auto', database: '${UPPERSTACK_INFLUX_DB}', slot: 1 }] },
    { id: 'other', type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'duckdb' }] },
    { id: 'n', type: 'upperstack-store', store: 'cfg' },
    { id: 'live', type: 'upperstack-live', store: 'cfg' },
    { id: 'live-other', type: 'upperstack-live', store: 'other' },
  ];
  const influx = serverOnlyPack(pack, 'influxdb');
  assert.deepEqual(influx[0].sinks, [{ id: 'influx', kind: 'influxdb', optional: false, url: '${UPPERSTACK_INFLUX_URL}', api: 'auto', database: '${UPPERSTACK_INFLUX_DB}', slot: 1 }]);
  assert.equal(influx[0].name, 'InfluxDB only');
  assert.deepEqual(influx[1], pack[1], 'a store without a server sink stays as it was');
  // The dashboard's live node cannot start from the server (no latest values): from none, instead of warning at each start.
  assert.equal(influx.find((n) => n.id === 'live')!.store, '');
  assert.equal(influx.find((n) => n.id === 'live-other')!.store, 'other', 'one starting from a store left as it was keeps it');
  const vm = serverOnlyPack(pack, 'victoriametrics');
  assert.deepEqual((vm[0].sinks as Array<Record<string, unknown>>).map((s) => [s.kind, s.api, s.database]), [['victoriametrics', 'v2', '']]);
  assert.equal((pack[0].sinks as unknown[]).length, 2, 'the pack given is not changed');
});

test('a sink list without an embedded store: a server that reads back answers queries; one that cannot is refused', (t) => {
  const dataDir = tmp(t);
  const vm = normalizeSinks([{ id: 'vm', kind: 'victoriametrics', url: 'http://127.0.0.1:1' }], dataDir);
  const set = SinkSet.create(vm, { dataDir, configId: 'cfg' });
  assert.ok(set.primary instanceof ServerStore);
  assert.equal(set.primary.kind, 'victoriametrics');
  assert.ok(set.primary.registry, 'the registry has somewhere to live');
  assert.throws(
    () => normalizeSinks([{ id: 'i2', kind: 'influxdb', url: 'http://127.0.0.1:1', api: 'v2', org: 'o', bucket: 'b' }], dataDir),
    (e: unknown) => e instanceof ConfigError && /InfluxQL/.test(e.message),
  );
  // With DuckDB in the list, DuckDB stays the store that answers.
  const both = SinkSet.create(normalizeSinks([{ id: 'main', kind: 'duckdb', path: ':memory:' }, { id: 'vm', kind: 'victoriametrics', url: 'http://127.0.0.1:1' }], dataDir), { dataDir, configId: 'cfg2' });
  assert.ok(!(both.primary instanceof ServerStore));
});

test('a letter given as bytes (as the dead-letter node gives it) is kept in the file as its base64 body, not as a JSON Buffer', async (t) => {
  const file = join(tmp(t), 'store', 'cfg.deadletters.jsonl');
  const a = new FileDeadLetters(file);
  await a.open();
  await a.write([letter('d1', 1000, { payload: 'x'.repeat(5000) + '…', bytes: Buffer.from([0, 0xff, 7]) })]);
  const [l] = await a.query({ limit: 1, withBody: true });
  assert.deepEqual([l.replayable, l.body, 'bytes' in l], [true, 'AP8H', false]);
  assert.equal(readFileSync(file, 'utf8').includes('"Buffer"'), false);
});
