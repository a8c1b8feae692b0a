import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backtest, type Point } from '../../nodes/lib/anomaly/backtest';
import { compileDetector } from '../../nodes/lib/anomaly/config';
import { detectSeason } from '../../nodes/lib/anomaly/detectors/season';
import { averagePath } from '../../nodes/lib/anomaly/detectors/iforest';
import { HoltWintersDetector } from '../../nodes/lib/anomaly/detectors/holtwinters';
import { Prng, Window } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import type { DetectorConfig } from '../../nodes/lib/anomaly/types';

const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;

/** Seeded noise in [-0.5, 0.5): the signals are the same on every run. */
function series(n: number, f: (i: number, noise: number) => number, stepMs = 5 * MIN, seed = 7): Point[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, (_, i) => ({ ts: T0 + i * stepMs, value: f(i, rng.next() - 0.5) }));
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

function flagged(config: DetectorConfig, points: Point[]): number[] {
  return backtest(points, config)
    .verdicts.map((v, i) => (v?.isAnomaly ? i : -1))
    .filter((i) => i >= 0);
}

describe('zscore', () => {
  const spiky = series(400, (i, e) => (i === 300 ? 40 : 20 + e));

  it('flags a spike and only the spike, saying how far from the window centre it is', () => {
    const r = backtest(spiky, { type: 'zscore' }, { field: 'temperature', unit: '°C' });
    assert.deepEqual(flagged({ type: 'zscore' }, spiky), [300]);
    const v = r.verdicts[300]!;
    assert.equal(v.detector, 'zscore');
    assert.ok(v.score > 0.9, `score ${v.score}`);
    assert.ok(v.band[0] < 20 && v.band[1] > 20 && v.band[1] < 40, `band ${v.band}`);
    assert.match(v.reason, /^temperature 40\.0 °C is \d+\.\dσ above its 1-day median of 20\.0 °C$/);
  });

  it('says the time window in words and uses the mean when not robust', () => {
    const r = backtest(series(100, (i, e) => (i === 90 ? 30 : 20 + e), MIN), { type: 'zscore', robust: false, window: '1h' });
    assert.ok(r.verdicts[90]!.isAnomaly);
    assert.match(r.verdicts[90]!.reason, /above its 1-hour mean of 20\.\d$/);
  });

  it('flags the first reading of a level shift, not every reading after it', () => {
    const shift = series(600, (i, e) => (i >= 400 ? 30 : 20) + e);
    const hits = flagged({ type: 'zscore' }, shift);
    assert.equal(hits[0], 400);
    assert.ok(hits.length < 5, `alarms at ${hits}`);
    // The reading after the alarm is as far off: its reason says so and why it does not alarm again.
    const next = backtest(shift, { type: 'zscore' }, { field: 'temperature', unit: '°C' }).verdicts[401]!;
    assert.equal(next.isAnomaly, false);
    assert.match(next.reason, /^temperature 30\.\d °C is \d+\.\dσ above its \d+-hour median of 20\.0 °C, no further than its recent largest swing of \d+\.\dσ \(a shift that persists alarms once\)$/);
  });

  it('gives no verdict during warm-up', () => {
    const r = backtest(spiky, { type: 'zscore', warmup: 50 });
    assert.ok(r.verdicts.slice(0, 50).every((v) => v === null));
    assert.ok(r.verdicts.slice(50).every((v) => v !== null));
  });
});

describe('ewma', () => {
  it('catches a small sustained shift that a z-score on single readings does not', () => {
    const drift = series(1200, (i, e) => 20 + 0.4 * e + (i >= 800 ? 0.4 : 0));
    const ewma = flagged({ type: 'ewma' }, drift);
    assert.ok(ewma.length > 0 && ewma[0] >= 800 && ewma[0] < 830, `ewma alarms at ${ewma}`);
    assert.deepEqual(flagged({ type: 'zscore' }, drift), []);
    const v = backtest(drift, { type: 'ewma' }).verdicts[ewma[0]]!;
    assert.match(v.reason, /recent average .* has drifted above its usual level of 20\.0/);
    const after = backtest(drift, { type: 'ewma' }).verdicts[ewma[0] + 1]!;
    if (!after.isAnomaly) assert.match(after.reason, /has drifted above its usual level of 20\.0, yet no further than its recent largest drift|is close to its usual level/);
  });
});

