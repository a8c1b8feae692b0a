/**
 * The shared intake: one journal write per event-loop turn, acknowledgements
 * only after it, backpressure on the backlog and on the disk budget (held acks,
 * refused submits, nothing dropped), replay of the last run (old record format
 * included), and what close() does with what is in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Intake, intakeStats, type IntakeItem, type IntakeOptions } from '../../nodes/lib/ingest/intake';
import { consumeReceipts } from '../../nodes/lib/ingest/receipts';
import type { Received } from '../../nodes/lib/ingest/record';
import { Journal } from '../../nodes/lib/journal/journal';
import { RECORD_ENCODER as LEGACY_ENCODER, type ReceivedMessage } from '../../nodes/lib/mqtt/record';
import { BackpressureError } from '../../nodes/lib/errors';
import { tempDir } from '../helpers/temp';

const tmp = () => tempDir('us-intake-');
const turn = () => new Promise((r) => setImmediate(r));
let ids = 0;

function rec(body: string, source = 'mqtt:devices/d/telemetry'): Received {
  return { source, payload: Buffer.from(body), receivedAt: Date.now(), qos: 1 };
}

function open(opts: Partial<IntakeOptions> = {}) {
  const emitted: Array<{ items: IntakeItem[]; replayed: boolean }> = [];
  const intake = new Intake({ id: `intake-${++ids}`, dir: tmp(), highWater: 0, emit: (items, replayed) => emitted.push({ items, replayed }), ...opts });
  const replayCount = intake.open();
  const settle = (items: IntakeItem[]) => consumeReceipts(items.map((i) => ({ j: intake.id, s: i.seq })));
  return { intake, emitted, replayCount, settle, all: () => emitted.flatMap((e) => e.items) };
}

/** Counts write(2) calls carrying `marker`; the first `failures` of them fail with ENOSPC. */
function watchWrites(marker: string, failures = 0) {
  const original = fs.writeSync;
  let writes = 0;
  let left = failures;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buf: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(buf) && buf.includes(marker)) {
      if (left > 0) {
        left--;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      writes++;
    }
    return (original as (...a: unknown[]) => number)(fd, buf, ...rest);
  };
  return { writes: () => writes, restore: () => ((fs as { writeSync: unknown }).writeSync = original) };
}

function journalText(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.startsWith('seg-'))
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');
}

async function eventually(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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

test('what the last run left unsettled is replayed on the next open, in order, and only that', async () => {
  const dir = tmp();
  const first = open({ dir, id: 'replay-node' });
  for (const n of ['r1', 'r2', 'r3']) first.intake.receive(rec(n));
  await first.intake.submit([{ source: 'http:/ingest', payload: Buffer.from('r4'), receivedAt: 1767225600000, remote: '192.0.2.1:4000', contentType: 'application/json', device: 'dev9' }]);
  const items = first.all();
  first.settle([items[1]]);
  first.intake.close();

  const second = open({ dir, id: 'replay-node' });
  assert.equal(second.replayCount, 3);
  assert.equal(second.emitted.length, 0, 'nothing is sent before replay()');
  second.intake.replay();
  second.intake.replay();
  assert.equal(second.emitted.length, 1, 'replay() sends once');
  assert.equal(second.emitted[0].replayed, true);
  const replayed = second.emitted[0].items;
  assert.deepEqual(replayed.map((i) => i.rec.payload.toString()), ['r1', 'r3', 'r4']);
  assert.deepEqual(replayed[2].rec, { source: 'http:/ingest', payload: Buffer.from('r4'), receivedAt: 1767225600000, remote: '192.0.2.1:4000', contentType: 'application/json', device: 'dev9' });
  second.settle(replayed);
  second.intake.close();
  const third = open({ dir, id: 'replay-node' });
  assert.equal(third.replayCount, 0);
  third.intake.close();
});

test('a journal written by the MQTT-only record of earlier releases replays after the upgrade, next to new records', async () => {
  const dir = tmp();
  // The previous release: its own encoder, killed before anything settled (no close).
  const old = new Journal({ dir });
  old.open();
  const legacy: ReceivedMessage[] = [
    { topic: 'devices/old1/telemetry', payload: Buffer.from('{"t":1}'), qos: 1, receivedAt: Date.UTC(2026, 0, 1) },
    { topic: 'devices/old2/telemetry', payload: Buffer.from([0xa1, 0x61, 0x74, 0x02]), qos: 2, contentType: 'application/cbor', receivedAt: Date.UTC(2026, 0, 1, 0, 0, 1) },
  ];
  old.appendGroup(legacy, LEGACY_ENCODER);
  old.close();

  const upgraded = open({ dir, id: 'upgraded' });
  assert.equal(upgraded.replayCount, 2);
  // The upgraded run receives more, then dies too.
  upgraded.intake.receive(rec('{"t":3}', 'mqtt:devices/new/telemetry'));
  await turn();
  upgraded.intake.close();

  const next = open({ dir, id: 'upgraded' });
  next.intake.replay();
  const items = next.all();
  assert.deepEqual(
    items.map((i) => [i.rec.source, i.rec.qos, i.rec.contentType, i.rec.payload.toString('hex'), i.rec.receivedAt]),
    [
      ['mqtt:devices/old1/telemetry', 1, undefined, Buffer.from('{"t":1}').toString('hex'), Date.UTC(2026, 0, 1)],
      ['mqtt:devices/old2/telemetry', 2, 'application/cbor', 'a1617402', Date.UTC(2026, 0, 1, 0, 0, 1)],
      ['mqtt:devices/new/telemetry', 1, undefined, Buffer.from('{"t":3}').toString('hex'), items[2].rec.receivedAt],
    ],
  );
  assert.equal(next.intake.stats().oldestUnsettledAt, Date.UTC(2026, 0, 1), 'the age of the backlog counts from the old record');
  next.settle(items);
  next.intake.close();
});

test('an unsettled record that cannot be read is reported once and settled, not replayed forever', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  j.append(Buffer.from([9, 9, 9, 9]));
  j.close();
  const seen: number[] = [];
  const first = open({ dir, id: 'unreadable', unreadable: (seq) => seen.push(seq) });
  assert.equal(first.replayCount, 1);
  first.intake.replay();
  assert.equal(seen.length, 1);
  assert.equal(first.emitted.length, 0);
  first.intake.close();
  const defaults = open({ dir: tmp(), id: 'unreadable-default' });
  defaults.intake.close();
  // Without a handler the intake settles it itself.
  const d2 = tmp();
  const j2 = new Journal({ dir: d2 });
  j2.open();
  j2.append(Buffer.from([7]));
  j2.close();
  const a = open({ dir: d2, id: 'u2' });
  a.intake.replay();
  a.intake.close();
  const b = open({ dir: d2, id: 'u2' });
  assert.equal(b.replayCount, 0);
  b.intake.close();
});

