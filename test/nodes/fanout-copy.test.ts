/**
 * A store node wired to several nodes (as the default pack wires it to anomaly,
 * alert and the dashboard link): with the readings copy hook of a real runtime
 * in place, every wire gets every reading, each wire its own copy, so a node
 * that changes its message changes nothing another branch sees.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { installReadingsCopy } from '../../nodes/shared/fan-out';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/store/store'), require('../../nodes/live/live'), require('@node-red/nodes/core/common/60-link')];
// The helper's node API has no hooks; the runtime's flows use this module's (Node-RED's own).
const hooks = require('@node-red/util').hooks as { remove(id: string): void; has(id: string): boolean };
const RED = require('@node-red/util').util as { cloneMessage(m: unknown): unknown };

helper.init(require.resolve('node-red'));

const T0 = Date.UTC(2026, 0, 1);
type Msg = { _msgid?: string; topic?: string; payload: Array<{ device: string; ts: number; fields: Record<string, unknown>; tags: Record<string, string> }> };

describe('store output fanned out to several nodes', () => {
  const dataDir = tempDir('us-fanout-copy-');
  const copied: unknown[] = [];
  before(async () => {
    helper.settings({ upperstack: { dataDir } });
    await helper.startServer();
    // The runtime's node API (the deployed configuration) tells which destinations only read.
    const redNodes = (helper as unknown as { _redNodes: unknown })._redNodes;
    installReadingsCopy({ hooks, nodes: redNodes, util: { cloneMessage: (m: unknown) => (copied.push(m), RED.cloneMessage(m)) } } as never);
    assert.ok(hooks.has('onSend.upperstackReadingsCopy'));
  });
  after(async () => {
    hooks.remove('onSend.upperstackReadingsCopy');
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  test('every wire gets every reading, in its own copy', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'cfg', type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 }], batchSize: 100, flushMs: 10, configVersion: 3 },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [['a', 'b', 'c']] },
      { id: 'a', type: 'helper', z: 'tab' },
      { id: 'b', type: 'helper', z: 'tab' },
      { id: 'c', type: 'helper', z: 'tab' },
    ]);
    const got: Record<string, Msg[]> = { a: [], b: [], c: [] };
    for (const id of ['a', 'b', 'c']) {
      (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('input', (m: Msg) => {
        got[id].push(m);
        // A branch that edits its message in place: the other branches must not see it.
        for (const r of m.payload) {
          r.fields.temperature = -1;
          r.tags.site = id;
        }
        m.topic = id;
      });
    }
    const batches = [0, 1, 2].map((b) => Array.from({ length: 50 }, (_, i) => ({ device: `d${i % 3}`, ts: T0 + b * 1000 + i, fields: { temperature: 20 + i, ok: true, label: `r${i}` }, tags: { site: 'home' } })));
    const sent = structuredClone(batches);
    copied.length = 0;
    const store = helper.getNode('store')!;
    for (const p of batches) store.receive({ payload: p, topic: 'in' } as never);
    for (const end = performance.now() + 20_000; got.a.length + got.b.length + got.c.length < 9; ) {
      if (performance.now() > end) throw new Error('timed out waiting for the three branches');
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const id of ['a', 'b', 'c']) {
      assert.equal(got[id].length, 3, id);
      const readings = got[id].flatMap((m) => m.payload);
      assert.equal(readings.length, 150, id);
      // What each branch saw on arrival: every reading as sent (its own edits happened after).
      assert.deepEqual(readings.map((r) => [r.device, r.ts, r.fields.ok, r.fields.label]), sent.flat().map((r) => [r.device, r.ts, r.fields.ok, r.fields.label]), id);
      assert.ok(readings.every((r) => r.fields.temperature === -1 && r.tags.site === id), `${id} holds only its own edits`);
      assert.ok(got[id].every((m) => m.topic === id), id);
    }
    // Two copies per message (b and c), made by the readings copy: the rest of the message went to cloneMessage without its payload.
    assert.equal(copied.length, 6);
    assert.ok(copied.every((m) => !('payload' in (m as object))));
  });

  test('nodes that edit their readings change nothing the live-values node shows, directly or through link nodes', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'cfg', type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 }], batchSize: 100, flushMs: 10, configVersion: 3 },
      // The first wire gets the original: here a node that edits it, with the readers and another editor after it.
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [['a', 'live', 'b', 'lout']] },
      { id: 'a', type: 'helper', z: 'tab' },
      { id: 'b', type: 'helper', z: 'tab' },
      { id: 'live', type: 'upperstack-live', z: 'tab', fields: 'temperature', columns: 'temperature, label', interval: 0.5, maxDevices: 10, configVersion: 1, wires: [['rows'], []] },
      { id: 'lout', type: 'link out', z: 'tab', mode: 'link', links: ['lin'], wires: [], x: 0, y: 0 },
      { id: 'lin', type: 'link in', z: 'tab', links: ['lout'], wires: [['live2']], x: 0, y: 0 },
      { id: 'live2', type: 'upperstack-live', z: 'tab', fields: 'temperature', columns: 'temperature, label', interval: 0.5, maxDevices: 10, configVersion: 1, wires: [['rows2'], []] },
      { id: 'rows', type: 'helper', z: 'tab' },
      { id: 'rows2', type: 'helper', z: 'tab' },
    ]);
    const seen = { a: 0, b: 0 };
    for (const id of ['a', 'b'] as const) {
      (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('input', (m: Msg) => {
        seen[id] += m.payload.length;
        for (const r of m.payload) {
          r.fields.temperature = -1;
          r.fields.label = id;
        }
      });
    }
    const tables: Record<string, Array<Record<string, unknown>>> = {};
    for (const id of ['rows', 'rows2']) (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('input', (m: { payload: Array<Record<string, unknown>> }) => (tables[id] = m.payload));
    const batch = Array.from({ length: 30 }, (_, i) => ({ device: `d${i % 3}`, ts: T0 + i, fields: { temperature: 20 + i, label: `r${i}` }, tags: {} }));
    copied.length = 0;
    helper.getNode('store')!.receive({ payload: batch } as never);
    for (const end = performance.now() + 20_000; !(tables.rows && tables.rows2 && seen.a === 30 && seen.b === 30); ) {
      if (performance.now() > end) throw new Error('timed out waiting for the branches and both tables');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Each device's latest reading as sent, whatever the editing branches did to theirs.
    const expected = [27, 28, 29].map((i) => ({ device: `d${i % 3}`, temperature: 20 + i, label: `r${i}` }));
    for (const id of ['rows', 'rows2']) assert.deepEqual(tables[id].map((r) => ({ device: r.device, temperature: r.temperature, label: r.label })), expected, id);
    // Three destinations beyond the first: each got its own message, the readers sharing one payload copy.
    assert.equal(copied.length, 3);
  });
});
