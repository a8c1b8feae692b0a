/**
 * The mean line of a report chart: readings that come regularly draw one line
 * whatever the chart's bucket width, and it breaks where the readings stop for
 * longer than the series' gap limit (the limit of its listed gaps).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartGeometry } from '../../nodes/lib/report/chart';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { SeriesAccumulator, type SeriesOptions } from '../../nodes/lib/report/stats';

const FROM = Date.parse('2026-10-05T20:34:10Z');
const SECOND = 1000;

/** The chart of readings at `times` (ms after FROM) over a period of `spanMs`. */
function chartOf(spanMs: number, times: number[], opts: Partial<SeriesOptions> = {}) {
  const acc = new SeriesAccumulator({ from: FROM, to: FROM + spanMs, ...opts });
  times.forEach((t, i) => acc.add(FROM + t, 20 + (i % 7) / 10));
  const stats = acc.result();
  const g = chartGeometry(stats, explicitPeriod(FROM, FROM + spanMs, 'UTC'));
  assert.ok(g);
  return { g, stats };
}

const every = (stepMs: number, fromMs: number, toMs: number) => Array.from({ length: Math.floor((toMs - fromMs) / stepMs) }, (_, i) => fromMs + i * stepMs);

test('readings every 5 s over 3 minutes (1.5 s buckets, most of them empty) draw one line through every reading', () => {
  const times = every(5 * SECOND, 2 * SECOND, 180 * SECOND);
  const { g, stats } = chartOf(180 * SECOND, times, { expectedEveryMs: 5 * SECOND });
  assert.ok(stats.chart.length < 120 / 2, 'most buckets are empty');
  assert.equal(g.lines.length, 1);
  assert.equal(g.lines[0].length, times.length);
  assert.equal(g.bands.length, 1);
});

test('an outage longer than the gap limit breaks the line where the readings stop and start again', () => {
  // Every 5 s, silent from 60 s to 120 s: longer than 3 × 5 s.
  const times = [...every(5 * SECOND, 0, 60 * SECOND), ...every(5 * SECOND, 120 * SECOND, 180 * SECOND)];
  const { g, stats } = chartOf(180 * SECOND, times, { expectedEveryMs: 5 * SECOND });
  assert.deepEqual(stats.gaps.map((x) => [x.from - FROM, x.to - FROM]), [[55 * SECOND, 120 * SECOND]]);
  assert.equal(g.lines.length, 2);
  const sx = (ms: number) => g.plot.x + (ms / (180 * SECOND)) * g.plot.w;
  // The first line ends in the bucket of the last reading before the outage, the second starts in the first one's after it.
  const last = g.lines[0][g.lines[0].length - 1][0];
  const first = g.lines[1][0][0];
  assert.ok(Math.abs(last - sx(55 * SECOND)) <= g.plot.w / 120, `ends at ${last}`);
  assert.ok(Math.abs(first - sx(120 * SECOND)) <= g.plot.w / 120, `starts at ${first}`);
  // A pause shorter than the limit (10 s between readings every 5 s) does not.
  const paused = chartOf(180 * SECOND, [...every(5 * SECOND, 0, 60 * SECOND), ...every(5 * SECOND, 65 * SECOND, 180 * SECOND)], { expectedEveryMs: 5 * SECOND });
  assert.equal(paused.g.lines.length, 1);
});

test('the limit of "gaps longer than" is the chart\'s too', () => {
  const times = [...every(5 * SECOND, 0, 60 * SECOND), ...every(5 * SECOND, 90 * SECOND, 180 * SECOND)];
  assert.equal(chartOf(180 * SECOND, times, { expectedEveryMs: 5 * SECOND, gapMs: 60 * SECOND }).g.lines.length, 1);
  assert.equal(chartOf(180 * SECOND, times, { expectedEveryMs: 5 * SECOND, gapMs: 20 * SECOND }).g.lines.length, 2);
});

test('without a gap limit (no interval known) a bucket missing between two present ones still breaks the line', () => {
  // Dense readings each side of a silence: with buckets of 1.5 s, a missing bucket is a missing stretch of data.
  const times = [...every(SECOND, 0, 60 * SECOND), ...every(SECOND, 70 * SECOND, 180 * SECOND)];
  const { g, stats } = chartOf(180 * SECOND, times);
  assert.equal(stats.gapMs, null);
  assert.equal(g.lines.length, 2);
});
