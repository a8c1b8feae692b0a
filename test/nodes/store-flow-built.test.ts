/**
 * Readings a flow of one's own builds and hands to the store after validate (a function node between them):
 * what the store cannot keep so that it can be read back is dead-lettered with a reason, the rest of the
 * batch is stored, and the journal entry settles; tags it sets read back as any sink keeps them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { until } from '../helpers/node-red';
import { decodeAndValidate, duckStoreConfig, pendingOf, receiptsNodes, storeNode, useReceiptsGraph } from '../helpers/receipts-graph';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [...receiptsNodes, require('../../nodes/query/query'), require('@node-red/nodes/core/function/10-function.js')];

helper.init(require.resolve('node-red'));

const T0 = Date.UTC(2026, 0, 1);

describe('readings a flow builds, stored', () => {
  const graph = useReceiptsGraph('us-flow-built-', nodes);

  test('a reading whose device a function node emptied is dead-lettered STORE_REJECTED saying so; the others of its batch are stored', async () => {
    const inId = await graph.load(
      [
        ...decodeAndValidate(['fn']),
        // A user's mapping that loses the device of the readings it does not know.
        { id: 'fn', type: 'function', z: 'tab', func: "for (const r of msg.payload) if (r.fields.v > 1) r.device = '';\nreturn msg;", outputs: 1, wires: [['store']] },
        duckStoreConfig('cfg', join(graph.dataDir, 'flow-built.duckdb'), 1, 1),
        storeNode('store', 'cfg'),
      ],
      [['decode'], []],
    );
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    graph.deliver('pump-1', [
      { ts: T0, v: 1 },
      { ts: T0 + 1000, v: 2 },
    ]);
    const stored = async () => (await cfg.store.readings({ device: 'pump-1', limit: 10 })).readings;
    await until(async () => (await stored()).length > 0, 'the store');
    await until(() => pendingOf(inId) === 0, 'the journal entry settled');
    const kept = await stored();
    assert.deepEqual(kept.map((r) => r.fields), [{ v: 1 }]);
    const letters = await cfg.store.deadLetters({ codes: ['STORE_REJECTED'], limit: 10 });
    assert.equal(letters.length, 1, 'the reading without a device is recorded, not kept where nobody can ask for it');
    assert.match(letters[0].reason, /has an empty device; name the device it is from/);
    assert.deepEqual(JSON.parse(String(letters[0].payload)).fields, { v: 2 });
  });

  test('tags a function node sets to numbers, booleans and null read back from the query node as the InfluxDB sink keeps them; an object tag is dead-lettered naming it', async () => {
    const inId = await graph.load(
      [
        ...decodeAndValidate(['fn']),
        // A user's enrichment that writes tags of other types than strings.
        {
          id: 'fn',
          type: 'function',
          z: 'tab',
          func: "for (const r of msg.payload) r.tags = r.fields.v > 1 ? { loc: { room: 2 } } : { site: 5, on: true, gone: null };\nreturn msg;",
          outputs: 1,
          wires: [['store']],
        },
        duckStoreConfig('cfg', join(graph.dataDir, 'flow-built-tags.duckdb'), 1, 1),
        storeNode('store', 'cfg'),
        { id: 'query', type: 'upperstack-query', z: 'tab', store: 'cfg', kind: 'readings', configVersion: 1, wires: [['out']] },
        { id: 'out', type: 'helper', z: 'tab' },
      ],
      [['decode'], []],
    );
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    graph.deliver('pump-2', [
      { ts: T0, v: 1 },
      { ts: T0 + 1000, v: 2 },
    ]);
    await until(async () => (await cfg.store.readings({ device: 'pump-2', limit: 10 })).readings.length > 0, 'the store');
    await until(() => pendingOf(inId) === 0, 'the journal entry settled');
    const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
    const answer = new Promise<{ payload: { readings: Array<{ tags: unknown }> } }>((resolve) => out.once('input', resolve));
    (helper.getNode('query') as unknown as { receive(m: unknown): void }).receive({ payload: { device: 'pump-2' } });
    const { payload } = await answer;
    assert.deepEqual(
      payload.readings.map((r) => r.tags),
      [{ site: '5', on: 'true' }],
    );
    const letters = await cfg.store.deadLetters({ codes: ['STORE_REJECTED'], limit: 10 });
    assert.equal(letters.length, 1);
    assert.match(letters[0].reason, /tag "loc" is an object; tag values must be strings/);
  });
});
