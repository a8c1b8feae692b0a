/**
 * A new series with a daily cycle: with `settle: "1d"` its first day's
 * ordinary rise and fall are not anomalies. The detector learns the series'
 * first day without verdicts (the backtest counts those readings as warm-up),
 * then alarms on what is unusual for it. Without it (the default) the first
 * rise alarms, and a new series' first spike is judged at once. Data: the first 299 readings of
 * artificialWithAnomaly/art_daily_nojump.csv (NAB, MIT licence in
 * test/fixtures/anomaly/nab/LICENSE.txt) and a generated daily cycle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backtest, type Point } from '../../nodes/lib/anomaly/backtest';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';
import { parseSeriesCsv } from '../../nodes/lib/anomaly/csv';
import { compileDetector, DEFAULT_DETECTOR } from '../../nodes/lib/anomaly/config';
import { DetectorConfigError } from '../../nodes/lib/errors';

const DIR = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'anomaly', 'nab');
const MIN = 60_000;
const DAY = 1440 * MIN;
const T0 = Date.UTC(2026, 0, 5);

/** Five-minute readings: about 20 at night, about 75 from 09:00 to 18:00, noise from a fixed seed. */
function dailyCycle(days: number): Point[] {
  let seed = 11;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  return Array.from({ length: days * 288 }, (_, i) => {
    const hour = (i % 288) / 12;
    const day = hour >= 9 && hour < 18;
    return { ts: T0 + i * 5 * MIN, value: day ? 75 + 12 * noise() : 20 + 4 * noise() };
  });
}

const at = (points: Point[], ts: number) => points.findIndex((p) => p.ts === ts);

/** The default detector with a first day of learning, as docs/anomaly.md shows it. */
const SETTLED = { ...DEFAULT_DETECTOR, settle: '1d' } as typeof DEFAULT_DETECTOR;

test('NAB art_daily_nojump: its first day rises at 09:00 and falls at 18:00 without an alarm; the day is learning, not verdicts', () => {
  const points = parseSeriesCsv(readFileSync(join(DIR, 'art_daily_nojump-first-day.csv'), 'utf8')).points;
  const { verdicts } = backtest(points, SETTLED);
  const rise = at(points, Date.parse('2014-04-01T09:00:00Z'));
  const fall = at(points, Date.parse('2014-04-01T18:00:00Z'));
  assert.ok(points[rise].value - points[rise - 1].value > 40, 'the rise is in the slice');
  assert.ok(points[fall - 1].value - points[fall].value > 40, 'the fall is in the slice');
  const flagged = verdicts.flatMap((v, i) => (v?.isAnomaly ? [`${new Date(points[i].ts).toISOString()}: ${v.reason}`] : []));
  assert.deepEqual(flagged, []);
  const firstVerdict = verdicts.findIndex((v) => v !== null);
  assert.equal(points[firstVerdict].ts, points[0].ts + DAY, 'verdicts start once the series spans a day');
});

test('a generated daily cycle: quiet through its first rise and fall, its jump on the third day is found', () => {
  const points = dailyCycle(3);
  // The third day, 13:00 to 14:00: far above the usual daytime level.
  const jump = at(points, T0 + 2 * DAY + 13 * 60 * MIN);
  for (let i = jump; i < jump + 12; i++) points[i] = { ts: points[i].ts, value: points[i].value + 60 };
  const { verdicts } = backtest(points, SETTLED);
  const flagged = verdicts.flatMap((v, i) => (v?.isAnomaly ? [i] : []));
  assert.ok(flagged.length >= 1 && flagged[0] >= jump && flagged[0] < jump + 12, `the jump is found at once (flagged: ${flagged.join(', ')})`);
  assert.deepEqual(flagged.filter((i) => i < jump), [], 'no alarm before the jump: not at the first day\'s rise at 09:00, nor at its fall at 18:00');
  assert.equal(verdicts.slice(0, 288).filter((v) => v !== null).length, 0, 'the first day is learning');
});

test('settle: a fast series settles after 2,016 readings, the default judges from the start, a saved settling series carries on', () => {
  // One reading a second: a day would be 86,400 readings.
  const engine = new AnomalyEngine({ detector: SETTLED, heartbeat: false });
  const judged = (i: number) => engine.process({ device: 'd', ts: T0 + i * 1000, fields: { v: 20 + (i % 7) }, tags: {} }).anomaly.v !== null;
  const first = Array.from({ length: 2100 }, (_, i) => i).find(judged);
  assert.equal(first, 2016);

  const eager = backtest(dailyCycle(1));
  assert.ok(eager.verdicts[108]?.isAnomaly, 'by default the first rise alarms: nothing has shown it is the series\' habit');
  const off = backtest(dailyCycle(1), { ...DEFAULT_DETECTOR, settle: 0 } as typeof DEFAULT_DETECTOR);
  assert.deepEqual(off.verdicts, eager.verdicts, 'settle: 0 is the default');

  const make = compileDetector(SETTLED);
  const a = make();
  const points = dailyCycle(2);
  const half = points.findIndex((p) => p.ts >= T0 + DAY / 2);
  for (let i = 0; i < half; i++) a.update(points[i].ts, points[i].value, { field: 'v' });
  const b = make(JSON.parse(JSON.stringify(a.toJSON())));
  for (let i = half; i < points.length; i++) {
    const [x, y] = [a.update(points[i].ts, points[i].value, { field: 'v' }), b.update(points[i].ts, points[i].value, { field: 'v' })];
    assert.deepEqual(y && { ...y }, x && { ...x }, `reading ${i}`);
    if (points[i].ts < T0 + DAY) assert.equal(y, null);
  }

  // State saved before settling existed has no `settling`: those series had been learning, they judge at once.
  const c = make();
  for (let i = 0; i < 40; i++) c.update(points[i].ts, points[i].value, { field: 'v' });
  const d = make(JSON.parse(JSON.stringify(c.toJSON())));
  assert.equal(d.update(points[40].ts, points[40].value, { field: 'v' }), null, 'restored mid-settling: still settling');
  const { settling: _settling, ...saved } = JSON.parse(JSON.stringify(c.toJSON())) as { settling?: unknown };
  const e = make(saved);
  assert.notEqual(e.update(points[40].ts, points[40].value, { field: 'v' }), null, 'saved without settling: judged');

  assert.throws(() => compileDetector({ ...DEFAULT_DETECTOR, settle: 'soon' } as typeof DEFAULT_DETECTOR), (e: unknown) => e instanceof DetectorConfigError && e.details.parameter === 'likelihood.settle');
});
