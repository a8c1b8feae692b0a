/**
 * Backpressure that counts only readings no store write has taken yet: the
 * input takes the next readings while a write commits, the taken ones still
 * replay after a crash, and a ceiling on all unsettled readings bounds memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../nodes/lib/journal/journal';
import { AckGate } from '../../nodes/lib/journal/gate';
import { DurableWriter } from '../../nodes/lib/store/writer';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';
import { reading, SwitchableStore, until } from '../helpers/switchable-store';

/** A store whose writes wait until the test lets them commit. */
class HeldStore extends SwitchableStore {
  private release: Array<() => void> = [];
  get waiting(): number {
    return this.release.length;
  }
  override async write(readings: Reading[]) {
    await new Promise<void>((r) => this.release.push(r));
    return super.write(readings);
  }
  commit(): void {
    this.release.shift()?.();
  }
}

function tenReadings(j: Journal, tag: string): number {
  const seq = j.append(Buffer.from(tag));
  j.weigh(seq, 10);
  return seq;
}

test('readings a store write has taken no longer hold the input back: it resumes while the write runs, and they replay if the process dies before it commits', async () => {
  const dir = tempDir('us-taken-');
  const j = new Journal({ dir });
  j.open();
  const gate = new AckGate(j, { highWater: 1000, lowWater: 500, highReadings: 40 });
  const store = new HeldStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-taken-spool-') }), { batchSize: 40, minWrite: 40, flushMs: 1000 });
  w.start();
  const seqs = ['a', 'b', 'c', 'd'].map((t) => tenReadings(j, t));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 0, '40 readings waiting: the input pauses');
  // The store gets the four messages; the writer takes them into one write that has not committed.
  const durable: number[] = [];
  for (const s of seqs) w.write(Array.from({ length: 10 }, (_, i) => reading(s * 100 + i)), () => durable.push(s), () => j.take(s));
  await until(() => store.waiting === 1);
  assert.equal(acked, 1, 'released while the write runs: its readings count no more');
  assert.equal(j.readings(), 40, 'still unsettled');
  assert.equal(j.untakenReadings(), 0);
  assert.deepEqual(durable, []);
  assert.equal(store.rows.size, 0);
  // The process dies here: the taken entries are not settled, so they come back.
  j.close();
  const again = new Journal({ dir });
  assert.deepEqual(
    again.open().map((e) => e.seq),
    seqs,
  );
  again.close();
  store.commit();
  await until(() => durable.length === 4);
  await w.close();
});

test('the readings mark counts only what no write has taken; taken entries leave the count when they settle', () => {
  const j = new Journal({ dir: tempDir('us-taken-') });
  j.open();
  const gate = new AckGate(j, { highWater: 1000, lowWater: 500, highReadings: 30 });
  const seqs = ['a', 'b', 'c'].map((t) => tenReadings(j, t));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 0, '30 readings: paused');
  j.take(seqs[0]);
  assert.equal(acked, 0, '20 not taken: above half the mark');
  j.take(seqs[0]);
  assert.equal(j.untakenReadings(), 20, 'taking an entry twice counts it once');
  j.take(seqs[1]);
  assert.equal(acked, 1, '10 not taken: released');
  assert.equal(j.untakenReadings(), 10);
  j.settle(seqs[0]);
  j.settle(seqs[1]);
  assert.equal(j.readings(), 10);
  assert.equal(j.untakenReadings(), 10, 'settled entries leave both counts');
  j.close();
});

test('an entry sent on to two stores counts as taken only once both have taken it', () => {
  const j = new Journal({ dir: tempDir('us-taken-') });
  j.open();
  const seq = tenReadings(j, 'a');
  j.hold(seq, 1);
  j.take(seq);
  assert.equal(j.untakenReadings(), 10, 'one store of two');
  j.take(seq);
  assert.equal(j.untakenReadings(), 0);
  j.settle(seq);
  assert.equal(j.readings(), 10, 'one share still owed');
  j.settle(seq);
  assert.equal(j.readings(), 0);
  j.close();
});

test('a ceiling on all unsettled readings, taken or not, bounds what is in flight', () => {
  const j = new Journal({ dir: tempDir('us-taken-') });
  j.open();
  const gate = new AckGate(j, { highWater: 1000, lowWater: 500, highReadings: 30, ceilingReadings: 60 });
  const seqs: number[] = [];
  let acked = 0;
  for (let i = 0; i < 6; i++) {
    const s = tenReadings(j, String(i));
    seqs.push(s);
    j.take(s);
    gate.admit(() => acked++);
  }
  assert.equal(j.untakenReadings(), 0);
  assert.equal(acked, 5, 'the sixth message reaches 60 readings in flight: paused though every write has taken its readings');
  assert.equal(gate.pauseState()?.reason, 'backlog');
  j.settle(seqs[0]);
  assert.equal(acked, 5, '50 in flight: above the ceiling less the mark\'s hysteresis (45)');
  j.settle(seqs[1]);
  assert.equal(acked, 6);
  j.close();
});

