import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { categoryOf, leaveOneCategoryOut } from '../../nodes/lib/anomaly/loco';
import type { NabFile } from '../../nodes/lib/anomaly/nab';

const T0 = Date.UTC(2024, 0, 1);
const N = 1000;
const timestamps = Array.from({ length: N }, (_, i) => T0 + i * 60_000);
const WINDOW: [number, number] = [timestamps[600], timestamps[700]];

/** A file whose one window is found at its start (hit) or missed (no score at all). */
function file(name: string, hit: boolean): NabFile {
  const scores = new Array<number>(N).fill(0);
  if (hit) scores[600] = 0.9;
  return { name, timestamps, scores, windows: [WINDOW] };
}

describe('leave one category out', () => {
  it('names a category by the first folder of a file', () => {
    assert.equal(categoryOf('realAWSCloudwatch/x.csv'), 'realAWSCloudwatch');
    assert.equal(categoryOf('x.csv'), '');
  });

  it('chooses on the other categories and scores the one held out', () => {
    // Candidate A finds the windows of categories a and b, B those of c and d (and one of b).
    const names = ['a/1.csv', 'a/2.csv', 'b/1.csv', 'b/2.csv', 'c/1.csv', 'd/1.csv'];
    const A = names.map((n) => file(n, n.startsWith('a/') || n.startsWith('b/')));
    const B = names.map((n) => file(n, n.startsWith('c/') || n.startsWith('d/') || n === 'b/1.csv'));
    const r = leaveOneCategoryOut([A, B], [
      { name: 'A', threshold: 0.5 },
      { name: 'B', threshold: 0.5 },
    ]);
    assert.deepEqual(r.categories, ['a', 'b', 'c', 'd']);
    const chosen = Object.fromEntries(r.folds.map((f) => [f.heldOut, f.chosen]));
    // Holding out a: B finds 3 of the 4 windows left, A 2. Holding out c or d: A finds 4 of 5, B 2.
    assert.deepEqual(chosen, { a: 1, b: 0, c: 0, d: 0 });
    const held = Object.fromEntries(r.folds.map((f) => [f.heldOut, Math.round(f.score.normalized)]));
    // A perfect hit scores 100, a miss 0 (NAB normalisation).
    assert.deepEqual(held, { a: 0, b: 100, c: 0, d: 0 });
    assert.equal(r.mean, 25);
    // On everything A finds 4 of 6 windows, B 3: A is what would ship.
    assert.equal(r.final.chosen, 0);
    assert.ok(Math.abs(r.final.whole - 100 * (4 / 6)) < 0.5, `whole ${r.final.whole}`);
  });

  it('prefers the candidate listed first on a tie, and needs one scored list per candidate', () => {
    const same = [file('a/1.csv', true), file('b/1.csv', false)];
    const r = leaveOneCategoryOut([same, same], [
      { name: 'simple', threshold: 0.5 },
      { name: 'complex', threshold: 0.5 },
    ]);
    assert.ok(r.folds.every((f) => f.chosen === 0));
    assert.throws(() => leaveOneCategoryOut([same], []), RangeError);
  });
});
