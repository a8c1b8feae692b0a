/**
 * The shared intake: one journal write per event-loop turn, acknowledgements
 * only after it, backpressure on the backlog and on the disk budget (held acks,
 * refused submits, nothing dropped), a journal that cannot be written, and its
 * stats. Replay of the last run and close(): intake-restart.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intakeStats } from '../../nodes/lib/ingest/intake';
import { BackpressureError } from '../../nodes/lib/errors';
import { eventually, journalText, open, rec, tmp, turn, watchWrites } from '../helpers/intake';

test('the messages of one turn share one journal write, are acknowledged only after it, and are emitted together in order', async () => {
  const { intake, emitted } = open();
  const w = watchWrites('turn-');
  try {
    const acked: Array<[string, number]> = [];
    for (const n of ['turn-a', 'turn-b', 'turn-c']) intake.receive(rec(n), () => acked.push([n, w.writes()]));
    assert.deepEqual(acked, [], 'nothing is acknowledged before the write');
    assert.equal(emitted.length, 0);
    await turn();
    assert.equal(w.writes(), 1, 'one write for the turn');
    assert.deepEqual(acked, [['turn-a', 1], ['turn-b', 1], ['turn-c', 1]]);
    assert.equal(emitted.length, 1);
    assert.deepEqual(emitted[0].items.map((i) => i.rec.payload.toString()), ['turn-a', 'turn-b', 'turn-c']);
    const seqs = emitted[0].items.map((i) => i.seq);
    assert.deepEqual(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2]);
    assert.equal(emitted[0].replayed, false);
    intake.receive(rec('turn-d'), () => undefined);
    await turn();
    assert.equal(w.writes(), 2, 'the next turn is the next write');
  } finally {
    w.restore();
    intake.close();
  }
});

test('flush() ends a turn early: what came so far is one write, the rest the next; both leave together at the end of the event-loop turn', async () => {
  const { intake, emitted } = open();
  const w = watchWrites('early-');
  try {
    const acked: Array<[string, number]> = [];
    intake.receive(rec('early-1'), () => acked.push(['early-1', w.writes()]));
    intake.receive(rec('early-2'), () => acked.push(['early-2', w.writes()]));
    assert.equal(intake.flush(), true);
    assert.equal(w.writes(), 1);
    assert.deepEqual(acked, [['early-1', 1], ['early-2', 1]], 'acknowledged once their write is done');
    assert.equal(emitted.length, 0, 'sent on with the rest of the turn, not per write');
    intake.receive(rec('early-3'), () => acked.push(['early-3', w.writes()]));
    await turn();
    assert.equal(w.writes(), 2);
    assert.deepEqual(acked[2], ['early-3', 2]);
    assert.deepEqual(emitted.map((e) => e.items.map((i) => i.rec.payload.toString())), [['early-1', 'early-2', 'early-3']]);
    const seqs = emitted[0].items.map((i) => i.seq);
    assert.deepEqual(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2]);
  } finally {
    w.restore();
    intake.close();
  }
});

test('what an early flush journaled but did not send on yet when the input closes replays at the next start', async () => {
  const dir = tmp();
  const first = open({ dir, id: 'early-close' });
  first.intake.receive(rec('kept-1'), () => undefined);
  assert.equal(first.intake.flush(), true);
  first.intake.close();
  await turn();
  assert.equal(first.emitted.length, 0, 'not sent into a flow that is stopping');
  const again = open({ dir, id: 'early-close' });
  assert.equal(again.replayCount, 1);
  again.intake.replay();
  assert.deepEqual(again.all().map((i) => i.rec.payload.toString()), ['kept-1']);
  again.intake.close();
});

test('acks wait at the high-water mark and go out in order at the low-water mark; submits are refused meanwhile', async () => {
  const { intake, all, settle } = open({ highWater: 3, lowWater: 1 });
  const acked: string[] = [];
  for (const n of ['a', 'b']) intake.receive(rec(n), () => acked.push(n));
  await turn();
  assert.deepEqual(acked, ['a', 'b'], 'two unsettled is below the mark of three');
  for (const n of ['c', 'd']) intake.receive(rec(n), () => acked.push(n));
  await turn();
  assert.deepEqual(acked, ['a', 'b'], 'four unsettled: c and d wait');
  const s = intake.stats();
  assert.equal(s.paused, true);
  assert.equal(s.pauseReason, 'backlog');
  assert.equal(s.heldAcks, 2);
  assert.equal(typeof s.pausedSince, 'number');
  const before = intake.stats().bytes;
  const refusal = await intake.submit([rec('http-body', 'http:/ingest')]);
  assert.ok('refused' in refusal);
  assert.equal(refusal.refused, 'backlog');
  assert.ok(refusal.retryAfterMs > 0);
  assert.ok(refusal.error instanceof BackpressureError);
  assert.equal(refusal.error.code, 'BACKPRESSURE');
  assert.equal(intake.stats().bytes, before, 'a refused submit keeps nothing');
  assert.equal(intake.stats().refused, 1);
  const items = all();
  settle(items.slice(0, 2));
  assert.deepEqual(acked, ['a', 'b'], 'two unsettled is above the low-water mark');
  settle(items.slice(2, 3));
  assert.deepEqual(acked, ['a', 'b', 'c', 'd'], 'released in arrival order');
  assert.equal(intake.stats().paused, false);
  const ok = await intake.submit([rec('http-body-2', 'http:/ingest')]);
  assert.ok('accepted' in ok);
  intake.close();
});

test('submit resolves with sequence numbers only once the records are in the journal file', async () => {
  const dir = tmp();
  const { intake, emitted } = open({ dir });
  const pending = intake.submit([rec('sub-one', 'http:/a'), rec('sub-two', 'http:/a')]);
  assert.ok(!journalText(dir).includes('sub-one'), 'not written when submit returns');
  let resolved = false;
  void pending.then(() => (resolved = true));
  const result = await pending;
  assert.ok(resolved);
  assert.ok('accepted' in result);
  assert.equal(result.accepted.length, 2);
  assert.equal(result.accepted[1], result.accepted[0] + 1);
  const text = journalText(dir);
  assert.ok(text.includes('sub-one') && text.includes('sub-two'), 'durable when it resolved');
  assert.deepEqual(emitted[0].items.map((i) => [i.seq, i.rec.source]), [
    [result.accepted[0], 'http:/a'],
    [result.accepted[1], 'http:/a'],
  ]);
  intake.close();
});

test('at its disk budget the intake holds acks and refuses submits, never drops, and resumes once settled files are removed', async () => {
  // 16 KiB budget: 4 KiB segments; messages of about 1 KiB, one turn each.
  const { intake, emitted, all, settle } = open({ budgetBytes: 16 * 1024 });
  const body = (n: number) => `budget-${n}-`.padEnd(1000, 'x');
  const acked: number[] = [];
  let sent = 0;
  while (!intake.stats().paused) {
    const n = sent++;
    intake.receive(rec(body(n)), () => acked.push(n));
    await turn();
    assert.ok(sent < 100, 'the gate closes within the budget');
  }
  const s = intake.stats();
  assert.equal(s.pauseReason, 'disk');
  assert.ok(s.bytes >= 16 * 1024, `at the budget (${s.bytes} bytes)`);
  assert.equal(s.budgetBytes, 16 * 1024);
  assert.equal(acked.length, sent - 1, 'the message that reached the budget waits');
  // More arrive while paused (a broker's window in flight): journaled, emitted, not acknowledged.
  for (let i = 0; i < 3; i++) intake.receive(rec(body(sent++)), () => acked.push(sent));
  await turn();
  assert.equal(all().length, sent, 'nothing dropped');
  assert.equal(intake.stats().heldAcks, 4);
  const refusal = await intake.submit([rec('over-budget', 'coap:/t')]);
  assert.ok('refused' in refusal && refusal.refused === 'disk', 'request/response is refused');
  assert.match((refusal as { error: Error }).error.message, /disk budget of 16 KiB/);
  settle(all());
  // Settled segments go at the next checkpoint (in the background); then the acks are released.
  await eventually(() => acked.length === sent, 'the held acks');
  assert.equal(intake.stats().paused, false);
  assert.ok(intake.stats().bytes < 16 * 1024);
  assert.equal(emitted.flatMap((e) => e.items).length, sent);
  intake.close();
});

test('a submit that would take the journal past its budget is refused before anything is written', async () => {
  const { intake } = open({ budgetBytes: 8 * 1024 });
  const big = await intake.submit([rec('y'.repeat(9000), 'http:/big')]);
  assert.ok('refused' in big && big.refused === 'disk');
  assert.equal(intake.stats().pending, 0);
  const small = await intake.submit([rec('small', 'http:/small')]);
  assert.ok('accepted' in small);
  intake.close();
});

test('when the journal cannot be written nothing is acknowledged or accepted, an early ack the gate holds is dropped, and the next write recovers', async () => {
  const { intake, emitted, all, settle } = open({ highWater: 1, lowWater: 0 });
  const w = watchWrites('disk-', 1);
  try {
    intake.receive(rec('ok-first'));
    await turn();
    assert.equal(intake.stats().paused, true);
    // Early acks (a corked transport): admitted before the write, held here by the gate.
    const acked: string[] = [];
    const failures: string[] = [];
    intake.receive(rec('disk-1'), () => acked.push('disk-1'), (err) => failures.push(err.message), true);
    const sub = intake.submit([rec('disk-2', 'http:/x')]);
    await turn();
    assert.equal(failures.length, 1);
    assert.match(failures[0], /ENOSPC/);
    const refusal = await sub;
    assert.ok('refused' in refusal && refusal.refused === 'backlog', 'paused: refused before writing');
    assert.equal(intake.stats().lastError?.includes('ENOSPC'), true);
    assert.equal(typeof intake.stats().lastErrorSince, 'number', 'since when writes fail, for /health');
    settle(all());
    assert.equal(acked.length, 0, 'the held ack of a turn that was not journaled never goes out');
    intake.receive(rec('disk-3'), () => acked.push('disk-3'));
    await turn();
    // One unsettled again (the mark is one): held until it is settled.
    settle(all().slice(-1));
    assert.deepEqual(acked, ['disk-3']);
    assert.equal(intake.stats().lastError, undefined);
    assert.equal(intake.stats().lastErrorSince, undefined);
    assert.deepEqual(emitted.flatMap((e) => e.items).map((i) => i.rec.payload.toString()), ['ok-first', 'disk-3']);
  } finally {
    w.restore();
    intake.close();
  }
});

test('stats: pending, bytes and when the oldest unsettled message was journaled, listed for /health', async () => {
  const { intake, all, settle } = open({ name: 'field gateway' });
  // Received long ago (a replayed dead letter keeps that time): it is as old as its stay in this journal.
  const t1 = Date.now();
  intake.receive({ ...rec('s1'), receivedAt: 1000 });
  await turn();
  await new Promise((r) => setTimeout(r, 5));
  const t2 = Date.now();
  intake.receive({ ...rec('s2'), receivedAt: 2000 });
  await turn();
  let s = intake.stats();
  assert.equal(s.pending, 2);
  assert.ok(s.bytes > 0);
  assert.ok(s.oldestUnsettledAt! >= t1 && s.oldestUnsettledAt! < t2, `${s.oldestUnsettledAt} in [${t1}, ${t2})`);
  assert.equal(s.name, 'field gateway');
  assert.ok(intakeStats().some((x) => x.id === intake.id && x.pending === 2));
  settle(all().slice(0, 1));
  assert.ok(intake.stats().oldestUnsettledAt! >= t2);
  settle(all().slice(1));
  s = intake.stats();
  assert.equal(s.pending, 0);
  assert.equal(s.oldestUnsettledAt, undefined);
  intake.close();
  assert.ok(!intakeStats().some((x) => x.id === intake.id), 'a closed intake is no longer listed');
});
