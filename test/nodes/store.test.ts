/**
 * The store node on a store config with several sinks (real DuckDB files): a
 * message is consumed, and its journal entry settled, once every sink has it;
 * configs from before sinks still work; a config the runtime cannot use fails
 * messages visibly instead of settling them.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { Journal } from '../../nodes/lib/journal/journal';
import { registerJournal, unregisterJournal } from '../../nodes/lib/ingest/receipts';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/store/store')];

helper.init(require.resolve('node-red'));

const T0 = Date.UTC(2026, 0, 1);

describe('upperstack-store on several sinks', () => {
  const dataDir = tempDir('us-store-');
  let journal: Journal;
  before(async () => {
    helper.settings({ upperstack: { dataDir } });
    await helper.startServer();
    journal = new Journal({ dir: join(dataDir, 'test-journal') });
    journal.open();
    registerJournal('test-input', journal);
  });
  after(async () => {
    unregisterJournal('test-input', journal);
    journal.close();
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  const receipt = () => ({ j: 'test-input', s: journal.append(Buffer.from('m')) });
  const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
    for (const end = performance.now() + 20_000; !(await cond()); ) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  test('readings reach both DuckDB sinks, and the message is done (its entry settled) only then', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      {
        id: 'cfg2',
        type: 'upperstack-store-config',
        name: 'two',
        sinks: [
          { id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 },
          { id: 'mirror', kind: 'duckdb', path: join(dataDir, 'mirror.duckdb'), memoryLimit: 64 },
        ],
        batchSize: 100,
        flushMs: 10,
        configVersion: 3,
      },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg2', configVersion: 1, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const cfg = helper.getNode('cfg2') as unknown as StoreConfigNode;
    await cfg.ready;
    const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
    const done = new Promise<{ upperstack?: unknown }>((resolve) => out.once('input', resolve));
    const r = receipt();
    helper.getNode('store')!.receive({ payload: [{ device: 'twin', ts: T0, fields: { v: 1 }, tags: {} }], upperstack: { receipts: [r] } } as never);
    const msg = await done;
    assert.equal(msg.upperstack, undefined, 'the store passes the message on without receipts');
    assert.equal(journal.backlog(), 0, 'settled');
    const mirror = cfg.writer.entries.find((e) => e.id === 'mirror')!.sink as DuckDbStore;
    assert.equal((await cfg.store.readings({ device: 'twin', limit: 10 })).readings.length, 1);
    assert.equal((await mirror.readings({ device: 'twin', limit: 10 })).readings.length, 1);
    assert.match(cfg.label, /duckdb:.*upperstack\.duckdb \+ duckdb:.*mirror\.duckdb/);
  });

  test('a sink whose database is unavailable spools; the message is still done, and that sink catches up', async () => {
    const later = join(dataDir, 'later');
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      {
        id: 'cfg3',
        type: 'upperstack-store-config',
        sinks: [
          { id: 'main', kind: 'duckdb', path: join(dataDir, 'cfg3.duckdb'), memoryLimit: 64 },
          { id: 'offsite', kind: 'duckdb', path: join(later, 'offsite.duckdb'), memoryLimit: 64 },
        ],
        batchSize: 100,
        flushMs: 10,
        configVersion: 3,
      },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg3', configVersion: 1, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const cfg = helper.getNode('cfg3') as unknown as StoreConfigNode;
    await cfg.ready;
    const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
    const done = new Promise((resolve) => out.once('input', resolve));
    helper.getNode('store')!.receive({ payload: { device: 'away', ts: T0, fields: { v: 2 }, tags: {} }, upperstack: { receipts: [receipt()] } } as never);
    await done;
    assert.equal(journal.backlog(), 0);
    const offsite = cfg.writer.stats().sinks.find((s) => s.id === 'offsite')!;
    assert.equal(offsite.spooled, 1);
    mkdirSync(later);
    const sink = cfg.writer.entries.find((e) => e.id === 'offsite')!.sink as DuckDbStore;
    await until(async () => {
      try {
        return (await sink.readings({ device: 'away', limit: 10 })).readings.length === 1;
      } catch {
        return false;
      }
    }, 'the offsite sink');
  });

  test('a config saved before sinks (one DuckDB file) still stores', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'cfgOld', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dataDir, 'old.duckdb'), batchSize: 100, flushMs: 10, memoryLimit: 64, configVersion: 2 },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfgOld', configVersion: 1, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const cfg = helper.getNode('cfgOld') as unknown as StoreConfigNode;
    await cfg.ready;
    assert.deepEqual(cfg.writer.entries.map((e) => [e.id, e.label]), [['main', `duckdb:${join(dataDir, 'old.duckdb')}`]]);
    const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
    const done = new Promise((resolve) => out.once('input', resolve));
    helper.getNode('store')!.receive({ payload: { device: 'old', ts: T0, fields: { v: 3 }, tags: {} } } as never);
    await done;
    assert.equal((await cfg.store.readings({ device: 'old', limit: 10 })).readings.length, 1);
  });

  test('a sink list the runtime cannot use: messages fail (done(err), so Catch nodes see them) and stay unsettled', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'cfgBad', type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'cassandra' }], batchSize: 100, flushMs: 10, configVersion: 3 },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfgBad', configVersion: 1, wires: [[]] },
    ]);
    const store = helper.getNode('store') as unknown as NodeJS.EventEmitter & { receive(m: unknown): void };
    const failed = new Promise<{ args: unknown[] }>((resolve) => store.on('call:error', (call: { args: unknown[] }) => call.args[1] && resolve(call)));
    const backlog = journal.backlog();
    store.receive({ payload: { device: 'x', ts: T0, fields: { v: 1 }, tags: {} }, upperstack: { receipts: [receipt()] } });
    const call = await failed;
    // The test runtime has no message catalogue: the key stands for 'the store config has invalid sinks'.
    assert.match(String((call.args[0] as Error).message ?? call.args[0]), /invalid sinks|badStore/);
    assert.equal(journal.backlog(), backlog + 1, 'not settled: it replays once the store is fixed');
  });
});
