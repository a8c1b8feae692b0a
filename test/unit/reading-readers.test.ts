/**
 * Destinations that only read the readings they get (alert, live values, link
 * nodes leading only to them) share one copy of a fanned-out payload; every
 * other destination still gets a copy of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadersGraph } from '../../nodes/lib/reading-readers';
import { copyForSend } from '../../nodes/shared/fan-out';

const flow = [
  { id: 'live', type: 'upperstack-live', wires: [[], []] },
  { id: 'alert', type: 'upperstack-alert', wires: [[], []] },
  // The anomaly node annotates what it passes on output 1: a reader only while output 1 has no wire.
  { id: 'anomaly', type: 'upperstack-anomaly', wires: [[], ['alert']] },
  { id: 'anomalyWired', type: 'upperstack-anomaly', wires: [['fn'], []] },
  { id: 'fn', type: 'function', wires: [[]] },
  { id: 'out1', type: 'link out', mode: 'link', links: ['in1'] },
  { id: 'in1', type: 'link in', wires: [['live', 'alert']] },
  { id: 'out2', type: 'link out', mode: 'link', links: ['in2'] },
  { id: 'in2', type: 'link in', wires: [['live', 'fn']] },
  { id: 'ret', type: 'link out', mode: 'return', links: [] },
  // Two link nodes feeding each other and the live node: nothing in the loop changes a reading.
  { id: 'loopOut', type: 'link out', mode: 'link', links: ['loopIn'] },
  { id: 'loopIn', type: 'link in', wires: [['live', 'loopOut']] },
];

test('readers: alert and live nodes, anomaly with output 1 unwired, link nodes leading only to readers (loops included); not functions, return links or unknown ids', () => {
  const g = new ReadersGraph(flow);
  const readers = ['live', 'alert', 'anomaly', 'out1', 'in1', 'loopOut', 'loopIn'];
  const others = ['anomalyWired', 'fn', 'out2', 'in2', 'ret', 'nowhere'];
  for (const id of readers) assert.equal(g.reader(id), true, id);
  for (const id of others) assert.equal(g.reader(id), false, id);
});

type Ev = { msg: Record<string, unknown>; source: { node: { type: string } }; destination: { id: string }; cloneMessage: boolean };

function send(payload: unknown, to: string[]): Ev[] {
  const msg = { _msgid: 'm', topic: 't', payload };
  return to.map((id, i) => ({ msg, source: { node: { type: 'upperstack-store' } }, destination: { id }, cloneMessage: i > 0 }));
}

const batch = () => [
  { device: 'd1', ts: 1, fields: { t: 1 }, tags: { site: 'a' } },
  { device: 'd2', ts: 2, fields: { t: 2 }, tags: {} },
];
const clone = (m: unknown) => structuredClone(m);

test('a send to an editing node first and readers after: the readers share one copy, the other editor gets its own', () => {
  const original = batch();
  const events = send(original, ['anomalyWired', 'alert', 'fn', 'out1', 'live']);
  copyForSend(events, clone, new ReadersGraph(flow));
  const payloads = events.map((e) => e.msg.payload);
  assert.equal(payloads[0], original);
  assert.notEqual(payloads[1], original);
  assert.equal(payloads[3], payloads[1]);
  assert.equal(payloads[4], payloads[1]);
  assert.notEqual(payloads[2], original);
  assert.notEqual(payloads[2], payloads[1]);
  for (const p of payloads) assert.deepEqual(p, batch());
  // Every destination has a message object of its own, none left for Node-RED to copy.
  assert.equal(new Set(events.map((e) => e.msg)).size, events.length);
  assert.ok(events.every((e) => !e.cloneMessage));
});

test('the default pack: a store wired to anomaly (output 1 unwired), alert and a link to the live values: all share the original', () => {
  const original = batch();
  const events = send(original, ['anomaly', 'alert', 'out1']);
  copyForSend(events, clone, new ReadersGraph(flow));
  assert.ok(events.every((e) => e.msg.payload === original));
  assert.equal(new Set(events.map((e) => e.msg)).size, 3);
});

test('the original held by a reader: the other readers share it, editors get copies', () => {
  const original = batch();
  const events = send(original, ['live', 'alert', 'fn']);
  copyForSend(events, clone, new ReadersGraph(flow));
  assert.equal(events[0].msg.payload, original);
  assert.equal(events[1].msg.payload, original);
  assert.notEqual(events[2].msg.payload, original);
  assert.deepEqual(events[2].msg.payload, batch());
});

test('without the flow configuration every destination gets its own copy', () => {
  const original = batch();
  const events = send(original, ['anomalyWired', 'alert', 'live']);
  copyForSend(events, clone, undefined);
  assert.equal(new Set(events.map((e) => e.msg.payload)).size, 3);
});

test('a payload of another shape is left to Node-RED, readers or not', () => {
  const events = send(Buffer.from('x'), ['live', 'alert']);
  copyForSend(events, clone, new ReadersGraph(flow));
  assert.equal(events[1].cloneMessage, true);
  const nested = send([{ device: 'd', ts: 1, fields: { t: { deep: 1 } } }], ['fn', 'alert']);
  copyForSend(nested, clone, new ReadersGraph(flow));
  assert.equal(nested[1].cloneMessage, true);
});
