/** Backpressure: acknowledgements withheld above the high-water mark, released at the low-water mark. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../nodes/lib/journal/journal';
import { AckGate } from '../../nodes/lib/journal/gate';
import { tempDir } from '../helpers/temp';

function journal(): Journal {
  const j = new Journal({ dir: tempDir('us-gate-') });
  j.open();
  return j;
}

test('below the high-water mark an ack goes out at once', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 3, lowWater: 1 });
  j.append(Buffer.from('a'));
  j.append(Buffer.from('b'));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 1);
  j.close();
});

test('at the high-water mark acks are withheld until the backlog is down to the low-water mark, then released in order', () => {
  const j = journal();
  const changes: boolean[] = [];
  const gate = new AckGate(j, { highWater: 3, lowWater: 1, onChange: (p) => changes.push(p) });
  const seqs = ['a', 'b', 'c'].map((s) => j.append(Buffer.from(s)));
  const acked: string[] = [];
  gate.admit(() => acked.push('c'));
  assert.equal(acked.length, 0);
  assert.ok(gate.isPaused());
  seqs.push(j.append(Buffer.from('d')));
  gate.admit(() => acked.push('d'));
  assert.equal(gate.waiting(), 2);
  j.settle(seqs[0]);
  j.settle(seqs[1]);
  assert.equal(acked.length, 0, 'still above the low-water mark (2 > 1)');
  j.settle(seqs[2]);
  assert.deepEqual(acked, ['c', 'd']);
  assert.ok(!gate.isPaused());
  assert.deepEqual(changes, [true, false]);
  // Open again: the next ack below the high-water mark is not held.
  gate.admit(() => acked.push('e'));
  assert.deepEqual(acked, ['c', 'd', 'e']);
  j.close();
});

test('a high-water mark of 0 turns backpressure off', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 0, lowWater: 0 });
  for (let i = 0; i < 100; i++) j.append(Buffer.from(String(i)));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 1);
  j.close();
});

test('closing releases what is withheld: those messages are journaled and replay at the next start', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 1, lowWater: 0 });
  j.append(Buffer.from('a'));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 0);
  gate.close();
  assert.equal(acked, 1);
  j.close();
});

test('the readings mark: an entry counts its weighed readings; acks wait until half the mark is left', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 100, lowWater: 50, highReadings: 30 });
  const seqs = ['a', 'b', 'c'].map((s) => j.append(Buffer.from(s)));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 1, 'three entries not decoded yet count as three readings');
  for (const s of seqs) j.weigh(s, 10);
  assert.equal(j.readings(), 30);
  seqs.push(j.append(Buffer.from('d')));
  j.weigh(seqs[3], 10);
  gate.admit(() => acked++);
  assert.equal(acked, 1, '40 readings in 4 messages: paused by the readings mark, far below 100 messages');
  assert.deepEqual(gate.pauseState()?.reason, 'backlog');
  j.settle(seqs[0]);
  j.settle(seqs[1]);
  assert.equal(acked, 1, '20 readings left: above half the mark');
  j.settle(seqs[2]);
  assert.equal(j.readings(), 10);
  assert.equal(acked, 2, 'released at 15 readings or fewer');
  assert.ok(!gate.isPaused());
  j.close();
});

test('one entry holding more readings than the mark is not stuck: later acks wait until it is settled', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 100, lowWater: 50, highReadings: 30 });
  const big = j.append(Buffer.from('big'));
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 1, 'acknowledged before it was decoded');
  j.weigh(big, 1000);
  j.append(Buffer.from('next'));
  gate.admit(() => acked++);
  assert.equal(acked, 1);
  j.settle(big);
  assert.equal(j.readings(), 1);
  assert.equal(acked, 2);
  j.close();
});

test('with the messages mark off, a pause from the readings mark ends at half that mark, with messages still unsettled', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 0, lowWater: 0, highReadings: 30 });
  const seqs = ['a', 'b', 'c', 'd'].map((s) => j.append(Buffer.from(s)));
  for (const s of seqs) j.weigh(s, 10);
  let acked = 0;
  gate.admit(() => acked++);
  assert.equal(acked, 0, '40 readings: paused by the readings mark');
  j.settle(seqs[0]);
  j.settle(seqs[1]);
  assert.equal(acked, 0, '20 readings left: above half the mark');
  j.settle(seqs[2]);
  assert.equal(j.backlog(), 1);
  assert.equal(acked, 1, '10 readings in one unsettled message: released');
  assert.ok(!gate.isPaused());
  j.close();
});

test('fullWith counts what is not written yet with the journal, against the marks and the ceiling, without closing the gate', () => {
  const j = journal();
  const gate = new AckGate(j, { highWater: 10, lowWater: 5, highReadings: 100 });
  const seq = j.append(Buffer.from('a'));
  j.weigh(seq, 40);
  assert.equal(gate.fullWith(0, 0), false);
  assert.equal(gate.fullWith(1, 59), false, '40 + 59 is below the readings mark');
  assert.equal(gate.fullWith(1, 60), true, '40 + 60 reaches it');
  assert.equal(gate.fullWith(9, 9), true, '1 + 9 messages reach the messages mark');
  // Taken by a store write: out of the mark, still under the ceiling of three times it.
  j.take(seq);
  assert.equal(gate.fullWith(1, 99), false);
  assert.equal(gate.fullWith(1, 260), true, '40 taken + 260 reach the ceiling of 300');
  assert.equal(gate.isPaused(), false);
  j.close();
});
