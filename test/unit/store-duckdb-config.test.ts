/** What the embedded store asks of DuckDB when it opens: memory limit and threads (nodes/lib/store/duckdb.ts). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DEFAULT_THREADS, DuckDbStore, duckDbConfig, threadsFromEnv } from '../../nodes/lib/store/duckdb';
import { ConfigError, StoreFailedError } from '../../nodes/lib/errors';
import { duckdbSink } from '../../nodes/lib/store/sinks-duckdb';
import { tempDir } from '../helpers/temp';

const dir = tempDir('us-duckcfg-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** DuckDB's own view of a setting on the store's connection. */
async function setting(store: DuckDbStore, name: string): Promise<string> {
  const conn = (store as unknown as { conn?: DuckDBConnection }).conn;
  assert.ok(conn, 'the store is open');
  const r = await conn.runAndReadAll(`SELECT current_setting('${name}')::VARCHAR`);
  return String(r.getRows()[0][0]);
}

test('one DuckDB thread unless told otherwise; 0 is DuckDB’s own default', () => {
  assert.equal(DEFAULT_THREADS, 1);
  assert.deepEqual(duckDbConfig({}), { threads: '1' });
  assert.deepEqual(duckDbConfig({ memoryLimitMb: 128 }), { memory_limit: '128MB', threads: '1' });
  assert.deepEqual(duckDbConfig({ memoryLimitMb: 0, threads: 4 }), { threads: '4' });
  assert.deepEqual(duckDbConfig({ threads: 0 }), {});
});

test('UPPERSTACK_DUCKDB_THREADS: empty is the default, a whole number is taken, anything else is a config error', () => {
  assert.equal(threadsFromEnv(undefined), undefined);
  assert.equal(threadsFromEnv(' '), undefined);
  assert.equal(threadsFromEnv('0'), 0);
  assert.equal(threadsFromEnv('8'), 8);
  for (const bad of ['two', '-1', '1.5', '99999']) assert.throws(() => threadsFromEnv(bad), ConfigError, bad);
  assert.throws(() => new DuckDbStore({ path: ':memory:', threads: -1 }), StoreFailedError);
});

test('an opened store runs with the memory limit and threads it was given', async () => {
  const plain = new DuckDbStore({ path: join(dir, 'a.duckdb'), memoryLimitMb: 64 });
  await plain.open();
  try {
    assert.equal(await setting(plain, 'threads'), '1');
    // 64 MB = 61.0 MiB
    assert.match(await setting(plain, 'memory_limit'), /^61\.0 MiB$/);
  } finally {
    await plain.close();
  }
  const two = new DuckDbStore({ path: join(dir, 'b.duckdb'), threads: 2 });
  await two.open();
  try {
    assert.equal(await setting(two, 'threads'), '2');
  } finally {
    await two.close();
  }
});

test('the default pack’s DuckDB sink takes its threads from UPPERSTACK_DUCKDB_THREADS', async () => {
  const saved = process.env.UPPERSTACK_DUCKDB_THREADS;
  const ctx = { dataDir: dir, siblings: [] };
  const config = duckdbSink.normalize({ id: 'main', kind: 'duckdb', path: join(dir, 'c.duckdb') }, ctx);
  try {
    process.env.UPPERSTACK_DUCKDB_THREADS = '3';
    const store = duckdbSink.create(config, ctx) as DuckDbStore;
    await store.open();
    try {
      assert.equal(await setting(store, 'threads'), '3');
    } finally {
      await store.close();
    }
    process.env.UPPERSTACK_DUCKDB_THREADS = 'many';
    assert.throws(() => duckdbSink.create(config, ctx), ConfigError);
  } finally {
    if (saved === undefined) delete process.env.UPPERSTACK_DUCKDB_THREADS;
    else process.env.UPPERSTACK_DUCKDB_THREADS = saved;
  }
});