test('close() journals and acknowledges what the turn has not written yet, sends nothing, refuses what comes after, and the next start replays it', async () => {
  const dir = tmp();
  const { intake, emitted, all } = open({ dir, id: 'closing' });
  const acked: string[] = [];
  intake.receive(rec('c1'), () => acked.push('c1'));
  await turn();
  intake.receive(rec('c2'), () => acked.push('c2'));
  const late = intake.submit([rec('c3', 'http:/x')]);
  intake.close();
  assert.deepEqual(acked, ['c1', 'c2'], 'journaled on close, so acknowledged');
  const submitted = await late;
  assert.ok('accepted' in submitted, 'a submit of the closing turn is durable and accepted');
  assert.equal(emitted.length, 1, 'the closing turn is not sent into a stopping flow');
  assert.equal(all().length, 1);
  let failed: Error | undefined;
  intake.receive(rec('c4'), () => acked.push('c4'), (err) => (failed = err));
  assert.ok(failed, 'after close a message is failed, not acknowledged');
  assert.equal(acked.length, 2);
  const refused = await intake.submit([rec('c5', 'http:/x')]);
  assert.ok('refused' in refused && refused.refused === 'closed');
  const again = open({ dir, id: 'closing' });
  again.intake.replay();
  assert.deepEqual(again.all().map((i) => i.rec.payload.toString()), ['c1', 'c2', 'c3']);
  again.settle(again.all());
  again.intake.close();
});

test('close() releases the acks the gate holds: their messages are journaled and replay at the next start', async () => {
  const dir = tmp();
  const { intake } = open({ dir, id: 'closing-held', highWater: 1, lowWater: 0 });
  const acked: string[] = [];
  intake.receive(rec('h1'), () => acked.push('h1'));
  await turn();
  assert.equal(acked.length, 0, 'one unsettled at a mark of one: held');
  intake.close();
  assert.deepEqual(acked, ['h1']);
  const again = open({ dir, id: 'closing-held' });
  assert.equal(again.replayCount, 1);
  again.intake.close();
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
    settle(all());
    assert.equal(acked.length, 0, 'the held ack of a turn that was not journaled never goes out');
    intake.receive(rec('disk-3'), () => acked.push('disk-3'));
    await turn();
    // One unsettled again (the mark is one): held until it is settled.
    settle(all().slice(-1));
    assert.deepEqual(acked, ['disk-3']);
    assert.equal(intake.stats().lastError, undefined);
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
