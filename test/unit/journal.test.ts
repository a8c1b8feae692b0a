import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readdirSync, statSync, truncateSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../nodes/lib/journal/journal';
import { tempDir } from '../helpers/temp';

const tmp = () => tempDir('us-journal-');

test('entries left unsettled are handed back on the next open, in order', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  assert.deepEqual(j.open(), []);
  const seqs = ['a', 'b', 'c', 'd'].map((s) => j.append(Buffer.from(s)));
  j.settle(seqs[0]);
  j.settle(seqs[2]);
  j.close();
  const again = new Journal({ dir });
  const left = again.open();
  assert.deepEqual(left.map((e) => e.data.toString()), ['b', 'd']);
  // New appends continue the sequence instead of reusing numbers.
  assert.ok(again.append(Buffer.from('e')) > seqs[3]);
  again.close();
});

test('a torn last record (process killed mid-write) is cut off and the rest survives', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  j.append(Buffer.from('first'));
  j.append(Buffer.from('second'));
  // Simulate the end of a run that was killed: no close(), half a record at the end.
  const seg = readdirSync(dir).find((f) => f.startsWith('seg-'))!;
  appendFileSync(join(dir, seg), Buffer.from([50, 0, 0, 0, 1, 2, 3]));
  const again = new Journal({ dir });
  assert.deepEqual(again.open().map((e) => e.data.toString()), ['first', 'second']);
  again.append(Buffer.from('third'));
  again.close();
  const third = new Journal({ dir });
  assert.deepEqual(third.open().map((e) => e.data.toString()), ['first', 'second', 'third']);
  third.close();
});

test('a record with a corrupted byte ends the replay there rather than replaying garbage', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  j.append(Buffer.from('good'));
  j.append(Buffer.from('will-be-cut'));
  j.close();
  const seg = join(dir, readdirSync(dir).find((f) => f.startsWith('seg-'))!);
  truncateSync(seg, statSync(seg).size - 3);
  const again = new Journal({ dir });
  assert.deepEqual(again.open().map((e) => e.data.toString()), ['good']);
  again.close();
});

test('a split message needs every hold settled before it is done', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  const seq = j.append(Buffer.from('batch'));
  j.hold(seq);
  j.settle(seq);
  assert.equal(j.stats().pending, 1);
  j.settle(seq);
  assert.equal(j.stats().pending, 0);
  j.close();
  assert.deepEqual(new Journal({ dir }).open(), []);
});

test('fully settled segments are deleted, so the journal does not grow without bound', () => {
  const dir = tmp();
  const j = new Journal({ dir, segmentBytes: 1024, checkpointIntervalMs: 10_000 });
  j.open();
  const seqs: number[] = [];
  for (let i = 0; i < 100; i++) seqs.push(j.append(Buffer.alloc(100, i)));
  assert.ok(j.stats().segments > 5);
  for (const s of seqs) j.settle(s);
  j.close();
  const segs = readdirSync(dir).filter((f) => f.startsWith('seg-'));
  assert.equal(segs.length, 1);
  const again = new Journal({ dir });
  assert.deepEqual(again.open(), []);
  again.close();
});

test('dropIfSettled cuts off a settled segment that still has room, so a drained journal takes no disk; with anything unsettled it keeps all', () => {
  const dir = tmp();
  const j = new Journal({ dir, checkpointIntervalMs: 60_000 });
  j.open();
  const seqs = [1, 2, 3].map((i) => j.append(Buffer.alloc(100, i)));
  j.settle(seqs[0]);
  j.settle(seqs[1]);
  j.dropIfSettled();
  assert.ok(j.bytes() > 300, 'one entry is unsettled: the segment stays');
  j.settle(seqs[2]);
  // The segment is far from its 64 MB: without dropIfSettled it would stay until it fills.
  assert.ok(j.bytes() > 300);
  j.dropIfSettled();
  assert.equal(j.bytes(), 0);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('seg-')).map((f) => statSync(join(dir, f)).size), [0]);
  // Numbering goes on after the dropped entries, and a crash (no close) replays only what came since.
  const next = j.append(Buffer.from('after'));
  assert.equal(next, seqs[2] + 1);
  const again = new Journal({ dir });
  assert.deepEqual(again.open().map((e) => e.seq), [next]);
  again.close();
  j.close();
});

