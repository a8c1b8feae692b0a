/**
 * Failure causes found on series the detectors were not developed on (NAB's
 * server metrics and ad-exchange rates), each as a synthetic signal that shows
 * it. Each test fails with the mechanism turned off.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backtest, type Point } from '../../nodes/lib/anomaly/backtest';
import { compileDetector, DEFAULT_DETECTOR } from '../../nodes/lib/anomaly/config';
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

/** The default before the novelty member: the likelihood layer over the three deviation detectors. */
const PREVIOUS: DetectorConfig = { type: 'likelihood', detector: { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'holtwinters' }, { type: 'flatline' }] } };

describe('levels a series has not visited: the novelty member', () => {
  it('reports a spike taller than anything in weeks that the z-score measures against a swing from its first readings', () => {
    // Hourly readings. In the first day the z-score's window holds a few quiet readings, so a small bump there is a
    // 300σ swing, and the z-score keeps it in mind for months; Holt-Winters has not started (1,000 readings).
    const points = series(1600, (i, n) => (i < 25 ? 10 + 0.01 * n + (i === 22 ? 3 : 0) : 10 + n + 0.5 * Math.sin((2 * Math.PI * i) / 24) + (i === 400 ? 6 : 0)), 3).map((p, i) => ({ ...p, ts: T0 + i * 3_600_000 }));
    assert.deepEqual(flagged(points, PREVIOUS), []);
    assert.deepEqual(flagged(points, DEFAULT_DETECTOR), [400]);
    const v = backtest(points, DEFAULT_DETECTOR, { field: 'cpc' }).verdicts[400]!;
    assert.equal(v.detector, 'novelty');
    assert.match(v.reason, /^cpc 15\.\d is higher than anything in the past 2\.4 weeks \(400 readings\); the highest before was about 13\.\d$/);
  });

  it('reports a move to a level never visited that is small next to the spikes of a spiky series', () => {
    // Spikes on one reading in five; for 50 readings the base sits lower than it has ever been.
    const points = series(4000, (i, n, rng) => (i >= 3000 && i < 3050 ? 7.5 : 10) + n + (rng.next() < 0.2 ? 8 * (0.5 + rng.next()) : 0), 5);
    const during = (alarms: number[]) => alarms.filter((i) => i >= 3000 && i < 3050);
    assert.deepEqual(during(flagged(points, PREVIOUS)), []);
    assert.deepEqual(during(flagged(points, DEFAULT_DETECTOR)), [3001]);
  });
});

describe('Holt-Winters while the layer learns it: alarms need a second opinion', () => {
  // Bursts of 50 to 80 for two readings, about every 100 readings at random: a busy server's network traffic.
  const bursty = (seed: number, extra: (i: number) => number = () => 0) => {
    const heights = [50, 70, 60, 80, 55, 75];
    let k = 0;
    let left = 0;
    return series(2000, (i, n, rng) => {
      if (left === 0 && rng.next() < 0.01) {
        left = 2;
        k++;
      }
      const burst = left > 0 ? heights[k % 6] : 0;
      if (left > 0) left--;
      return 1 + 0.2 * n + burst + extra(i);
    }, seed);
  };
  // Readings 1,000 to 1,600: Holt-Winters gives verdicts, the layer is still learning its usual deviations.
  const learning = (alarms: number[]) => alarms.filter((i) => i >= 1000 && i < 1600);
  const byHoltWinters = (points: Point[], config: DetectorConfig) =>
    learning(backtest(points, config).verdicts.map((v, i) => (v?.isAnomaly && v.detector === 'holtwinters' ? i : -1)));

  it('does not let ordinary bursts after a quiet spell alarm, where its own alarms did', () => {
    let before = 0;
    let after = 0;
    for (let seed = 1; seed <= 6; seed++) {
      before += byHoltWinters(bursty(seed), PREVIOUS).length;
      after += byHoltWinters(bursty(seed), DEFAULT_DETECTOR).length;
    }
    assert.ok(before >= 10, `previous default: ${before} alarms by Holt-Winters`);
    assert.equal(after, 0);
  });

  it('still reports a burst to a height never seen in that period', () => {
    assert.deepEqual(learning(flagged(bursty(1, (i) => (i === 1500 ? 300 : 0)), DEFAULT_DETECTOR)), [1500]);
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

describe('a device back after days without readings', () => {
  /** 6,000 readings, then the same signal after `gapDays` without any. */
  const withGap = (gapDays: number, f: (ts: number, n: number) => number, seed = 11): Point[] => {
    const rng = new Prng(seed);
    return Array.from({ length: 9000 }, (_, i) => {
      const ts = T0 + i * STEP + (i >= 6000 ? gapDays * 86_400_000 : 0);
      return { ts, value: f(ts, rng.next() - 0.5) };
    });
  };
  const noise = (_ts: number, n: number) => 50 + 3 * n;
  const daily = (ts: number, n: number) => 20 + 5 * Math.sin((2 * Math.PI * ts) / 86_400_000) + n;
  const afterGap = (points: Point[], config: DetectorConfig) => flagged(points, config).filter((i) => i >= 6000 && i < 6300);

  for (const days of [8, 30]) {
    it(`does not alarm on its ordinary readings after ${days} days off (Holt-Winters carried its trend over the gap)`, () => {
      // A daily cycle's season is found to the nearest reading, so a month off can still move it by a few slots.
      const shapes = days <= 8 ? ([['noise', noise], ['daily cycle', daily]] as const) : ([['noise', noise]] as const);
      for (const [name, f] of shapes) {
        for (const seed of [11, 12, 13]) {
          const points = withGap(days, f, seed);
          assert.deepEqual(afterGap(points, { type: 'holtwinters' }), [], `${name}, seed ${seed}`);
          const r = backtest(points, { type: 'holtwinters' }).verdicts[6000]!;
          assert.ok(Math.abs(r.expected - f(points[6000].ts, 0)) < 3, `${name}, seed ${seed}: expected ${r.expected} at ${points[6000].value}`);
        }
      }
    });
  }
});