test('the writer tells a call its readings are taken when the write holding the last of them starts, before they are durable', async () => {
  const store = new HeldStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-taken-spool-') }), { batchSize: 10, minWrite: 1, maxWrite: 10, flushMs: 1 });
  w.start();
  const events: string[] = [];
  const big = Array.from({ length: 15 }, (_, i) => reading(i));
  w.write(big, () => events.push('big durable'), () => events.push('big taken'));
  await until(() => store.waiting === 1);
  assert.equal(events.length, 0, 'the first write holds only 10 of its 15 readings');
  w.write([reading(100)], () => events.push('small durable'), () => events.push('small taken'));
  assert.equal(events.length, 0, 'queued behind the write in progress: not taken yet');
  store.commit();
  await until(() => store.waiting === 1);
  assert.deepEqual(events, ['big taken', 'small taken']);
  store.commit();
  await until(() => events.length === 4);
  assert.deepEqual(events, ['big taken', 'small taken', 'big durable', 'small durable']);
  await w.close();
});

test('single-reading messages a store write has taken no longer hold the input back by the messages mark: it resumes while the write runs, and they replay if the process dies before it commits', async () => {
  const dir = tempDir('us-taken-');
  const j = new Journal({ dir });
  j.open();
  const gate = new AckGate(j, { highWater: 4, lowWater: 2, highReadings: 1000 });
  const store = new HeldStore();
  const w = new DurableWriter(store, new Journal({ dir: tempDir('us-taken-spool-') }), { batchSize: 4, minWrite: 4, flushMs: 1000 });
  w.start();
  const seqs = ['a', 'b', 'c', 'd'].map((t) => j.append(Buffer.from(t)));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 0, '4 messages waiting: the input pauses');
  assert.equal(gate.pauseState()?.reason, 'backlog');
  const durable: number[] = [];
  for (const s of seqs) w.write([reading(s)], () => durable.push(s), () => j.take(s));
  await until(() => store.waiting === 1);
  assert.equal(acked, 1, 'released while the write runs: its messages count no more');
  assert.equal(j.backlog(), 4, 'still unsettled');
  assert.equal(j.untakenBacklog(), 0);
  assert.deepEqual(durable, []);
  j.close();
  const again = new Journal({ dir });
  assert.deepEqual(
    again.open().map((e) => e.seq),
    seqs,
    'the taken messages replay',
  );
  again.close();
  store.commit();
  await until(() => durable.length === 4);
  await w.close();
});

test('the messages mark counts only messages no write has taken whole; one sent on to two stores counts until both have taken it', () => {
  const j = new Journal({ dir: tempDir('us-taken-') });
  j.open();
  const gate = new AckGate(j, { highWater: 4, lowWater: 2 });
  const seqs = ['a', 'b', 'c', 'd'].map((t) => j.append(Buffer.from(t)));
  j.hold(seqs[0], 1);
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 0, 'paused at 4');
  j.take(seqs[0]);
  j.take(seqs[1]);
  assert.equal(j.untakenBacklog(), 3, 'the first message is owed to two stores: one has taken it');
  assert.equal(acked, 0, '3 not taken: above the low-water mark');
  j.take(seqs[0]);
  assert.equal(j.untakenBacklog(), 2);
  assert.equal(acked, 1, 'down to the low-water mark counting only what is not taken: released');
  j.settle(seqs[1]);
  assert.equal(j.backlog(), 3);
  assert.equal(j.untakenBacklog(), 2, 'a settled entry leaves both counts');
  j.settle(seqs[0]);
  assert.equal(j.untakenBacklog(), 2, 'one share still owed: still taken, still unsettled');
  assert.equal(j.backlog(), 3);
  j.close();
});

test('a ceiling on all unsettled messages, taken or not, bounds what is in flight', () => {
  const j = new Journal({ dir: tempDir('us-taken-') });
  j.open();
  const gate = new AckGate(j, { highWater: 4, lowWater: 2, ceilingWater: 8 });
  const seqs: number[] = [];
  let acked = 0;
  for (let i = 0; i < 8; i++) {
    const s = j.append(Buffer.from(String(i)));
    seqs.push(s);
    j.take(s);
    gate.admit(() => acked++);
  }
  assert.equal(j.untakenBacklog(), 0);
  assert.equal(acked, 7, 'the eighth message reaches 8 in flight: paused though every write has taken its message');
  assert.equal(gate.pauseState()?.reason, 'backlog');
  j.settle(seqs[0]);
  j.settle(seqs[1]);
  assert.equal(acked, 7, '6 in flight: not below the ceiling less the mark\'s hysteresis (6)');
  j.settle(seqs[2]);
  assert.equal(acked, 8);
  j.close();
});

test('by default the messages ceiling is three times the mark', () => {
  const j = new Journal({ dir: tempDir('us-taken-') });
  j.open();
  const gate = new AckGate(j, { highWater: 2, lowWater: 1 });
  let acked = 0;
  for (let i = 0; i < 6; i++) {
    j.take(j.append(Buffer.from(String(i))));
    gate.admit(() => acked++);
  }
  assert.equal(acked, 5);
  assert.ok(gate.isPaused());
  j.close();
});
