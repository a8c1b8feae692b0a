/** Which destinations of a flow can lead a message to a store or dead-letter node, and which errors a Catch records. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettlementGraph, type FlowNode } from '../../nodes/lib/ingest/graph';

const settles = (t: string) => t === 'upperstack-store' || t === 'upperstack-deadletter';

function flow(extra: FlowNode[] = []): SettlementGraph {
  return new SettlementGraph(
    [
      { id: 'tab', type: 'tab' },
      { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', wires: [['decode', 'tap'], ['dead']] },
      { id: 'decode', type: 'upperstack-decode', z: 'tab', wires: [['validate'], []] },
      { id: 'validate', type: 'upperstack-validate', z: 'tab', wires: [['storeA', 'storeB', 'tap'], ['dead']] },
      { id: 'storeA', type: 'upperstack-store', z: 'tab', wires: [['anomaly']] },
      { id: 'storeB', type: 'upperstack-store', z: 'tab', d: true, wires: [[]] } as FlowNode,
      { id: 'anomaly', type: 'upperstack-anomaly', z: 'tab', wires: [[], ['tap']] },
      { id: 'dead', type: 'upperstack-deadletter', z: 'tab', wires: [[]] },
      { id: 'tap', type: 'debug', z: 'tab', wires: [] },
      ...extra,
    ],
    settles,
  );
}

test('nodes on a way to a store or dead-letter node reach it; a debug tap and what only follows a store do not', () => {
  const g = flow();
  for (const id of ['in', 'decode', 'validate', 'storeA', 'storeB', 'dead']) assert.equal(g.reaches(id), true, id);
  for (const id of ['tap', 'anomaly']) assert.equal(g.reaches(id), false, id);
  assert.equal(g.reaches('storeB'), true, 'a disabled store keeps its share: its messages replay once it is enabled');
});

test('function and change nodes reach a store through their wires; a branch that ends without one does not', () => {
  const g = flow([
    { id: 'fn', type: 'function', z: 'tab', wires: [['chg']] },
    { id: 'chg', type: 'change', z: 'tab', wires: [['storeA']] },
    { id: 'sw', type: 'switch', z: 'tab', wires: [['tap'], []] },
    // A loop that never reaches a store must not hang the walk.
    { id: 'loop1', type: 'function', z: 'tab', wires: [['loop2']] },
    { id: 'loop2', type: 'function', z: 'tab', wires: [['loop1']] },
  ]);
  assert.equal(g.reaches('fn'), true);
  assert.equal(g.reaches('chg'), true);
  assert.equal(g.reaches('sw'), false);
  assert.equal(g.reaches('loop1'), false);
});

test('link nodes carry reach; a return link, a dynamic link call, a subflow or an unknown node count as reaching', () => {
  const g = flow([
    { id: 'lo', type: 'link out', z: 'tab', mode: 'link', links: ['li'], wires: [] },
    { id: 'li', type: 'link in', z: 'tab', wires: [['storeA']] },
    { id: 'lo2', type: 'link out', z: 'tab', mode: 'link', links: ['li2'], wires: [] },
    { id: 'li2', type: 'link in', z: 'tab', wires: [['tap']] },
    { id: 'ret', type: 'link out', z: 'tab', mode: 'return', wires: [] },
    { id: 'call', type: 'link call', z: 'tab', linkType: 'dynamic', links: [], wires: [[]] },
    { id: 'sub', type: 'subflow:abc', z: 'tab', wires: [[]] },
  ]);
  assert.equal(g.reaches('lo'), true);
  assert.equal(g.reaches('lo2'), false);
  assert.equal(g.reaches('ret'), true);
  assert.equal(g.reaches('call'), true);
  assert.equal(g.reaches('sub'), true);
  assert.equal(g.reaches('not-in-the-flow'), true, 'when unsure a share is kept');
  assert.equal(g.has('not-in-the-flow'), false);
});

test('errors are recorded when a Catch node that leads to a dead-letter node covers the node, by list, tab or group', () => {
  const g = new SettlementGraph(
    [
      { id: 't1', type: 'tab' },
      { id: 't2', type: 'tab' },
      { id: 'store', type: 'upperstack-store', z: 't1', wires: [[]] },
      { id: 'validate', type: 'upperstack-validate', z: 't1', g: 'grp', wires: [['store'], []] },
      { id: 'decode', type: 'upperstack-decode', z: 't2', wires: [[]] },
      { id: 'fn', type: 'function', z: 't2', wires: [[]] },
      { id: 'dead', type: 'upperstack-deadletter', z: 't1', wires: [[]] },
      { id: 'byList', type: 'catch', z: 't1', scope: ['store'], wires: [['dead']] },
      { id: 'byGroup', type: 'catch', z: 't1', g: 'grp', scope: 'group', wires: [['dead']] },
      { id: 'toDebug', type: 'catch', z: 't2', scope: null, wires: [['dbg']] },
      { id: 'dbg', type: 'debug', z: 't2', wires: [] },
    ],
    settles,
  );
  assert.equal(g.caught('store'), true);
  assert.equal(g.caught('validate'), true, 'its group has a Catch');
  assert.equal(g.caught('decode'), false, 'the Catch of its tab only shows errors in the debug sidebar');
  assert.equal(g.caught('fn'), false);
  assert.equal(g.caught('unknown'), false);
  const tabWide = new SettlementGraph(
    [
      { id: 'fn', type: 'function', z: 't', wires: [[]] },
      { id: 'c', type: 'catch', z: 't', wires: [['dead']] },
      { id: 'dead', type: 'upperstack-deadletter', z: 't', wires: [[]] },
    ],
    settles,
  );
  assert.equal(tabWide.caught('fn'), true);
});
