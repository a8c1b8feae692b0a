import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PendingCounts } from '../../nodes/lib/journal/pending';
import { Journal } from '../../nodes/lib/journal/journal';
import { tempDir, removeTempDir } from '../helpers/temp';

type Op = { kind: 'append'; n: number; gap: number; holds: number } | { kind: 'settle'; pick: number } | { kind: 'hold'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 40 }), gap: fc.constantFrom(0, 0, 0, 3), holds: fc.constantFrom(1, 1, 2) }),
  fc.record({ kind: fc.constant('settle' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('hold' as const), pick: fc.nat() }),
);

test('pending counts answer like a map of seq → settles left, whatever the order of settles (property)', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), fc.constantFrom(4, 16, 1 << 20), (ops, span) => {
      const p = new PendingCounts(span);
      const model = new Map<number, number>();
      let next = 1;
      for (const o of ops) {
        if (o.kind === 'append') {
          next += o.gap;
          for (let i = 0; i < o.n; i++, next++) {
            p.add(next, o.holds);
            model.set(next, o.holds);
          }
        } else {
          const keys = [...model.keys()];
          if (keys.length === 0) continue;
          // Mostly the oldest first, as a store settles; sometimes any.
          const seq = o.pick % 3 === 0 ? keys[o.pick % keys.length] : Math.min(...keys);
          const n = model.get(seq)!;
          if (o.kind === 'hold') {
            p.set(seq, n + 1);
            model.set(seq, n + 1);
          } else if (n > 1) {
            p.set(seq, n - 1);
            model.set(seq, n - 1);
          } else {
            p.delete(seq);
            model.delete(seq);
          }
        }
        assert.equal(p.size, model.size);
        const sorted = [...model.keys()].sort((a, b) => a - b);
        assert.equal(p.lowest(), sorted[0]);
        assert.deepEqual(p.keys(), sorted);
      }
      for (let s = 0; s <= next; s++) {
        assert.equal(p.get(s), model.get(s), `seq ${s}`);
        assert.equal(p.has(s), model.has(s), `seq ${s}`);
        assert.equal(p.anyIn(s, s + 2), [s, s + 1, s + 2].some((x) => model.has(x)), `seqs ${s} to ${s + 2}`);
      }
    }),
  );
});

test('one entry left unsettled while a million newer ones settle keeps the rest small, and is still found', () => {
  const p = new PendingCounts(1024);
  p.add(1, 1);
  for (let s = 2; s <= 1_000_000; s++) {
    p.add(s, 1);
    p.delete(s);
  }
  assert.equal(p.size, 1);
  assert.equal(p.lowest(), 1);
  assert.equal(p.get(1), 1);
  assert.ok((p as unknown as { counts: number[] }).counts.length <= 1024, 'the array does not span the settled ones');
  p.delete(1);
  assert.equal(p.size, 0);
  assert.equal(p.lowest(), undefined);
});

test('the journal replays exactly the entry a long run of settles left behind', () => {
  const dir = tempDir('us-journal-pending-');
  try {
    const j = new Journal({ dir });
    j.open();
    const stuck = j.append(Buffer.from('stuck'));
    for (let i = 0; i < 5000; i++) j.settle(j.append(Buffer.from(`m${i}`)));
    assert.equal(j.backlog(), 1);
    assert.equal(j.oldestPending(), stuck);
    j.close();
    const again = new Journal({ dir });
    assert.deepEqual(
      again.open().map((e) => e.data.toString()),
      ['stuck'],
    );
    again.close();
  } finally {
    removeTempDir(dir);
  }
});
