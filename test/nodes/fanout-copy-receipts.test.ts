/**
 * Fan-out of messages that hold journal receipts, with the readings copy hook
 * of a real runtime in place: validate wired to two and to three store nodes
 * (store configs of their own, some slow) and a debug tap. The extra wires get
 * their copies from the readings copier, receipts and all, and the journal
 * entry settles only once every store has the readings, whichever of the two
 * onSend hooks (copy, settlement) runs first. Messages come from mqtt-in
 * through a stand-in for the embedded broker, so the test controls when they
 * arrive.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { installReadingsCopy } from '../../nodes/shared/fan-out';
import { onComplete, onSend } from '../../nodes/shared/settlement';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { collect, until } from '../helpers/node-red';
import { decodeAndValidate, duckStoreConfig, pendingOf as pending, receiptsNodes, storeNode, useReceiptsGraph } from '../helpers/receipts-graph';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [...receiptsNodes, require('../../nodes/deadletter/deadletter')];
// The helper's node API has no hooks; the runtime's flows use this module's (Node-RED's own).
const hooks = require('@node-red/util').hooks as { add(id: string, fn: (p: never) => unknown): void; remove(id: string): void; has(id: string): boolean };
const util = require('@node-red/util').util as { cloneMessage(m: unknown): unknown };

helper.init(require.resolve('node-red'));

const T0 = Date.now() - 3_600_000;
const COPY = 'onSend.upperstackReadingsCopy';
const SETTLE = 'onSend.upperstack-receipts';
const SETTLE_DONE = 'onComplete.upperstack-receipts';

describe('fan-out to several stores with the readings copy', () => {
  const graph = useReceiptsGraph('us-fanout-receipts-', nodes);
  const dataDir = graph.dataDir;
  /** What the readings copier handed to cloneMessage: the message without its payload. */
  const copied: Array<Record<string, unknown>> = [];

  /** Both hooks, in the order given (Node-RED runs a hook point's hooks in the order they were added). */
  function installHooks(order: 'copy first' | 'settlement first') {
    for (const id of [COPY, SETTLE, SETTLE_DONE]) if (hooks.has(id)) hooks.remove(id);
    const copy = () => installReadingsCopy({ hooks, util: { cloneMessage: (m: unknown) => (copied.push(m as Record<string, unknown>), util.cloneMessage(m)) } } as never);
    const settle = () => {
      hooks.add(SETTLE, onSend as (p: never) => unknown);
      hooks.add(SETTLE_DONE, onComplete as (p: never) => unknown);
    };
    if (order === 'copy first') {
      copy();
      settle();
    } else {
      settle();
      copy();
    }
  }

  after(() => {
    for (const id of [COPY, SETTLE, SETTLE_DONE]) if (hooks.has(id)) hooks.remove(id);
  });

  /** mqtt-in → decode → validate → the stores (each writing once `batchSize` readings wait, see duckStoreConfig) and a debug tap. */
  async function load(batchSizes: number[]) {
    const stores = batchSizes.map((_, i) => `store${i}`);
    const n = graph.serial() + 1;
    const inId = await graph.load(
      [
        ...decodeAndValidate([...stores, 'tap'], 'dead'),
        ...batchSizes.flatMap((batchSize, i) => [
          duckStoreConfig(`cfg${i}`, join(dataDir, `s${i}-${n}.duckdb`), batchSize, batchSize === 1 ? 1 : 3_600_000),
          storeNode(`store${i}`, `cfg${i}`),
        ]),
        { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg0', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
        { id: 'tap', type: 'helper', z: 'tab' },
      ],
      [['decode'], ['dead']],
    );
    const cfgs = batchSizes.map((_, i) => helper.getNode(`cfg${i}`) as unknown as StoreConfigNode);
    await Promise.all(cfgs.map((c) => c.ready));
    const tapped = collect<{ upperstack?: unknown }>('tap');
    const stored = async (device: string) => Promise.all(cfgs.map(async (c) => (await c.store.readings({ device, limit: 100 })).readings.length));
    return { inId, tapped, stored };
  }

  const five = (from: number) => Array.from({ length: 5 }, (_, i) => ({ ts: T0 + (from + i) * 1000, v: from + i }));
  const withReceipts = () => copied.filter((m) => Array.isArray((m.upperstack as { receipts?: unknown } | undefined)?.receipts));

  for (const order of ['copy first', 'settlement first'] as const) {
    test(`two stores, one slow (${order}): each entry settles only once both have it`, async () => {
      installHooks(order);
      copied.length = 0;
      const { inId, tapped, stored } = await load([1, 10]);
      graph.deliver('twin', five(0));
      await until(async () => (await stored('twin'))[0] === 5, 'the fast store');
      await until(() => tapped.length === 1, 'the tap');
      assert.equal(tapped[0].upperstack, undefined, 'the debug tap gets a copy without receipts');
      assert.equal(withReceipts().length, 1, 'the slow store got its copy, receipts included, from the readings copier');
      assert.ok(copied.every((m) => !('payload' in m)), 'payloads were copied as readings');
      assert.deepEqual(await stored('twin'), [5, 0]);
      assert.equal(pending(inId), 1, 'not settled while the slow store has not stored it');
      graph.deliver('twin', five(5));
      await until(() => pending(inId) === 0, 'both entries settled');
      assert.deepEqual(await stored('twin'), [10, 10]);
    });

    test(`three stores, the third slower (${order}): each entry settles only once all three have it`, async () => {
      installHooks(order);
      copied.length = 0;
      const { inId, stored } = await load([1, 5, 15]);
      graph.deliver('triple', five(0));
      await until(async () => (await stored('triple'))[1] === 5, 'the first two stores');
      assert.deepEqual(await stored('triple'), [5, 5, 0]);
      assert.equal(pending(inId), 1);
      graph.deliver('triple', five(5));
      await until(async () => (await stored('triple'))[1] === 10, 'the first two stores');
      assert.deepEqual(await stored('triple'), [10, 10, 0]);
      assert.equal(pending(inId), 2, 'two stores have both entries, the third has neither: nothing settles');
      graph.deliver('triple', five(10));
      await until(() => pending(inId) === 0, 'all three entries settled');
      assert.deepEqual(await stored('triple'), [15, 15, 15]);
      assert.equal(withReceipts().length, 6, 'two copies with receipts per message, made by the readings copier');
    });
  }
});
