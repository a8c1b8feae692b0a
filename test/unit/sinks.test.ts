/**
 * Several durable sinks behind one store config, on real DuckDB files: a write
 * (and the journal entry behind it) is durable only once every sink has it, a
 * sink that is down spools on its own, and spools left at the old path drain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SinkSet, normalizeSinks, spoolDir, sinkKinds, type SinkEntry } from '../../nodes/lib/store/sinks';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { DurableWriter } from '../../nodes/lib/store/writer';
import { Journal } from '../../nodes/lib/journal/journal';
import { registerJournal, unregisterJournal, consumeReceipts } from '../../nodes/lib/ingest/receipts';
import { ConfigError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const tmp = () => tempDir('us-sinks-');
const T0 = Date.UTC(2026, 0, 1);
const readings = (device: string, from: number, n: number): Reading[] => Array.from({ length: n }, (_, i) => ({ device, ts: T0 + (from + i) * 1000, fields: { v: from + i }, tags: {} }));

async function stored(store: DuckDbStore, device: string): Promise<number[]> {
  const page = await store.readings({ device, limit: 1000 });
  return page.readings.map((r) => r.fields.v as number);
}

async function eventually(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spoolText(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .filter((f) => f.startsWith('seg-'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

test('a journal entry settles only once every sink has the readings: the slower sink holds it', async () => {
  const dir = tmp();
  const fast = new DuckDbStore({ path: join(dir, 'fast.duckdb') });
  const slow = new DuckDbStore({ path: join(dir, 'slow.duckdb') });
  // The slow sink writes only once 10 readings are waiting (its timer is far away).
  const entries: SinkEntry[] = [
    { id: 'main', kind: 'duckdb', label: 'fast', sink: fast, writer: new DurableWriter(fast, new Journal({ dir: join(dir, 'spool-fast') }), { batchSize: 1, flushMs: 1 }) },
    { id: 'slow', kind: 'duckdb', label: 'slow', sink: slow, writer: new DurableWriter(slow, new Journal({ dir: join(dir, 'spool-slow') }), { batchSize: 10, minWrite: 10, flushMs: 3_600_000 }) },
  ];
  const set = new SinkSet(entries);
  await set.open();
  const journal = new Journal({ dir: join(dir, 'journal') });
  journal.open();
  registerJournal('sinks-input', journal);
  try {
    const first = { j: 'sinks-input', s: journal.append(Buffer.from('m1')) };
    let durable = 0;
    set.write(readings('d', 0, 5), (err) => {
      assert.ifError(err);
      durable++;
      consumeReceipts([first]);
    });
    await eventually(async () => (await stored(fast, 'd')).length === 5, 'the fast sink');
    assert.equal(durable, 0, 'not durable while the slow sink has not got it');
    assert.equal(journal.backlog(), 1, 'the journal entry stays unsettled');
    assert.equal(set.stats().written, 0, 'what counts is durable in every sink');
    assert.equal(set.stats().sinks.find((s) => s.id === 'main')!.written, 5);
    const second = { j: 'sinks-input', s: journal.append(Buffer.from('m2')) };
    set.write(readings('d', 5, 5), (err) => {
      assert.ifError(err);
      durable++;
      consumeReceipts([second]);
    });
    await eventually(() => durable === 2, 'both writes durable');
    assert.equal(journal.backlog(), 0);
    assert.deepEqual(await stored(slow, 'd'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(await stored(fast, 'd'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    unregisterJournal('sinks-input', journal);
    journal.close();
    await set.close();
  }
});

test('a sink that is down spools in its own spool; the others write; it catches up when it comes back', async () => {
  const dataDir = tmp();
  const missing = join(dataDir, 'not-yet');
  const sinks = normalizeSinks(
    [
      { id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 },
      { id: 'backup', kind: 'duckdb', path: join(missing, 'backup.duckdb'), memoryLimit: 64 },
    ],
    dataDir,
  );
  const set = SinkSet.create(sinks, { dataDir, configId: 'cfg1', writer: { batchSize: 1, flushMs: 1, retryMs: 50, maxRetryMs: 200 } });
  const openErrors: string[] = [];
  await set.open((entry) => openErrors.push(entry.id));
  assert.deepEqual(openErrors, ['backup']);
  let err: Error | undefined | null = null;
  set.write(readings('dev', 0, 3), (e) => (err = e));
  await eventually(() => err !== null, 'durable');
  assert.equal(err, undefined, 'durable: in one database and in the other one\'s spool');
  assert.deepEqual(await stored(set.primary as DuckDbStore, 'dev'), [0, 1, 2]);
  assert.equal(spoolDir(dataDir, 'cfg1', 'main'), join(dataDir, 'spool', 'cfg1'), 'the main sink keeps the spool path of stores before sinks');
  assert.equal(spoolDir(dataDir, 'cfg1', 'backup'), join(dataDir, 'spool', 'cfg1.backup'));
  assert.match(spoolText(join(dataDir, 'spool', 'cfg1.backup')), /"dev"/, 'the backup sink spooled them');
  assert.equal(spoolText(join(dataDir, 'spool', 'cfg1')), '', 'the main sink did not need its spool');
  const backup = set.entries.find((e) => e.id === 'backup')!;
  assert.equal(set.stats().sinks.find((s) => s.id === 'backup')!.spooled, 3);
  assert.match(set.stats().lastError ?? '', /^backup: /);
  // The disk comes back: the spool drains into it.
  mkdirSync(missing);
  await eventually(async () => {
    try {
      return (await stored(backup.sink as DuckDbStore, 'dev')).length === 3;
    } catch {
      return false;
    }
  }, 'the backup sink to catch up');
  assert.equal(set.stats().spooled, 0);
  await set.close();
});

test('a spool left by a store from before several sinks drains into the main sink', async () => {
  const dataDir = tmp();
  // What the single-database writer spooled during an outage, at spool/<config id>.
  const old = new Journal({ dir: join(dataDir, 'spool', 'cfg-old') });
  old.open();
  old.append(Buffer.from(JSON.stringify({ r: readings('legacy', 0, 4) })));
  old.close();
  const set = SinkSet.create(normalizeSinks([{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 }], dataDir), { dataDir, configId: 'cfg-old' });
  await set.open();
  await eventually(async () => (await stored(set.primary as DuckDbStore, 'legacy')).length === 4, 'the old spool to drain');
  await set.close();
});

test('dead letters go to the store that keeps them, once', async () => {
  const dataDir = tmp();
  const set = SinkSet.create(
    normalizeSinks(
      [
        { id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 },
        { id: 'copy', kind: 'duckdb', path: '', memoryLimit: 64 },
      ],
      dataDir,
    ),
    { dataDir, configId: 'cfg-dl', writer: { flushMs: 1 } },
  );
  await set.open();
  await new Promise<void>((resolve, reject) => set.writeDeadLetters([{ ts: T0, device: 'x', source: 'mqtt:devices/x/telemetry', code: 'DECODE_FAILED', reason: 'bad', payload: '{' }], (e) => (e ? reject(e) : resolve())));
  assert.equal((await set.primary.deadLetters({ limit: 10 })).length, 1);
  const copy = set.entries.find((e) => e.id === 'copy')!.sink as DuckDbStore;
  assert.equal((await copy.deadLetters({ limit: 10 })).length, 0);
  await set.close();
});

test('sink lists are checked with errors that name the problem', () => {
  const dataDir = '/data';
  const main = { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 };
  const fails = (sinks: unknown, pattern: RegExp) => assert.throws(() => normalizeSinks(sinks, dataDir), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
  fails([], /at least one sink/);
  fails(undefined, /at least one sink/);
  fails([{ ...main, kind: 'nosuchdb' }], /unknown kind "nosuchdb" \(known: duckdb, influxdb, victoriametrics\)/);
  fails([main, { ...main, path: 'x.duckdb' }], /two sinks have the id "main"/);
  fails([{ ...main, id: 'a b' }], /needs an id/);
  fails([{ ...main, memoryLimit: -1 }], /memory limit/);
  fails([{ ...main, path: '/srv/a.duckdb' }, { id: 'b', kind: 'duckdb', path: '/srv/a.duckdb' }], /both write \/srv\/a\.duckdb/);
  const ok = normalizeSinks([main, { id: 'b', kind: 'duckdb' }], dataDir);
  assert.deepEqual(ok[1], { id: 'b', kind: 'duckdb', path: '', memoryLimit: 64, retention: '30d', rollupRetention: '1y' }, 'defaults fill what a sink leaves out');
  assert.deepEqual(sinkKinds(), ['duckdb', 'influxdb', 'victoriametrics']);
});

test('an empty DuckDB retention keeps everything: the roll-ups too, whatever their own period says; a shorter roll-up period is refused', () => {
  const main = { id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 };
  for (const retention of ['', 'forever', '0']) {
    assert.equal(normalizeSinks([{ ...main, retention, rollupRetention: '1y' }], '/data')[0].rollupRetention, '', `retention ${JSON.stringify(retention)}`);
  }
  assert.equal(normalizeSinks([{ ...main, retention: '30d', rollupRetention: '1y' }], '/data')[0].rollupRetention, '1y');
  assert.throws(() => normalizeSinks([{ ...main, retention: '30d', rollupRetention: '7d' }], '/data'), /roll-ups must be kept at least as long as raw readings \(7d is shorter than 30d\)/);
});

test('a login in a server sink\'s URL is its login, taken out of the URL (the HTTP clients take none from it) and winning over the credentials\'', () => {
  const [influx, vm, plain] = normalizeSinks(
    [
      { id: 'influx', kind: 'influxdb', url: 'http://reader:p%40ss:w0rd@influx:8086', database: 'db', user: 'other', password: 'x', token: 'tok' },
      { id: 'vm', kind: 'victoriametrics', url: 'https://vm-user:s3cret@vm.example/prefix' },
      { id: 'plain', kind: 'influxdb', url: 'http://influx:8086', database: 'db', user: 'u', password: 'p', token: 't' },
    ],
    tmp(),
  ) as unknown as Array<Record<string, unknown>>;
  assert.deepEqual([influx.url, influx.user, influx.password, influx.token], ['http://influx:8086', 'reader:p@ss', 'w0rd', undefined]);
  assert.deepEqual([vm.url, vm.user, vm.password], ['https://vm.example/prefix', 'vm-user', 's3cret']);
  assert.deepEqual([plain.url, plain.user, plain.password, plain.token], ['http://influx:8086', 'u', 'p', 't']);
});
