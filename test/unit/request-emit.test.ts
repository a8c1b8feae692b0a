/**
 * What the HTTP and CoAP inputs send for a run of journaled requests: the readings of the run in one
 * message, unless together they pass the readings limit one message may hold, which each request kept
 * on its own; then several messages of whole requests, each with the receipts of its own requests.
 * The node is a stand-in object: the emitter only reads its id and calls send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from 'node-red';
import { requestEmitter } from '../../nodes/shared/request-emit';
import { DEFAULT_LIMITS } from '../../nodes/lib/limits';
import type { IntakeItem } from '../../nodes/lib/ingest/intake';
import type { InputOutcome } from '../../nodes/lib/inputs/request';
import type { Reading } from '../../nodes/lib/reading';
import type { UpperstackMessage } from '../../nodes/shared/input';

function emitterFor(outcomes: Map<string, InputOutcome>) {
  const sent: Array<Array<UpperstackMessage | UpperstackMessage[] | null>> = [];
  const node = { id: 'http1', send: (m: Array<UpperstackMessage | UpperstackMessage[] | null>) => sent.push(m), error: () => undefined } as unknown as Node;
  let n = 0;
  const emit = requestEmitter({
    node,
    wires: [['store'], ['dead']],
    topic: 'http',
    outcomes: { get: (rec) => outcomes.get(rec.device!), delete: () => true },
    decode: (rec) => outcomes.get(rec.device!)!,
    newId: () => `m${++n}`,
  });
  return { emit, sent };
}

function request(device: string, readings: number, seq: number): { item: IntakeItem; outcome: InputOutcome } {
  const rs: Reading[] = Array.from({ length: readings }, (_, k) => ({ device, ts: 1767225600000 + k, fields: { v: k }, tags: {} }));
  return {
    item: { seq, rec: { source: `http:/ingest/${device}`, payload: Buffer.alloc(0), receivedAt: 1767225600000 + seq, device } },
    outcome: { readings: rs, failures: [] },
  };
}

test('requests that together pass the readings limit leave as several messages of whole requests', () => {
  const per = Math.floor(DEFAULT_LIMITS.maxReadings * 0.4);
  const reqs = ['a', 'b', 'c', 'd'].map((d, i) => request(d, per, i + 1));
  const { emit, sent } = emitterFor(new Map(reqs.map((r) => [r.item.rec.device!, r.outcome])));
  emit(reqs.map((r) => r.item), false);
  assert.equal(sent.length, 1);
  const [out, failed] = sent[0];
  assert.equal(failed, null);
  assert.ok(Array.isArray(out));
  const msgs = out as UpperstackMessage[];
  assert.deepEqual(msgs.map((m) => (m.payload as Reading[]).length), [2 * per, 2 * per]);
  for (const m of msgs) assert.ok((m.payload as Reading[]).length <= DEFAULT_LIMITS.maxReadings);
  assert.deepEqual(msgs.map((m) => m.upperstack?.receipts?.map((r) => r.s)), [[1, 2], [3, 4]]);
  // Each message is dated by its own first request.
  assert.deepEqual(msgs.map((m) => m.receivedAt), [1767225600001, 1767225600003]);
  assert.deepEqual(msgs.map((m) => m._msgid), ['m1', 'm2']);
});

test('a run within the limit is one message, named after its device when there is one', () => {
  const reqs = [request('a', 3, 1), request('a', 2, 2)];
  const { emit, sent } = emitterFor(new Map([['a', reqs[0].outcome]]));
  emit([reqs[0].item, { ...reqs[1].item, rec: { ...reqs[1].item.rec } }], false);
  const [out] = sent[0];
  assert.ok(!Array.isArray(out));
  const msg = out as UpperstackMessage;
  assert.equal((msg.payload as Reading[]).length, 6);
  assert.equal(msg.device, 'a');
  assert.deepEqual(msg.upperstack?.receipts?.map((r) => r.s), [1, 2]);
});