describe('holtwinters', () => {
  it('words a change of a series that had matched its forecast almost exactly without billions of σ, and never as close to it', () => {
    // Near-constant: 21.5, a tenth more on about one reading in 300 at random; its spread decays to rounding dust in between.
    const points = series(6000, (i, e) => (e > 0.5 - 1 / 300 ? 21.6 : 21.5), 5 * MIN, 7);
    const { verdicts } = backtest(points, { type: 'holtwinters', season: 'none' });
    const reasons = verdicts.flatMap((v) => (v ? [v.reason] : []));
    // "Close to" only within the alarm level, not for a change under the raised bar of an earlier one.
    for (const r of reasons) if (r.includes('close to')) assert.match(r, /\([0-4]\.\dσ\)$/);
    const sigmas = reasons.flatMap((r) => [...r.matchAll(/([\d.]+)σ/g)].map((m) => Number(m[1])));
    assert.ok(sigmas.every((x) => x < 1e6), `largest σ in a reason: ${Math.max(...sigmas)}`);
    const exact = reasons.filter((r) => r === 'value 21.6 is above the 21.5 expected from its recent level and trend, which it had followed almost exactly (its usual error is under a millionth of this one)');
    assert.ok(exact.length > 0, reasons.filter((r) => r.startsWith('value 21.6')).join('\n'));
  });

  // A daily cycle at 30-minute steps: 48 readings per season.
  const daily = (i: number, e: number) => 50 + 20 * Math.sin((2 * Math.PI * i) / 48) + e;

  it('finds the season length by autocorrelation', () => {
    const values = series(400, daily, 30 * MIN).map((p) => p.value);
    assert.equal(detectSeason(values), 48);
    assert.equal(detectSeason(series(400, (_i, e) => e).map((p) => p.value)), 0);
  });

  it('flags a value that is normal for the day but wrong for the hour', () => {
    // At the trough of the cycle (i % 48 == 36) the value takes the peak's level: within the overall range.
    const points = series(800, (i, e) => (i === 708 ? 70 : daily(i, e)), 30 * MIN);
    const hw = flagged({ type: 'holtwinters', warmup: 300 }, points);
    assert.deepEqual(hw, [708]);
    assert.deepEqual(flagged({ type: 'zscore' }, points), []);
    const v = backtest(points, { type: 'holtwinters', warmup: 300 }).verdicts[708]!;
    assert.ok(Math.abs(v.expected - 30) < 2, `expected ${v.expected}`);
    assert.match(v.reason, /above the 30\.\d expected at this point of its 1-day cycle/);
  });

  it('uses a configured season without detecting one', () => {
    const d = compileDetector({ type: 'holtwinters', season: '1d', warmup: 100 })() as HoltWintersDetector;
    for (const p of series(100, daily, 30 * MIN)) d.update(p.ts, p.value, { field: 'x' });
    assert.equal(d.seasonLength, 48);
  });
});

describe('iforest', () => {
  const points = series(900, (i, e) => (i === 800 ? 25 : 20 + e));

  it('scores an isolated point high, with s(x, n) = 2^(-E[h]/c(n)) cut at 0.5 by default', () => {
    const r = backtest(points, { type: 'iforest', shingle: 1 });
    assert.equal(argmax(r.scores), 800);
    assert.ok(r.verdicts[800]!.isAnomaly);
    assert.match(r.verdicts[800]!.reason, /^value 25\.0 is a value unlike the past .* \(isolation score 0\.\d+, alarm at 0\.5\)$/);
    assert.ok(Math.abs(averagePath(256) - 10.24) < 0.01);
  });

  it('is reproducible with a seed and differs with another', () => {
    const a = backtest(points, { type: 'iforest', seed: 3 }).scores;
    assert.deepEqual(backtest(points, { type: 'iforest', seed: 3 }).scores, a);
    assert.notDeepEqual(backtest(points, { type: 'iforest', seed: 4 }).scores, a);
  });
});

