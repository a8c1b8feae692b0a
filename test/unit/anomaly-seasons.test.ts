import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backtest, type Point } from '../../nodes/lib/anomaly/backtest';
import { compileDetector, DEFAULT_DETECTOR } from '../../nodes/lib/anomaly/config';
import { HoltWintersDetector, type HoltWintersState } from '../../nodes/lib/anomaly/detectors/holtwinters';
import { Prng } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import type { DetectorConfig } from '../../nodes/lib/anomaly/types';

const T0 = Date.UTC(2024, 0, 1); // a Monday
const STEP = 30 * 60_000;
const DAY = 48;
const WEEK = 7 * DAY;
/** A Wednesday in week 10 that looks like a Sunday (a public holiday). */
const HOLIDAY = 9 * WEEK + 2 * DAY;

/**
 * Readings every 30 minutes: a weekday shape with a morning peak, a flatter
 * and lower weekend. The daily cycle is what autocorrelation finds first.
 */
function weekly(weeks: number, withHoliday = true, seed = 3): Point[] {
  const rng = new Prng(seed);
  return Array.from({ length: weeks * WEEK }, (_, i) => {
    const day = Math.floor(i / DAY) % 7;
    const h = (i % DAY) / 2;
    const rest = day >= 5 || (withHoliday && i >= HOLIDAY && i < HOLIDAY + DAY);
    const shape = rest ? 8 * Math.sin(((h - 7) / 24) * 2 * Math.PI) - 4 : 10 * Math.sin(((h - 6) / 24) * 2 * Math.PI) + (h > 7 && h < 9 ? 8 : 0);
    return { ts: T0 + i * STEP, value: 100 + shape + 2 * (rng.next() - 0.5) };
  });
}

function flagged(points: Point[], config: DetectorConfig): number[] {
  return backtest(points, config)
    .verdicts.map((v, i) => (v?.isAnomaly ? i : -1))
    .filter((i) => i >= 0);
}

const isHoliday = (i: number) => i >= HOLIDAY && i < HOLIDAY + DAY;

/** Root mean square forecast error of Holt-Winters after `from`, and whether the weekly profile ended up in use. */
function fit(points: Point[], config: DetectorConfig, from: number): { rmse: number; weekly: boolean; season: number | undefined } {
  const d = compileDetector(config)() as HoltWintersDetector;
  let sq = 0;
  let n = 0;
  points.forEach((p, i) => {
    const o = d.update(p.ts, p.value, { field: 'v' });
    if (o && i >= from) {
      sq += (p.value - o.expected) ** 2;
      n++;
    }
  });
  return { rmse: Math.sqrt(sq / n), weekly: d.weeklyInUse, season: d.seasonLength };
}

describe('holtwinters: a weekly profile on top of the daily season', () => {
  it('learns the week once the history spans enough, and forecasts much better with it', () => {
    const points = weekly(12, false);
    const on = fit(points, { type: 'holtwinters' }, 6 * WEEK);
    const off = fit(points, { type: 'holtwinters', weekly: false }, 6 * WEEK);
    assert.equal(on.season, DAY, 'the daily season is found first');
    assert.equal(on.weekly, true);
    assert.equal(off.weekly, false);
    assert.ok(on.rmse < 0.7 * off.rmse, `rmse with the week ${on.rmse}, without ${off.rmse}`);
  });

  it('finds a weekday that looks like a weekend, which the daily model misses, and says which cycles it used', () => {
    const points = weekly(12);
    const withWeek = flagged(points, DEFAULT_DETECTOR);
    assert.ok(withWeek.some(isHoliday), `alarms at ${withWeek}`);
    // After the profile is in use, nothing but the holiday alarms.
    assert.deepEqual(withWeek.filter((i) => i > 5 * WEEK && !isHoliday(i)), []);
    const dailyOnly: DetectorConfig = { type: 'likelihood', detector: { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'holtwinters', weekly: false }, { type: 'flatline' }] } };
    const without = flagged(points, dailyOnly);
    assert.ok(!without.some(isHoliday), `daily-only alarms at ${without}`);
    const v = backtest(points, { type: 'holtwinters' }).verdicts[HOLIDAY + 16]!;
    assert.match(v.reason, /expected at this point of its 1-day and weekly cycles/);
  });

  it('stays off on a series with only a daily cycle', () => {
    const rng = new Prng(5);
    const points = Array.from({ length: 12 * WEEK }, (_, i) => ({ ts: T0 + i * STEP, value: 50 + 20 * Math.sin((2 * Math.PI * i) / DAY) + 4 * (rng.next() - 0.5) }));
    const r = fit(points, { type: 'holtwinters' }, 0);
    assert.equal(r.season, DAY);
    assert.equal(r.weekly, false);
  });

  it('continues after toJSON -> JSON text -> restore with the same verdicts, and takes over state saved without a profile', () => {
    const points = weekly(12);
    const make = compileDetector({ type: 'holtwinters' });
    const straight = make();
    const expected = points.map((p) => straight.update(p.ts, p.value, { field: 'v' }));
    const cut = 8 * WEEK;
    const first = make();
    points.slice(0, cut).forEach((p) => first.update(p.ts, p.value, { field: 'v' }));
    const resumed = make(JSON.parse(JSON.stringify(first.toJSON())));
    assert.deepEqual(points.slice(cut).map((p) => resumed.update(p.ts, p.value, { field: 'v' })), expected.slice(cut));
    // State saved before profiles existed: the model carries on and starts a profile of its own.
    const old = first.toJSON() as HoltWintersState;
    delete old.model!.week;
    const taken = make(JSON.parse(JSON.stringify(old))) as HoltWintersDetector;
    assert.equal(taken.weeklyInUse, false);
    points.slice(cut).forEach((p) => assert.ok(taken.update(p.ts, p.value, { field: 'v' })));
    assert.equal(taken.weeklyInUse, true);
  });

  it('rejects a weekly setting that is not true or false', () => {
    assert.throws(
      () => compileDetector({ type: 'holtwinters', weekly: 'yes' } as unknown as DetectorConfig),
      (e: unknown) => e instanceof DetectorConfigError && /holtwinters\.weekly must be true or false/.test(e.message),
    );
  });
});