test('dropIfSettled while a background checkpoint is on its way waits for it, so the mark on disk never goes back', async () => {
  const dir = tmp();
  const j = new Journal({ dir, checkpointIntervalMs: 60_000 });
  j.open();
  const seqs = [1, 2].map((i) => j.append(Buffer.alloc(100, i)));
  j.settle(seqs[0]);
  // What the periodic timer runs, started by hand so the test knows it is in flight.
  (j as unknown as { checkpointInBackground(): void }).checkpointInBackground();
  j.settle(seqs[1]);
  j.dropIfSettled();
  assert.ok(j.bytes() > 0, 'nothing is cut off while the background checkpoint is on its way');
  const deadline = performance.now() + 30_000;
  while (j.bytes() !== 0) {
    assert.ok(performance.now() < deadline, 'the segment was never cut off');
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(fs.readFileSync(join(dir, 'settled'), 'utf8'), String(seqs[1]));
  j.close();
});

test('the periodic checkpoint runs in the background, and drops settled segments only once it is written', async () => {
  const dir = tmp();
  const j = new Journal({ dir, segmentBytes: 1024, checkpointIntervalMs: 5 });
  j.open();
  const seqs: number[] = [];
  for (let i = 0; i < 50; i++) seqs.push(j.append(Buffer.alloc(100, i)));
  for (const s of seqs.slice(0, 40)) j.settle(s);
  const settledFile = join(dir, 'settled');
  const deadline = performance.now() + 30_000;
  while (!(fs.existsSync(settledFile) && fs.readFileSync(settledFile, 'utf8') === String(seqs[39]) && j.stats().segments < 5)) {
    assert.ok(performance.now() < deadline, 'the background checkpoint never landed');
    await new Promise((r) => setTimeout(r, 5));
  }
  // Every segment still on disk holds a record past the mark, or is the one being written.
  const kept = readdirSync(dir).filter((f) => f.startsWith('seg-'));
  assert.equal(kept.length, j.stats().segments);
  // A crash now (no close) replays exactly what is unsettled.
  const again = new Journal({ dir });
  assert.deepEqual(again.open().map((e) => e.seq), seqs.slice(40));
  again.close();
  j.close();
});

test('a group is one write(2) of consecutive records, each replayed on its own', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  const original = fs.writeSync;
  let writes = 0;
  (fs as { writeSync: unknown }).writeSync = (...args: unknown[]) => {
    writes++;
    return (original as (...a: unknown[]) => number)(...args);
  };
  let first: number;
  try {
    first = j.appendGroup(['a', 'bb', 'ccc'], { size: (s) => s.length, write: (s, buf, off) => void buf.write(s, off) });
  } finally {
    (fs as { writeSync: unknown }).writeSync = original;
  }
  assert.equal(writes, 1);
  assert.equal(j.stats().pending, 3);
  j.settle(first + 1);
  j.close();
  const again = new Journal({ dir });
  const left = again.open();
  assert.deepEqual(left.map((e) => [e.seq, e.data.toString()]), [[first, 'a'], [first + 2, 'ccc']]);
  assert.equal(again.append(Buffer.from('d')), first + 3);
  again.close();
});

test('a group torn by a crash replays the records written before the tear', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  j.appendGroup([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')], { size: (b) => b.length, write: (b, buf, off) => void b.copy(buf, off) });
  const seg = join(dir, readdirSync(dir).find((f) => f.startsWith('seg-'))!);
  // No close(): the run ends with the last record cut short.
  truncateSync(seg, statSync(seg).size - 2);
  const again = new Journal({ dir });
  assert.deepEqual(again.open().map((e) => e.data.toString()), ['one', 'two']);
  again.close();
});

test('whenDrained with only a backlog bound calls back once enough entries are settled, and at once when they already are', () => {
  const j = new Journal({ dir: tmp() });
  j.open();
  const seqs = [1, 2, 3, 4].map((i) => j.append(Buffer.from(String(i))));
  let called = 0;
  const whenBacklogBelow = (n: number, cb: () => void) => j.whenDrained(Infinity, Infinity, cb, Infinity, Infinity, n);
  whenBacklogBelow(3, () => called++);
  j.settle(seqs[3]);
  assert.equal(called, 0, 'three are still unsettled');
  j.settle(seqs[0]);
  assert.equal(called, 1);
  j.settle(seqs[1]);
  assert.equal(called, 1, 'a waiter is called once');
  whenBacklogBelow(6, () => called++);
  assert.equal(called, 2);
  j.close();
});

test('weigh: an unsettled entry counts its readings until it is settled; unknown and settled entries are ignored', () => {
  const j = new Journal({ dir: tempDir('us-journal-weigh-') });
  j.open();
  const a = j.append(Buffer.from('a'));
  const b = j.append(Buffer.from('b'));
  assert.equal(j.readings(), 2, 'not weighed: one reading each');
  j.weigh(a, 10);
  j.weigh(a, 10);
  assert.equal(j.readings(), 11);
  j.weigh(999, 50);
  assert.equal(j.readings(), 11, 'an unknown entry is ignored');
  // Split in two: the weight leaves with the last share.
  j.hold(a);
  j.settle(a);
  assert.equal(j.readings(), 11);
  j.settle(a);
  assert.equal(j.readings(), 1);
  j.weigh(a, 10);
  assert.equal(j.readings(), 1, 'a settled entry is ignored');
  let drained = false;
  j.whenDrained(10, Infinity, () => (drained = true), 0);
  assert.equal(drained, false, 'one reading is above a readings limit of 0');
  j.settle(b);
  assert.equal(drained, true);
  j.close();
});

test('decoded: entries decode has not reached yet count as the readings per entry it saw lately', () => {
  const j = new Journal({ dir: tempDir('us-journal-decoded-') });
  j.open();
  const seqs = Array.from({ length: 10 }, (_, i) => j.append(Buffer.from(String(i))));
  assert.equal(j.readings(), 10, 'nothing decoded yet: one reading each');
  // Decode reports the first four: 10 readings each.
  for (const s of seqs.slice(0, 4)) j.weigh(s, 10);
  for (let k = 0; k < 20; k++) j.decoded(seqs[3], 4, 40);
  const estimate = j.readings();
  assert.ok(estimate > 90 && estimate <= 100, `40 exact + 6 entries not decoded at about 10 each: ${estimate}`);
  for (const s of seqs.slice(4)) j.weigh(s, 10);
  j.decoded(seqs[9], 6, 60);
  assert.equal(j.readings(), 100, 'all decoded: exact');
  // Single readings keep the estimate at one per entry.
  for (let k = 0; k < 40; k++) j.decoded(seqs[9], 5, 5);
  j.append(Buffer.from('x'));
  assert.equal(j.readings(), 101);
  j.close();
});
