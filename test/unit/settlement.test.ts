/** The send hook that shares receipts among the destinations of one send, on a real journal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { NodeAPI } from 'node-red';
import { Journal } from '../../nodes/lib/journal/journal';
import { registerJournal, consumeReceipts, type Receipt } from '../../nodes/lib/ingest/receipts';
import { installSettlement, onSend, onComplete, shareReceipts } from '../../nodes/shared/settlement';
import { StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import { tempDir } from '../helpers/temp';

const flow = [
  { id: 'tab', type: 'tab' },
  { id: 'validate', type: 'upperstack-validate', z: 'tab', wires: [['storeA', 'storeB', 'tap'], ['dead']] },
  { id: 'storeA', type: 'upperstack-store', z: 'tab', wires: [[]] },
  { id: 'storeB', type: 'upperstack-store', z: 'tab', wires: [[]] },
  { id: 'dead', type: 'upperstack-deadletter', z: 'tab', wires: [[]] },
  { id: 'tap', type: 'debug', z: 'tab', wires: [] },
  { id: 'fn', type: 'function', z: 'tab', wires: [[]] },
];
const events = new EventEmitter();
installSettlement({ nodes: { eachNode: (cb: (n: unknown) => void) => flow.forEach(cb) }, events, hooks: { add: () => undefined, has: () => true } } as unknown as NodeAPI);

const journal = new Journal({ dir: tempDir('us-settle-') });
journal.open();
registerJournal('in', journal);
const entry = (): Receipt => ({ j: 'in', s: journal.append(Buffer.from('m')) });
const msg = (r: Receipt) => ({ payload: 1, upperstack: { receipts: [r] } });
const ev = (m: object, to: string) => ({ msg: m as { upperstack?: { receipts?: Receipt[] } }, destination: { id: to } });

test('one message to two stores and a debug tap: two shares, and the tap gets a copy without receipts', () => {
  const r = entry();
  const m = msg(r);
  const send = [ev(m, 'storeA'), ev(m, 'storeB'), ev(m, 'tap')];
  onSend(send);
  assert.equal(send[0].msg, m);
  assert.equal(send[2].msg.upperstack, undefined);
  assert.equal(m.upperstack.receipts.length, 1, 'the original keeps its receipts');
  consumeReceipts([r]);
  assert.equal(journal.backlog(), 1, 'one store is not enough');
  consumeReceipts([r]);
  assert.equal(journal.backlog(), 0);
});

test('the same message on two outputs (send([msg, msg])) owes a share to each', () => {
  const r = entry();
  const m = msg(r);
  onSend([ev(m, 'storeA'), ev(m, 'dead')]);
  consumeReceipts([r]);
  assert.equal(journal.backlog(), 1);
  consumeReceipts([r]);
  assert.equal(journal.backlog(), 0);
});

test('many distinct messages in one send (a batch of failures) keep one share each', () => {
  const rs = Array.from({ length: 500 }, entry);
  const send = rs.map((r) => ev(msg(r), 'dead'));
  onSend(send);
  assert.equal(journal.backlog(), 500);
  for (const e of send) consumeReceipts(e.msg.upperstack!.receipts);
  assert.equal(journal.backlog(), 0);
});

test('a send is counted once, by whichever hook sees it first: copies made after that carry shares already owed', () => {
  for (const copies of [false, true]) {
    const r = entry();
    const m = msg(r);
    const send = [ev(m, 'storeA'), ev(m, 'storeB')];
    shareReceipts(send);
    // A copying hook may replace the second destination's message with a copy of its own; then the settlement hook runs.
    if (copies) send[1].msg = structuredClone(m);
    onSend(send);
    consumeReceipts(send[0].msg.upperstack!.receipts);
    assert.equal(journal.backlog(), 1, 'the second store still owes its share');
    consumeReceipts(send[1].msg.upperstack!.receipts);
    assert.equal(journal.backlog(), 0, 'two stores, two shares: not one more');
  }
});

test('a message that only goes where nothing stores it is let go as it leaves', () => {
  const r = entry();
  const send = [ev(msg(r), 'tap'), ev(msg(entry()), 'fn')];
  onSend(send);
  assert.equal(journal.backlog(), 0);
  assert.ok(send.every((e) => e.msg.upperstack === undefined));
});

test('done(err) for what a message holds ends its share; an outage keeps it for a replay', () => {
  const bad = msg(entry());
  onComplete({ msg: bad, error: new StoreFailedError('refused'), node: { id: 'fn' } });
  assert.equal(journal.backlog(), 0);
  assert.equal(bad.upperstack, undefined);
  const kept = msg(entry());
  onComplete({ msg: kept, error: new StoreUnavailableError('down'), node: { id: 'fn' } });
  onComplete({ msg: kept, error: new Error('a bug'), node: { id: 'fn' } });
  assert.equal(journal.backlog(), 1);
  consumeReceipts(kept.upperstack.receipts);
});
