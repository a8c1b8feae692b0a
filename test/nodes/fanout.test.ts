/**
 * Receipts across the flow graph in a Node-RED runtime: validate wired to two
 * store nodes (two store configs, one slow) settles a journal entry only once
 * both have the readings; a debug tap beside them never holds the journal; a
 * branch that ends without a store lets go at once; a failure goes to the
 * Catch → dead-letter path when there is one, and otherwise does not replay
 * forever. Messages come from mqtt-in through a stand-in for the embedded
 * broker, so the test controls when they arrive.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { collect, until } from '../helpers/node-red';
import { decodeAndValidate, duckStoreConfig, pendingOf as pending, receiptsNodes, storeNode, useReceiptsGraph } from '../helpers/receipts-graph';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [...receiptsNodes, require('../../nodes/deadletter/deadletter'), require('@node-red/nodes/core/common/25-catch.js')];

helper.init(require.resolve('node-red'));

const T0 = Date.UTC(2026, 0, 1);

describe('receipts across the flow graph', () => {
  const graph = useReceiptsGraph('us-fanout-', nodes);
  const { dataDir, load } = graph;
  const n = graph.serial;

  test('validate wired to two stores, one slow, and a debug tap: the entry settles only once both stores have it', async () => {
    const inId = await load(
      [
        ...decodeAndValidate(['storeFast', 'storeSlow', 'tap'], 'dead'),
        duckStoreConfig('fastCfg', join(dataDir, `fast-${n()}.duckdb`), 1, 1),
        // Writes only once 10 readings wait: the slow store.
        duckStoreConfig('slowCfg', join(dataDir, `slow-${n()}.duckdb`), 10, 3_600_000),
        storeNode('storeFast', 'fastCfg'),
        storeNode('storeSlow', 'slowCfg'),
        { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'fastCfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
        { id: 'tap', type: 'helper', z: 'tab' },
      ],
      [['decode'], ['dead']],
    );
    const fast = helper.getNode('fastCfg') as unknown as StoreConfigNode;
    const slow = helper.getNode('slowCfg') as unknown as StoreConfigNode;
    await Promise.all([fast.ready, slow.ready]);
    const tapped = collect<{ upperstack?: unknown }>('tap');
    const readings = (from: number) => Array.from({ length: 5 }, (_, i) => ({ ts: T0 + (from + i) * 1000, v: from + i }));
    graph.deliver('twin', readings(0));
    await until(async () => (await fast.store.readings({ device: 'twin', limit: 100 })).readings.length === 5, 'the fast store');
    await until(() => tapped.length === 1, 'the tap');
    assert.equal(tapped[0].upperstack, undefined, 'the debug tap gets a copy without receipts');
    assert.equal(pending(inId), 1, 'not settled while the slow store has not stored it');
    assert.equal((await slow.store.readings({ device: 'twin', limit: 100 })).readings.length, 0);
    graph.deliver('twin', readings(5));
    await until(() => pending(inId) === 0, 'both entries settled');
    assert.equal((await slow.store.readings({ device: 'twin', limit: 100 })).readings.length, 10);
    assert.equal((await fast.store.readings({ device: 'twin', limit: 100 })).readings.length, 10);
  });

  test('an output that leads to no store or dead-letter node lets go of its messages at once', async () => {
    const inId = await load([{ id: 'watch', type: 'helper', z: 'tab' }], [['watch'], []]);
    const got = new Promise<{ upperstack?: unknown; payload: Buffer }>((resolve) => (helper.getNode('watch') as unknown as NodeJS.EventEmitter).once('input', resolve));
    graph.deliver('solo', { v: 1 });
    const m = await got;
    assert.equal(String(m.payload), '{"v":1}');
    assert.equal(m.upperstack, undefined);
    assert.equal(pending(inId), 0, 'nothing waits for a store that is not there');
  });

  test('a failure on an unwired output goes to the Catch → dead-letter path, which settles it', async () => {
    const inId = await load(
      [
        ...decodeAndValidate(['store']),
        // The store writes once 5 readings wait, so its share is still open when the dead letter is recorded.
        duckStoreConfig('cfg', join(dataDir, `catch-${n()}.duckdb`), 5, 3_600_000),
        storeNode('store', 'cfg'),
        duckStoreConfig('dlCfg', join(dataDir, `letters-${n()}.duckdb`), 1, 1),
        { id: 'catchDecode', type: 'catch', z: 'tab', scope: ['decode'], uncaught: false, wires: [['dead']] },
        { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'dlCfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [['letters']] },
        { id: 'letters', type: 'helper', z: 'tab' },
      ],
      [['decode'], []],
    );
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const dl = helper.getNode('dlCfg') as unknown as StoreConfigNode;
    await Promise.all([cfg.ready, dl.ready]);
    const letters = collect<{ payload: { code: string } }>('letters');
    // One good reading and one decode refuses (no fields): split between the store and, through Catch, the dead letter.
    graph.deliver('half', [{ ts: T0, v: 1 }, { ts: T0 + 1000 }]);
    await until(() => letters.length === 1, 'the dead letter');
    assert.equal(letters[0].payload.code, 'INVALID_READING');
    assert.equal(pending(inId), 1, 'the dead letter settled its share only: the store still has to write its reading');
    graph.deliver('half', [1, 2, 3, 4].map((i) => ({ ts: T0 + i * 10_000, v: i })));
    await until(() => pending(inId) === 0, 'settled by the store and the dead-letter node');
    assert.equal((await dl.store.deadLetters({ device: 'half', limit: 10 })).length, 1);
    assert.equal((await cfg.store.readings({ device: 'half', limit: 10 })).readings.length, 5);
  });

  test('a message that fails for what it holds, with no Catch path, does not replay forever', async () => {
    // Output 1 of mqtt-in straight into validate: raw bytes are not Readings (INVALID_READING, done(err)).
    const inId = await load(
      [
        { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [['store'], ['dead']] },
        duckStoreConfig('cfg', join(dataDir, `nocatch-${n()}.duckdb`), 1, 1),
        storeNode('store', 'cfg'),
        { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
      ],
      [['validate'], []],
    );
    const validate = helper.getNode('validate') as unknown as NodeJS.EventEmitter;
    const failed = new Promise<void>((resolve) => validate.on('call:error', () => resolve()));
    graph.deliver('raw', { v: 1 });
    await failed;
    await until(() => pending(inId) === 0, 'its share ended');
  });

  test('a message kept back by a failure that is not about its data (a store that cannot start) stays for a replay', async () => {
    const inId = await load(
      [
        { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['store'], []] },
        { id: 'cfg', type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'nosuchdb' }], batchSize: 1, flushMs: 1, configVersion: 3 },
        storeNode('store', 'cfg'),
      ],
      [['decode'], []],
    );
    const store = helper.getNode('store') as unknown as NodeJS.EventEmitter;
    const failed = new Promise<void>((resolve) => store.on('call:error', (c: { args: unknown[] }) => c.args[1] && resolve()));
    graph.deliver('kept', { ts: T0, v: 1 });
    await failed;
    await new Promise((r) => setImmediate(r));
    assert.equal(pending(inId), 1);
  });
});