describe('flatline', () => {
  it('flags a stuck sensor once, with how long it has been stuck', () => {
    const points = series(400, (i, e) => (i >= 300 && i < 360 ? 21.5 : 20 + e));
    const hits = flagged({ type: 'flatline' }, points);
    assert.equal(hits[0], 309, `alarms at ${hits}`);
    assert.ok(hits.length <= 3);
    const v = backtest(points, { type: 'flatline' }, { field: 'temperature', unit: '°C' }).verdicts[309]!;
    assert.equal(v.reason, 'temperature has been stuck at 21.5 °C for 45 minutes (10 readings); before, it never stayed the same for more than 1 reading');
  });

  it('says a run is still stuck between its alarms, not that it is within what it usually does', () => {
    const points = series(400, (i, e) => (i >= 300 && i < 360 ? 21.5 : 20 + e));
    const r = backtest(points, { type: 'flatline' }, { field: 'temperature', unit: '°C' });
    // Alarmed at 10 readings, next at 20: the 15th is still stuck.
    assert.equal(r.verdicts[314]!.isAnomaly, false);
    assert.equal(r.verdicts[314]!.reason, 'temperature is still stuck at 21.5 °C, for 70 minutes (15 readings); before, it never stayed the same for more than 1 reading');
    assert.equal(r.verdicts[305]!.reason, 'temperature has stayed at 21.5 °C for 6 readings, within what it usually does');
  });

  it('does not take a series that has never changed for stuck, alone or in the default', () => {
    // A setpoint or a status field: the same value from its first reading on.
    const constant = series(3000, () => 7);
    assert.deepEqual(flagged({ type: 'flatline' }, constant), []);
    const r = backtest(constant, undefined, { field: 'setpoint' });
    assert.deepEqual(r.verdicts.flatMap((v, i) => (v?.isAnomaly ? [i] : [])), []);
    const v = backtest(constant, { type: 'flatline' }, { field: 'setpoint' }).verdicts[200]!;
    assert.equal(v.score, 0);
    assert.equal(v.reason, 'setpoint has stayed at 7.00 since its first reading (201 readings); it is not taken for stuck before it has changed once');
  });

  it('learns the first run as the longest once the series changes, and then flags a run twice as long', () => {
    // Flat for its first 30 readings, noisy after, stuck again from 300.
    const points = series(500, (i, e) => (i < 30 ? 20 : i >= 300 ? 21.5 : 20 + e));
    const hits = flagged({ type: 'flatline' }, points);
    assert.equal(hits[0], 359, `alarms at ${hits}`);
    const v = backtest(points, { type: 'flatline' }).verdicts[359]!;
    assert.match(v.reason, /before, it never stayed the same for more than 30 readings$/);
  });

  it('learns that a series is often flat and does not alarm on that', () => {
    const counter = series(600, (i) => (i % 50 === 0 ? 5 : 0));
    assert.deepEqual(flagged({ type: 'flatline' }, counter), []);
  });
});

describe('rate', () => {
  it('flags a jump by its speed, in units per minute', () => {
    const points = series(200, (i, e) => 20 + 0.01 * i + 0.05 * e + (i >= 150 ? 5 : 0));
    assert.deepEqual(flagged({ type: 'rate' }, points), [150]);
    const v = backtest(points, { type: 'rate' }, { unit: 'bar' }).verdicts[150]!;
    assert.match(v.reason, /^value rose 5\.\d+ bar in 5 minutes \(1\.\d+ bar\/min\), \d+(\.\d+)? times its usual pace/);
  });

  it('uses a fixed maximum rate when given one', () => {
    const points = series(20, (i) => (i < 10 ? 0 : 100), 1000);
    const v = backtest(points, { type: 'rate', maxRate: 10 }).verdicts[10]!;
    assert.ok(v.isAnomaly);
    assert.match(v.reason, /its limit of 600\.0\/min/);
  });
});

