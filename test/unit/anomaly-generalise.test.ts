/**
 * Failure causes found on series the detectors were not developed on (NAB's
 * server metrics and ad-exchange rates), each as a synthetic signal that shows
 * it. Each test fails with the mechanism turned off.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backtest, type Point } from '../../nodes/lib/anomaly/backtest';
import { compileDetector } from '../../nodes/lib/anomaly/config';
import { centreAndSpread } from '../../nodes/lib/anomaly/detectors/zscore';
import { Prng, Window } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import type { DetectorConfig } from '../../nodes/lib/anomaly/types';

const T0 = Date.UTC(2024, 0, 1);
const STEP = 5 * 60_000;

function series(n: number, f: (i: number, noise: number, rng: Prng) => number, seed = 11): Point[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, (_, i) => ({ ts: T0 + i * STEP, value: f(i, rng.next() - 0.5, rng) }));
}

function flagged(points: Point[], config: DetectorConfig): number[] {
  return backtest(points, config)
    .verdicts.map((v, i) => (v?.isAnomaly ? i : -1))
    .filter((i) => i >= 0);
}

/** The likelihood layer over one z-score, so the test sees that member alone. */
const zscoreLayer = (zscore: Record<string, unknown> = {}, layer: Record<string, unknown> = {}): DetectorConfig =>
  ({ type: 'likelihood', ...layer, detector: { type: 'zscore', ...zscore } }) as DetectorConfig;

describe('bursty and two-level series: the spread counts the tails', () => {
  // Every 7th reading sits at a second, lower level (a server that idles now and then): 14% of the readings.
  const twoLevel = (spikeAt: number) => series(5000, (i, n) => (i % 7 === 0 ? 6.6 : 13.4) + 0.05 * n + (i === spikeAt ? 30 : 0));

  it('gives a spread that covers both levels where the MAD sees only the main one, and the same on plain noise', () => {
    const w = new Window(Infinity, 2016, true);
    for (const p of twoLevel(-1).slice(0, 2016)) w.push(p.ts, p.value);
    const [, mad] = centreAndSpread(w, true, false);
    const [, tails] = centreAndSpread(w, true, true);
    assert.ok(mad < 0.05, `MAD spread ${mad}`);
    assert.ok(tails > 1.5 && tails < 2.5, `tails spread ${tails}`);
    const g = new Window(Infinity, 2016, true);
    const rng = new Prng(4);
    for (let i = 0; i < 2016; i++) g.push(i, 12 * (rng.next() + rng.next() + rng.next() - 1.5));
    const [, a] = centreAndSpread(g, true, false);
    const [, b] = centreAndSpread(g, true, true);
    assert.ok(Math.abs(b / a - 1) < 0.1, `noise: MAD ${a}, tails ${b}`);
  });

  it('finds a spike on a series that visits a second level, which the MAD spread misses', () => {
    const points = twoLevel(4000);
    assert.deepEqual(flagged(points, zscoreLayer()), [4000]);
    // With the MAD alone every visit to the lower level is 100σ away: the spike is one more saturated reading.
    assert.deepEqual(flagged(points, zscoreLayer({ tails: false })), []);
    assert.deepEqual(flagged(twoLevel(-1), zscoreLayer()), []);
  });
});

describe('spike trains: spikes that recur are the series, not news', () => {
  // A job that runs about once a day (every 290 readings) and lifts the value by 5 to 20 noise widths.
  const train = (extra: (i: number) => number = () => 0) => series(6000, (i, n, rng) => 10 + n + (i % 290 === 0 ? 5 + 15 * rng.next() : 0) + extra(i), 1);

  it('stops alarming once the spikes have come back a few times, where the normal curve alone keeps alarming', () => {
    const points = train();
    const spikes = (alarms: number[]) => alarms.filter((i) => i >= 1500);
    assert.ok(spikes(flagged(points, zscoreLayer())).length <= 2, `alarms at ${flagged(points, zscoreLayer())}`);
    assert.ok(spikes(flagged(points, zscoreLayer({}, { recurrence: false }))).length >= 10);
  });

  it('still alarms on a spike far taller than the usual ones, with its reason', () => {
    const points = train((i) => (i === 5075 ? 80 : 0));
    const alarms = flagged(points, zscoreLayer());
    assert.ok(alarms.includes(5075), `alarms at ${alarms}`);
    const v = backtest(points, zscoreLayer(), { field: 'cpu', unit: '%' }).verdicts[5075]!;
    assert.match(v.reason, /^cpu has been unusually far from normal over its last 10 readings, furthest at 9\d\.\d% \(a spell like this comes .*\); latest: cpu 9\d\.\d% is \d+\.\dσ above its 1-week median of 10\.0% \(more than its recent largest swing of \d+\.\dσ\)$/);
  });

  it('keeps its spell counts in saved state and takes over state saved before it counted them', () => {
    const points = train();
    const make = compileDetector({ type: 'likelihood', detector: { type: 'zscore' } });
    const straight = make();
    const expected = points.map((p) => straight.update(p.ts, p.value, { field: 'v' }));
    const first = make();
    points.slice(0, 3000).forEach((p) => first.update(p.ts, p.value, { field: 'v' }));
    const resumed = make(JSON.parse(JSON.stringify(first.toJSON())));
    assert.deepEqual(points.slice(3000).map((p) => resumed.update(p.ts, p.value, { field: 'v' })), expected.slice(3000));
    // Older state has no spell counts: it carries on and starts counting.
    const old = first.toJSON() as { streams: Array<Record<string, unknown>> };
    for (const st of old.streams) for (const k of ['seen', 'peak', 'total', 'gain']) delete st[k];
    const taken = make(JSON.parse(JSON.stringify(old)));
    assert.doesNotThrow(() => points.slice(3000).forEach((p) => taken.update(p.ts, p.value, { field: 'v' })));
  });
});

describe('new parameters', () => {
  it('are validated with DetectorConfigError naming them', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ type: 'zscore', tails: 'yes' }, /zscore\.tails must be true or false/],
      [{ type: 'likelihood', recurrence: 1 }, /likelihood\.recurrence must be true or false/],
    ];
    for (const [config, message] of bad) {
      assert.throws(() => compileDetector(config as DetectorConfig), (e: unknown) => e instanceof DetectorConfigError && message.test(e.message), JSON.stringify(config));
    }
  });
});
