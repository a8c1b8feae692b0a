/**
 * The time axis of report charts: for periods from milliseconds to years, in
 * zones with DST and odd offsets, the ticks increase, stay in the period and
 * read differently from one another.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartGeometry } from '../../nodes/lib/report/chart';
import { explicitPeriod, periodAt } from '../../nodes/lib/report/period';
import { chartSvg } from '../../nodes/lib/report/svg';
import type { FieldStats } from '../../nodes/lib/report/stats';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function stats(from: number, to: number): FieldStats {
  const chart = [0, 1, 2].map((i) => ({ ts: from + ((to - from) * i) / 2, min: i, max: i + 1, mean: i + 0.5, count: 1 }));
  return { chart, above: null, below: null } as unknown as FieldStats;
}

function axis(from: number, to: number, zone: string): Array<{ x: number; label: string }> {
  const g = chartGeometry(stats(from, to), explicitPeriod(from, to, zone));
  assert.ok(g);
  return g.xTicks;
}

const labels = (from: string, to: string, zone = 'UTC') => axis(Date.parse(from), Date.parse(to), zone).map((t) => t.label);

test('a period of a few minutes is labelled in seconds, not the same minute twice', () => {
  assert.deepEqual(labels('2026-10-05T20:34:10Z', '2026-10-05T20:37:10Z'), ['20:34:30', '20:35:00', '20:35:30', '20:36:00', '20:36:30', '20:37:00']);
  assert.deepEqual(labels('2026-10-05T20:34:10Z', '2026-10-05T20:34:40Z'), ['20:34:10', '20:34:15', '20:34:20', '20:34:25', '20:34:30', '20:34:35', '20:34:40']);
  assert.deepEqual(labels('2026-10-05T20:34:10Z', '2026-10-05T20:34:11Z'), ['20:34:10.000', '20:34:10.200', '20:34:10.400', '20:34:10.600', '20:34:10.800', '20:34:11.000']);
});

test('hours, a day, weeks and a year get round ticks in the report zone', () => {
  assert.deepEqual(labels('2026-10-05T18:03:00Z', '2026-10-05T20:03:00Z', 'Europe/Berlin'), ['20:30', '21:00', '21:30', '22:00']);
  // The date replaces the time at midnight, where the day changes.
  const day = periodAt('previous-day', Date.parse('2026-10-05T04:00:00Z'), 'Europe/Berlin');
  assert.deepEqual(axis(day.from, day.to, day.timezone).map((t) => t.label), ['4 Oct', '06:00', '12:00', '18:00', '5 Oct']);
  assert.deepEqual(labels('2026-10-05T22:30:00Z', '2026-10-06T01:00:00Z'), ['22:30', '23:00', '23:30', '6 Oct', '00:30', '01:00']);
  // Three days at 12 hours would read "12:00" every day: each label names its day.
  assert.deepEqual(labels('2026-10-05T00:00:00Z', '2026-10-08T00:00:00Z'), ['5 Oct 00:00', '5 Oct 12:00', '6 Oct 00:00', '6 Oct 12:00', '7 Oct 00:00', '7 Oct 12:00', '8 Oct 00:00']);
  // 40 days: weekly ticks restart on the 1st; the 29th is left out, two days before it.
  assert.deepEqual(labels('2026-10-03T00:00:00Z', '2026-11-12T00:00:00Z'), ['8 Oct', '15 Oct', '22 Oct', '1 Nov', '8 Nov']);
  assert.deepEqual(labels('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), ['Jan 2026', 'Mar 2026', 'May 2026', 'Jul 2026', 'Sep 2026', 'Nov 2026', 'Jan 2027']);
});

test('the hour the clocks go back gets its ticks twice, evenly spaced, each naming its pass (the SVG as drawn)', () => {
  // Berlin falls back at 03:00 CEST on 25 October 2026: 02:00–03:00 happens twice, first in CEST, then in CET.
  const from = Date.parse('2026-10-24T23:30:00Z');
  const to = Date.parse('2026-10-25T02:30:00Z');
  const g = chartGeometry(stats(from, to), explicitPeriod(from, to, 'Europe/Berlin'));
  assert.ok(g);
  const svg = chartSvg(g, 'night');
  const axis = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle"[^>]*>([^<]*)<\/text>/g)].map((m) => ({ x: Number(m[1]), label: m[3] }));
  assert.deepEqual(axis.map((t) => t.label), ['01:30', '02:00 CEST', '02:30 CEST', '02:00 CET', '02:30 CET', '03:00', '03:30']);
  // Half an hour of real time apart each, in the repeated hour as around it (the SVG rounds to a tenth).
  const steps = axis.slice(1).map((t, i) => t.x - axis[i].x);
  for (const step of steps) assert.ok(Math.abs(step - (g.plot.w * 30) / 180) <= 0.1, steps.join(', '));
  // On an hourly axis too: 02:00 twice, an hour apart.
  assert.deepEqual(labels('2026-10-24T22:00:00Z', '2026-10-25T04:00:00Z', 'Europe/Berlin'), ['25 Oct', '01:00', '02:00 CEST', '02:00 CET', '03:00', '04:00', '05:00']);
});

test('ticks increase, stay in the period and read differently, for any span up to years (property)', async () => {
  const fc = (await import('fast-check')).default;
  const zone = fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Pacific/Chatham');
  const span = fc.oneof(
    fc.integer({ min: 2, max: 5 * SECOND }),
    fc.integer({ min: 5 * SECOND, max: 2 * HOUR }),
    fc.integer({ min: 2 * HOUR, max: 10 * DAY }),
    fc.integer({ min: 10 * DAY, max: 800 * DAY }),
  );
  const start = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) });
  fc.assert(
    fc.property(start, span, zone, (from, length, tz) => {
      const to = from + length;
      const ticks = axis(from, to, tz);
      const g = chartGeometry(stats(from, to), explicitPeriod(from, to, tz));
      assert.ok(g);
      assert.ok(ticks.length >= 2 && ticks.length <= 8, `${ticks.length} ticks`);
      for (let i = 0; i < ticks.length; i++) {
        assert.ok(ticks[i].x >= g.plot.x - 1e-9 && ticks[i].x <= g.plot.x + g.plot.w + 1e-9, 'inside the plot');
        if (i > 0) assert.ok(ticks[i].x > ticks[i - 1].x, 'increasing');
      }
      assert.equal(new Set(ticks.map((t) => t.label)).size, ticks.length, ticks.map((t) => t.label).join(', '));
    }),
    { numRuns: 300, seed: 20261205 },
  );
});
