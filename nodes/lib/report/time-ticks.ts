/**
 * Ticks for a chart's time axis: a step chosen from the span (milliseconds up
 * to years), ticks on round local times in the report's zone, and labels that
 * say as much as the step needs, so no two ticks read the same.
 */
import type { DateTime } from 'luxon';
import { clockTime, luxon } from './period';

type Unit = 'millisecond' | 'second' | 'minute' | 'hour' | 'day' | 'month' | 'year';

interface Step {
  unit: Unit;
  size: number;
  /** Approximate length in ms, only to pick the step. */
  ms: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MONTH = 30.44 * DAY;
const YEAR = 365.25 * DAY;

/** Sizes divide the next unit up (15 s, 6 h, 3 months), so ticks stay round from one minute, day or year to the next. */
const STEPS: Step[] = [
  ...[1, 2, 5, 10, 20, 50, 100, 200, 500].map((size) => ({ unit: 'millisecond' as const, size, ms: size })),
  ...[1, 2, 5, 10, 15, 30].map((size) => ({ unit: 'second' as const, size, ms: size * SECOND })),
  ...[1, 2, 5, 10, 15, 30].map((size) => ({ unit: 'minute' as const, size, ms: size * MINUTE })),
  ...[1, 2, 3, 6, 12].map((size) => ({ unit: 'hour' as const, size, ms: size * HOUR })),
  ...[1, 2, 7, 14].map((size) => ({ unit: 'day' as const, size, ms: size * DAY })),
  ...[1, 2, 3, 6].map((size) => ({ unit: 'month' as const, size, ms: size * MONTH })),
  ...[1, 2, 5, 10, 20, 50, 100].map((size) => ({ unit: 'year' as const, size, ms: size * YEAR })),
];

/** At most this many intervals: seven labels of 60 points fit under a 560 point plot. */
const MAX_INTERVALS = 6;

/** The unit whose start resets the alignment: ticks every 7 days start again on the 1st. */
const PARENT: Record<Unit, Unit | null> = { millisecond: 'second', second: 'minute', minute: 'hour', hour: 'day', day: 'month', month: 'year', year: null };

function fieldOf(dt: DateTime, unit: Unit): number {
  switch (unit) {
    case 'day':
      return dt.day - 1;
    case 'month':
      return dt.month - 1;
    default:
      return dt[unit];
  }
}

const aligned = (dt: DateTime, step: Step) => fieldOf(dt, step.unit) % step.size === 0;

export function timeStep(span: number): Step {
  return STEPS.find((s) => span / s.ms <= MAX_INTERVALS) ?? STEPS[STEPS.length - 1];
}

/** Units of a day and longer: their steps restart at the parent's start (ticks every 7 days start again on the 1st). */
const CALENDAR = new Set<Unit>(['day', 'month', 'year']);

/**
 * Round local times in [from, to] at the step. Steps shorter than a day go on in real time, so the hour the clocks
 * go back gets its ticks twice (02:00 and 02:30 CEST, then CET), as evenly spaced as any other hour.
 */
function tickTimes(from: number, to: number, zone: string, step: Step): DateTime[] {
  const parent = CALENDAR.has(step.unit) ? PARENT[step.unit] : null;
  const out: DateTime[] = [];
  let dt = luxon().DateTime.fromMillis(from, { zone }).startOf(step.unit);
  if (dt.toMillis() < from) dt = dt.plus({ [step.unit]: 1 });
  while (dt.toMillis() <= to) {
    const next = parent ? dt.startOf(parent).plus({ [parent]: 1 }) : null;
    if (!aligned(dt, step)) {
      // Straight to the next round value (a DST shift may leave it off by an hour: round again), not past the parent's start.
      const v = fieldOf(dt, step.unit);
      const up = dt.plus({ [step.unit]: Math.ceil(v / step.size) * step.size - v });
      dt = next !== null && next < up ? next : up;
      continue;
    }
    // A 7-day step reaches the 29th; the 1st follows two days later and would print over it.
    const crowded = next !== null && next.toMillis() <= to && fieldOf(dt, step.unit) !== 0 && next.toMillis() - dt.toMillis() < step.ms / 2;
    if (!crowded) out.push(dt);
    const jump = dt.plus({ [step.unit]: step.size });
    dt = next !== null && next < jump ? next : jump;
  }
  return out;
}

const TIME_FORMAT: Partial<Record<Unit, string>> = { millisecond: 'HH:mm:ss.SSS', second: 'HH:mm:ss', minute: 'HH:mm', hour: 'HH:mm' };
const DATE_FORMAT: Record<'day' | 'month' | 'year', string> = { day: 'd LLL', month: 'LLL yyyy', year: 'yyyy' };

function labels(times: DateTime[], step: Step): string[] {
  const timeFormat = TIME_FORMAT[step.unit];
  if (timeFormat === undefined) return times.map((t) => t.toFormat(DATE_FORMAT[step.unit as keyof typeof DATE_FORMAT]));
  // Times of day alone; midnight shows its date instead, as the day changes there. A time the clock shows twice
  // (the hour it goes back) carries the zone's name, "02:00 CEST" then "02:00 CET".
  const time = (t: DateTime, format: string) => clockTime(t.toMillis(), t.zoneName ?? 'UTC', format);
  const short = times.map((t) => (t.equals(t.startOf('day')) ? t.toFormat('d LLL') : time(t, timeFormat)));
  if (new Set(short).size === short.length) return short;
  // Ticks over several days repeat times of day (12:00 each day): every label names its day.
  return times.map((t) => time(t, `d LLL ${timeFormat}`));
}

type Ticks = ReadonlyArray<{ readonly ts: number; readonly label: string }>;

/** Every chart of a report has the same period: its ticks are worked out once. */
let last: { from: number; to: number; zone: string; ticks: Ticks } | undefined;

/** Ticks on [from, to] (epoch ms) in `zone`: increasing times, distinct labels. */
export function timeTicks(from: number, to: number, zone: string): Ticks {
  if (last && last.from === from && last.to === to && last.zone === zone) return last.ticks;
  const step = timeStep(to - from);
  const times = tickTimes(from, to, zone, step);
  const text = labels(times, step);
  const ticks = times.map((t, i) => Object.freeze({ ts: t.toMillis(), label: text[i] }));
  last = { from, to, zone, ticks };
  return ticks;
}
