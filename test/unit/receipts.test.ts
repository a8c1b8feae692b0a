/** The receipts API: forward, split, consume, fail, and what they do to a journal entry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../nodes/lib/journal/journal';
import { registerJournal, unregisterJournal, consumeReceipts, splitReceipts, isReceiptList } from '../../nodes/lib/ingest/receipts';
import { settleReceipts, holdReceipts } from '../../nodes/lib/journal/receipts';
import { consume, fail, forward, split, withoutReceipts, receiptsOf } from '../../nodes/shared/receipts';
import type { UpperstackMessage } from '../../nodes/shared/input';
import { tempDir } from '../helpers/temp';

let n = 0;
function journal() {
  const id = `receipts-${++n}`;
  const j = new Journal({ dir: tempDir('us-receipts-') });
  j.open();
  registerJournal(id, j);
  const entry = () => ({ j: id, s: j.append(Buffer.from('x')) });
  const done = () => {
    unregisterJournal(id, j);
    j.close();
  };
  return { j, id, entry, done };
}

const msgWith = (...receipts: Array<{ j: string; s: number }>): UpperstackMessage => ({ _msgid: 'm', payload: 1, upperstack: { receipts } });

test('consume settles one share and takes the receipts off the message, so nothing after it can consume them again', () => {
  const { j, entry, done } = journal();
  const a = entry();
  const b = entry();
  const msg = msgWith(a, b);
  consume(msg);
  assert.equal(j.backlog(), 0);
  assert.equal(msg.upperstack, undefined);
  assert.equal(receiptsOf(msg), undefined);
  consume(msg);
  done();
});

test('split into parts: the entry settles only when every part is consumed', () => {
  const { j, entry, done } = journal();
  const msg = msgWith(entry());
  split(msg, 3);
  const parts = [{ ...msg }, { ...msg }, { ...msg }];
  consume(parts[0]);
  consume(parts[1]);
  assert.equal(j.backlog(), 1, 'two of three shares');
  consume(parts[2]);
  assert.equal(j.backlog(), 0);
  split(msgWith(), 5);
  done();
});

test('fail ends the share the way consume does: reported, never replayed, not settled twice by a Catch path', () => {
  const { j, entry, done } = journal();
  const msg = msgWith(entry());
  split(msg, 2);
  const good = { ...msg };
  fail(null, msg);
  assert.equal(msg.upperstack, undefined);
  assert.equal(j.backlog(), 1, 'the other share is still on its way');
  const caught = { ...msg };
  consume(caught);
  assert.equal(j.backlog(), 1, 'a copy of the failed message has nothing left to settle');
  consume(good);
  assert.equal(j.backlog(), 0);
  done();
});

test('forward hands the receipts to the new message; withoutReceipts makes a copy that owes nothing', () => {
  const { j, entry, done } = journal();
  const from = msgWith(entry());
  const to = forward(from, { _msgid: 'n', payload: [1, 2] } as UpperstackMessage);
  assert.equal(from.upperstack, undefined, 'the old message no longer carries them');
  assert.equal(receiptsOf(to)?.length, 1);
  const side = withoutReceipts(to);
  assert.equal(side.upperstack, undefined);
  consume(side);
  assert.equal(j.backlog(), 1);
  consume(to);
  assert.equal(j.backlog(), 0);
  done();
});

test('receipts of a closed journal (a redeployed input) are ignored: the entry replays at its next start', () => {
  const { j, id, entry, done } = journal();
  const r = entry();
  done();
  consumeReceipts([r]);
  splitReceipts([r], 2);
  assert.equal(j.backlog(), 0);
  assert.ok(isReceiptList([r]));
  assert.ok(!isReceiptList([{ j: id }]));
});

test('the earlier names still work for code written against them', () => {
  const { j, entry, done } = journal();
  const r = entry();
  holdReceipts([r]);
  settleReceipts([r]);
  assert.equal(j.backlog(), 1);
  settleReceipts([r]);
  assert.equal(j.backlog(), 0);
  done();
});