describe('limits', () => {
  it('flags values outside the limits, per field when configured', () => {
    const cfg: DetectorConfig = { type: 'limits', max: 100, fields: { pressure: { min: 1, max: 3 } } };
    const d = compileDetector(cfg)();
    assert.equal(d.update(T0, 50, { field: 'temperature' })!.score, 0);
    const hot = d.update(T0, 120, { field: 'temperature', unit: '°C' })!;
    assert.ok(hot.score >= 0.5);
    assert.equal(hot.reason, 'temperature 120.0 °C is above its upper limit of 100.0 °C');
    const low = d.update(T0, 0.5, { field: 'pressure' })!;
    assert.ok(low.score >= 0.5 && low.score < 1);
    assert.equal(low.low, 1);
  });
});

describe('ensemble', () => {
  it('takes the most alarming member and its reason', () => {
    const points = series(400, (i, e) => (i >= 300 && i < 360 ? 21.5 : 20 + e));
    const cfg: DetectorConfig = { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'flatline' }] };
    const r = backtest(points, cfg);
    assert.equal(r.verdicts[300]!.detector, 'zscore');
    assert.equal(r.verdicts[309]!.detector, 'flatline');
    const alone = backtest(points, { type: 'flatline' });
    assert.equal(r.verdicts[309]!.score, alone.verdicts[309]!.score);
  });

  it('averages with combine: mean', () => {
    const points = series(100, (i, e) => (i === 90 ? 30 : 20 + e));
    const cfg = (combine: 'max' | 'mean'): DetectorConfig => ({ type: 'ensemble', combine, members: [{ type: 'zscore' }, { type: 'zscore', robust: false }] });
    const a = backtest(points, { type: 'zscore' }).scores[90];
    const b = backtest(points, { type: 'zscore', robust: false }).scores[90];
    assert.equal(backtest(points, cfg('mean')).scores[90], (a + b) / 2);
    assert.equal(backtest(points, cfg('max')).scores[90], Math.max(a, b));
  });
});

describe('detector configs', () => {
  it('reject unknown types, unknown parameters and bad values with DetectorConfigError', () => {
    assert.throws(() => compileDetector({ type: 'magic' } as unknown as DetectorConfig), (e: unknown) => e instanceof DetectorConfigError && /unknown detector type "magic"/.test(e.message));
    assert.throws(() => compileDetector({ type: 'zscore', treshold: 3 } as unknown as DetectorConfig), /zscore has no parameter "treshold"/);
    assert.throws(() => compileDetector({ type: 'ewma', lambda: 0 }), /ewma\.lambda must be more than 0/);
    assert.throws(() => compileDetector({ type: 'zscore', window: '5 parsecs' }), /zscore\.window "5 parsecs" is not a duration/);
    assert.throws(() => compileDetector({ type: 'limits' }), /limits needs a min or a max/);
    assert.throws(() => compileDetector({ type: 'ensemble', members: [] }), /non-empty "members"/);
  });
});

describe('rolling window', () => {
  it('keeps median and MAD exact while points come and go', () => {
    const rng = new Prng(11);
    for (let trial = 0; trial < 300; trial++) {
      const cap = 1 + Math.floor(rng.next() * 30);
      const w = new Window(Infinity, cap, true);
      const all: number[] = [];
      const n = cap + Math.floor(rng.next() * 30);
      for (let i = 0; i < n; i++) {
        const v = Math.floor(rng.next() * 8);
        w.push(i, v);
        all.push(v);
      }
      const kept = all.slice(-cap).sort((a, b) => a - b);
      const mid = (xs: number[]) => (xs.length % 2 ? xs[xs.length >> 1] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2);
      const med = mid(kept);
      assert.equal(w.median(), med);
      assert.equal(w.mad(med), mid(kept.map((x) => Math.abs(x - med)).sort((a, b) => a - b)));
    }
  });
});
