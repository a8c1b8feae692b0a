/**
 * Journal.unsettled(), what an input sends again after a partial deploy stopped nodes on its way: read back
 * from the segment files holding an unsettled entry only, off the event loop, in order. Each record here has
 * a segment of its own (segmentBytes 1), as a long store outage spreads a backlog over many.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../nodes/lib/journal/journal';
import { JournalError } from '../../nodes/lib/errors';
import { tempDir } from '../helpers/temp';

function journalOf(...bodies: string[]): { j: Journal; seqs: number[]; segmentOf: (seq: number) => string } {
  const dir = tempDir('us-journal-unsettled-');
  const j = new Journal({ dir, segmentBytes: 1 });
  j.open();
  const seqs = bodies.map((b) => j.append(Buffer.from(b)));
  // A segment file is named by the first sequence number it holds.
  const segmentOf = (seq: number) => join(dir, `seg-${String(seq).padStart(16, '0')}.log`);
  return { j, seqs, segmentOf };
}

const texts = (entries: Array<{ data: Buffer }>) => entries.map((e) => e.data.toString());

test('only segment files holding an unsettled entry are read: one whose entries are all settled is left alone', async () => {
  // a is stuck (say, in a store node the deploy restarted); b and c were stored; d is still on its way.
  const { j, seqs, segmentOf } = journalOf('a', 'b', 'c', 'd');
  try {
    j.settle(seqs[1]);
    j.settle(seqs[2]);
    // a keeps the checkpoint behind them, so their files stay on disk; gone, they cannot be read.
    unlinkSync(segmentOf(seqs[1]));
    unlinkSync(segmentOf(seqs[2]));
    assert.deepEqual(texts(await j.unsettled()), ['a', 'd']);
  } finally {
    j.close();
  }
});

test('a segment file holding an unsettled entry that cannot be read fails naming it', async () => {
  const { j, seqs, segmentOf } = journalOf('a', 'b');
  try {
    const path = segmentOf(seqs[0]);
    unlinkSync(path);
    await assert.rejects(
      () => j.unsettled(),
      (err: Error) => err instanceof JournalError && err.message.includes(path),
    );
  } finally {
    j.close();
  }
});

test('entries settled while the files are read are left out, and those appended after the call are not in', async () => {
  const { j, seqs } = journalOf('a', 'b', 'c');
  try {
    const reading = j.unsettled();
    // While a's file is read: c is stored, and a new message arrives (it goes on its way as any other).
    j.settle(seqs[2]);
    j.append(Buffer.from('new'));
    assert.deepEqual(texts(await reading), ['a', 'b']);
    assert.deepEqual(texts(await j.unsettled()), ['a', 'b', 'new']);
  } finally {
    j.close();
  }
});
