import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bestThreshold, NAB_PROFILES, nabTime, parseLabels, probationLength, scaledSigmoid, scoreNab, type NabFile } from '../../nodes/lib/anomaly/nab';

const [standard, lowFP, lowFN] = NAB_PROFILES;

/** 1000 points one minute apart, windows given as point indices (inclusive). */
function file(firing: number[], windows: Array<[number, number]>, name = 'f.csv'): NabFile {
  const timestamps = Array.from({ length: 1000 }, (_, i) => i * 60_000);
  const scores = timestamps.map((_, i) => (firing.includes(i) ? 1 : 0));
  return { name, timestamps, scores, windows: windows.map(([a, b]) => [a * 60_000, b * 60_000]) };
}

const WINDOWS: Array<[number, number]> = [
  [300, 399],
  [700, 799],
];

describe('NAB scoring', () => {
  it('gives 0 to a detector that never fires and 100 to one that fires at each window start', () => {
    assert.equal(scoreNab([file([], WINDOWS)], 0.5, standard).total.normalized, 0);
    const perfect = scoreNab([file([300, 700], WINDOWS)], 0.5, standard);
    assert.ok(Math.abs(perfect.total.normalized - 100) < 1e-9);
    assert.equal(perfect.files[0].detected, 2);
  });

  it('rewards early detection by the scaled sigmoid and counts a window once', () => {
    const early = scoreNab([file([310, 700], WINDOWS)], 0.5, standard).total.raw;
    const late = scoreNab([file([390, 700], WINDOWS)], 0.5, standard).total.raw;
    const twice = scoreNab([file([310, 320, 330, 700], WINDOWS)], 0.5, standard).total.raw;
    assert.ok(early > late && late > 1);
    assert.equal(twice, early);
    // Detection 10 points into a 100-point window: position -(399 - 310 + 1)/100 = -0.9.
    assert.ok(Math.abs(early - (1 + scaledSigmoid(-0.9) / scaledSigmoid(-1))) < 1e-12);
  });

  it('charges false positives by profile, less just after a window, and ignores the probation period', () => {
    const fpBefore = scoreNab([file([200, 300, 700], WINDOWS)], 0.5, standard).total.raw;
    assert.ok(Math.abs(fpBefore - (2 - 0.11)) < 1e-12);
    assert.ok(Math.abs(scoreNab([file([200, 300, 700], WINDOWS)], 0.5, lowFP).total.raw - (2 - 0.22)) < 1e-12);
    const justAfter = scoreNab([file([300, 401, 700], WINDOWS)], 0.5, standard).total.raw;
    assert.ok(justAfter > fpBefore && justAfter < 2);
    assert.equal(probationLength(1000), 150);
    assert.equal(probationLength(100_000), 750);
    assert.equal(scoreNab([file([100, 300, 700], WINDOWS)], 0.5, standard).total.raw, 2);
  });

  it('charges misses by profile', () => {
    const oneMissed = file([300], WINDOWS);
    assert.ok(Math.abs(scoreNab([oneMissed], 0.5, standard).total.normalized - 50) < 1e-9);
    assert.ok(Math.abs(scoreNab([oneMissed], 0.5, lowFN).total.normalized - (100 * (1 - 2 + 4)) / 6) < 1e-9);
  });

  it('uses one threshold for all files and finds the best one', () => {
    const a = file([], WINDOWS, 'a.csv');
    const b = file([], [[500, 599]], 'b.csv');
    const sa = [...a.scores];
    const sb = [...b.scores];
    sa[300] = 0.9;
    sa[700] = 0.7;
    sa[200] = 0.68; // a false positive worth accepting to reach b's window
    sb[500] = 0.65;
    const files = [{ ...a, scores: sa }, { ...b, scores: sb }];
    assert.equal(bestThreshold(files, standard), 0.65);
    assert.ok(scoreNab(files, 0.7, standard).total.raw < scoreNab(files, 0.65, standard).total.raw);
    const r = scoreNab(files, 0.65, standard);
    assert.deepEqual(r.files.map((f) => f.detected), [2, 1]);
    assert.equal(r.total.falsePositives, 1);
    assert.ok(r.total.normalized < 100 && r.total.normalized > 95);
  });

  it('reads NAB windows.json times as UTC', () => {
    const labels = parseLabels({ 'x/y.csv': [['2014-04-10 07:15:00.000000', '2014-04-11 16:45:00.000000']] });
    assert.deepEqual(labels.get('x/y.csv'), [[Date.UTC(2014, 3, 10, 7, 15), Date.UTC(2014, 3, 11, 16, 45)]]);
    assert.equal(nabTime('2014-04-10 07:15:00'), Date.UTC(2014, 3, 10, 7, 15));
    assert.throws(() => parseLabels({ f: [['2014-01-01']] }), /must be \[start, end\]/);
  });
});
