/**
 * An idle input cuts off its journal segment: once it has journaled nothing
 * between two looks and every message is settled, the segment's bytes go (as a
 * drained spool's do), and a run killed after that replays nothing and numbers
 * on from the same seq. A look while something is unsettled, or after new
 * messages, cuts nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, rec, tmp, turn } from '../helpers/intake';

const segmentBytes = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('seg-')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

test('settled and quiet for a whole look: the segment is cut off, and a run killed after it replays nothing and numbers on', async () => {
  const dir = tmp();
  const first = open({ dir, id: 'idle-a', idleCheckMs: 0 });
  for (const n of ['i1', 'i2', 'i3']) first.intake.receive(rec(n));
  await turn();
  const items = first.all();
  first.settle(items);
  assert.ok(first.intake.stats().bytes > 0, 'the settled messages are still in the segment');
  // The first look only notes where the journal is: it may have journaled just before.
  first.intake.cutIfIdle();
  assert.ok(first.intake.stats().bytes > 0);
  first.intake.cutIfIdle();
  assert.equal(first.intake.stats().bytes, 0);
  assert.equal(segmentBytes(dir), 0, 'on disk too');
  // Killed (no close): the next run has nothing to replay and goes on after the last seq.
  const next = open({ dir, id: 'idle-a2', idleCheckMs: 0 });
  assert.equal(next.replayCount, 0);
  next.intake.receive(rec('i4'));
  await turn();
  assert.deepEqual(next.all().map((i) => i.seq), [items[2].seq + 1]);
  next.intake.close();
  first.intake.close();
});

test('nothing is cut while a message is unsettled, nor after messages came since the last look', async () => {
  const dir = tmp();
  const { intake, all, settle } = open({ dir, id: 'idle-b', idleCheckMs: 0 });
  intake.receive(rec('u1'));
  intake.receive(rec('u2'));
  await turn();
  const [u1, u2] = all();
  settle([u1]);
  intake.cutIfIdle();
  intake.cutIfIdle();
  assert.ok(intake.stats().bytes > 0, 'u2 is unsettled: kept');
  settle([u2]);
  intake.receive(rec('u3'));
  await turn();
  settle(all().slice(2));
  intake.cutIfIdle();
  assert.ok(intake.stats().bytes > 0, 'u3 came since the last look');
  intake.cutIfIdle();
  assert.equal(intake.stats().bytes, 0);
  // A killed run after the cut replays nothing.
  const next = open({ dir, id: 'idle-b2', idleCheckMs: 0 });
  assert.equal(next.replayCount, 0);
  next.intake.close();
  intake.close();
});

test('the timer does the looking: an idle input left alone cuts its segment by itself', async () => {
  const { intake, all, settle } = open({ idleCheckMs: 5 });
  intake.receive(rec('t1'));
  await turn();
  settle(all());
  const end = performance.now() + 30_000;
  while (intake.stats().bytes > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(intake.stats().bytes, 0);
  intake.close();
});
