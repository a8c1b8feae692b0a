/**
 * Report periods in a named time zone: calendar-aligned (the previous hour,
 * day, ISO week or month before a moment) or rolling (the 24 hours, 7 days or
 * one month up to it). Calendar arithmetic is luxon's, so DST days are 23 or
 * 25 hours long and months end where they end.
 */
import type { DateTime } from 'luxon';
import { BadParameterError, ConfigError } from '../errors';
import { parseTime } from '../api/params';
import { zoneAbbreviation } from '../zone-name';

export const PERIOD_KINDS = ['previous-hour', 'previous-day', 'previous-week', 'previous-month', 'last-24h', 'last-7d', 'last-month'] as const;
export type PeriodKind = (typeof PERIOD_KINDS)[number];

export interface Period {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  timezone: string;
  /** Names the period uniquely for one report: marks and file names use it ("2026-10-05", "2026-W41", "2026-10"). */
  key: string;
  /** For people: "Mon 5 Oct 2026", "Week 41 2026", "October 2026". */
  label: string;
}

let luxonModule: typeof import('luxon') | undefined;
/** luxon, loaded with the first period: ~1 MB of heap a runtime without reports or invoices does not need. */
export function luxon(): typeof import('luxon') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (luxonModule ??= require('luxon') as typeof import('luxon'));
}

export function checkZone(zone: string, path = 'timezone'): string {
  if (typeof zone !== 'string' || !luxon().IANAZone.isValidZone(zone)) {
    throw new ConfigError(`${path} must be an IANA time zone such as "Europe/Berlin" or "UTC", got ${JSON.stringify(zone)}`, { path });
  }
  return zone;
}

function local(ms: number, zone: string): DateTime {
  return luxon().DateTime.fromMillis(ms, { zone });
}

/** The length of the finest field `format` shows, as luxon writes them: "S" milliseconds, "s" seconds, "m" minutes, "H" hours. */
function finestMs(format: string): number {
  const fields = format.replace(/'[^']*'/g, '');
  if (fields.includes('S')) return 1;
  if (fields.includes('s')) return 1000;
  if (fields.includes('m')) return 60_000;
  return fields.includes('H') ? 3_600_000 : 86_400_000;
}

/** How far apart a time the clock shows twice can be: clocks go back by an hour, or by 30 minutes (Lord Howe). */
const BACK_MS = [-3_600_000, -1_800_000];
const ON_MS = [1_800_000, 3_600_000, 5_400_000];

/**
 * Which time round the clock of `zone` shows `ms` in `format` where it shows it twice (the hour the clocks go
 * back): 2 when it showed the same text 30 or 60 minutes earlier, 1 when it shows it again later; undefined where
 * it shows it once. `ms` starts the finest field of `format` or lies in it (a time printed to the minute, an hour
 * start for "HH"): looking ahead starts a whole field on, where a clock that never moves shows another text.
 * The one check for every time printed with its zone's name and every key with its offset.
 */
export function repeatPass(ms: number, zone: string, format = 'HH:mm'): 1 | 2 | undefined {
  const text = localText(ms, zone, format);
  if (BACK_MS.some((d) => localText(ms + d, zone, format) === text)) return 2;
  const field = finestMs(format);
  return ON_MS.some((d) => d >= field && localText(ms + d, zone, format) === text) ? 1 : undefined;
}

/** Whether the clock of `zone` shows `ms` in `format` twice: a time in the hour the clocks go back. */
export function shownTwice(ms: number, zone: string, format: string): boolean {
  return repeatPass(ms, zone, format) !== undefined;
}

/**
 * "2026-10-25 02:30" in `format` on the clock of `zone`, "2026-10-25 02:30 CEST" where the clock shows it twice,
 * so the two can be told apart (the offset in a zone without a common name: "GMT-3").
 */
export function clockTime(ms: number, zone: string, format: string): string {
  const text = localText(ms, zone, format);
  return shownTwice(ms, zone, format) ? `${text} ${zoneAbbreviation(ms, zone)}` : text;
}

/** "25 Oct 2026 02:30" for people, "… 02:30 CEST" where the clock shows it twice (keys stay as `compact` has them). */
function labelTime(dt: DateTime, format = 'd LLL yyyy HH:mm'): string {
  return clockTime(dt.toMillis(), dt.zoneName ?? 'UTC', format);
}

/**
 * "20261025T0230" for keys; a time in the second pass of the hour the clocks go back carries its offset,
 * "20261025T0230+0100", so its report is not taken for the one of the first pass. Every other key is as it was.
 */
function compact(dt: DateTime): string {
  const text = dt.toFormat("yyyyLLdd'T'HHmm");
  return repeatPass(dt.toMillis(), dt.zoneName ?? 'UTC') === 2 ? `${text}${dt.toFormat('ZZZ')}` : text;
}

function span(from: DateTime, to: DateTime, zone: string, key: string, label: string): Period {
  return { from: from.toMillis(), to: to.toMillis(), timezone: zone, key, label };
}

/**
 * The start of the day, week or month before the one starting at `start`. Where the clocks go forward at midnight
 * (Africa/Cairo, America/Santiago), a day starts at 01:00, and luxon's calendar arithmetic keeps that time of day:
 * the day before would start at its 01:00 and lose its first hour to no period at all. Its own start is its midnight.
 */
function dayBefore(start: DateTime, unit: 'day' | 'week' | 'month', back: { days?: number; weeks?: number; months?: number }): DateTime {
  return start.minus(back).startOf(unit);
}

/** The period of `kind` that a run at `at` (epoch ms) reports on. */
export function periodAt(kind: PeriodKind, at: number, zone: string): Period {
  checkZone(zone);
  const now = local(at, zone);
  switch (kind) {
    case 'previous-hour': {
      const to = now.startOf('hour');
      const from = to.minus({ hours: 1 });
      const hour = from.toFormat("yyyy-LL-dd'T'HH");
      if (!shownTwice(from.toMillis(), zone, 'HH')) return span(from, to, zone, hour, `${from.toFormat('ccc d LLL yyyy HH:mm')} – ${to.toFormat('HH:mm')}`);
      // Where the clocks go back, the hour comes twice ("02:00 – 03:00" in CEST, then in CET): its offset makes
      // each its own period in the key, otherwise the schedule's marks would take the second for the first, never
      // reported. People read the zone's own names ("02:00 CEST – 02:00 CET"), the offset where it has none.
      const name = (t: DateTime) => `${t.toFormat('HH:mm')} ${zoneAbbreviation(t.toMillis(), zone)}`;
      return span(from, to, zone, `${hour}${from.toFormat('ZZZ')}`, `${from.toFormat('ccc d LLL yyyy')} ${name(from)} – ${name(to)}`);
    }
    case 'previous-day': {
      const to = now.startOf('day');
      const from = dayBefore(to, 'day', { days: 1 });
      return span(from, to, zone, from.toFormat('yyyy-LL-dd'), from.toFormat('ccc d LLL yyyy'));
    }
    case 'previous-week': {
      const to = now.startOf('week');
      const from = dayBefore(to, 'week', { weeks: 1 });
      return span(from, to, zone, from.toFormat("kkkk-'W'WW"), `Week ${from.weekNumber} ${from.weekYear} (${from.toFormat('d LLL')} – ${to.minus({ days: 1 }).toFormat('d LLL yyyy')})`);
    }
    case 'previous-month': {
      const to = now.startOf('month');
      const from = dayBefore(to, 'month', { months: 1 });
      return span(from, to, zone, from.toFormat('yyyy-LL'), from.toFormat('LLLL yyyy'));
    }
    case 'last-24h':
    case 'last-7d':
    case 'last-month': {
      const to = now.startOf('minute');
      const from = kind === 'last-24h' ? to.minus({ hours: 24 }) : kind === 'last-7d' ? to.minus({ days: 7 }) : to.minus({ months: 1 });
      return span(from, to, zone, `${kind}-${compact(to)}`, `${labelTime(from)} – ${labelTime(to)}`);
    }
    default:
      throw new ConfigError(`period must be one of ${PERIOD_KINDS.join(', ')}, got ${JSON.stringify(kind)}`, { path: 'period' });
  }
}

/** The calendar month "2026-10" in a zone, as an invoice period. */
export function monthPeriod(text: string, zone: string, parameter = 'period'): Period {
  checkZone(zone);
  const m = /^(\d{4})-(\d{2})$/.exec(typeof text === 'string' ? text.trim() : '');
  const month = m ? Number(m[2]) : 0;
  if (!m || month < 1 || month > 12) throw new BadParameterError(parameter, `"${parameter}" must be a month written YYYY-MM, e.g. "2026-10", got ${JSON.stringify(text)}`);
  const from = luxon().DateTime.fromObject({ year: Number(m[1]), month, day: 1 }, { zone });
  // A month whose 1st has no midnight starts at its first moment (01:00); the next one still starts at its own.
  const to = from.plus({ months: 1 }).startOf('month');
  return span(from, to, zone, from.toFormat('yyyy-LL'), from.toFormat('LLLL yyyy'));
}

/** A date, or a date and time, without an offset. */
const WALL_CLOCK = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)?$/;

/**
 * The `from` or `to` of a report run: "2026-10-01" or "2026-10-01T06:00" is that wall-clock time in the
 * report's zone (a report of Berlin's 1 October starts at its midnight, not at UTC's); an epoch time and ISO 8601
 * with an offset are that instant.
 */
export function periodTime(name: string, value: string, zone: string): number {
  const text = value.trim();
  if (!WALL_CLOCK.test(text)) return parseTime(name, text);
  checkZone(zone);
  const t = luxon().DateTime.fromISO(text.replace(' ', 'T'), { zone });
  if (!t.isValid) throw new BadParameterError(name, `"${name}" must be ISO 8601 or an epoch time (seconds, milliseconds, microseconds or nanoseconds), got ${JSON.stringify(text.slice(0, 40))}`);
  const wall = text.replace(' ', 'T');
  // luxon moves a time the clocks skip on by the gap (02:30 becomes 03:30 where they go from 02:00 to 03:00), which
  // would report on another time than asked, or answer "to must be after from" for 02:30 – 03:30. A day's start is
  // its first moment, midnight or not, so a date (or 00:00) stands for it even on a day that begins at 01:00; 24:00 is
  // ISO 8601's end of a day, the next one's start.
  const dayEdge = /T(00|24):00(?::00(?:\.0{1,3})?)?$/.test(wall);
  if (!dayEdge && wall.includes('T') && t.toFormat("yyyy-LL-dd'T'HH:mm") !== wall.slice(0, 16)) {
    throw new BadParameterError(name, `"${name}" ${wall.slice(0, 16).replace('T', ' ')} is not a time in ${zone}: ${skipped(t.toMillis(), zone)}; give a time outside that gap, or one with an offset`);
  }
  return t.toMillis();
}

/**
 * "the clocks go forward from 02:00 to 03:00 (CET to CEST) that night": the gap a skipped wall-clock time falls in.
 * `ms` is where luxon put that time, just after the change; the change is found by halving within the 3 hours before.
 */
function skipped(ms: number, zone: string): string {
  const offset = (t: number) => local(t, zone).offset;
  let lo = ms - 3 * 3_600_000;
  let hi = ms;
  if (offset(lo) === offset(hi)) return 'its clocks skip that time';
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offset(mid) === offset(hi)) hi = mid;
    else lo = mid;
  }
  const change = Math.floor(hi / 60_000) * 60_000;
  const { DateTime, FixedOffsetZone } = luxon();
  // The moment of the change on the clock before it (02:00) and after it (03:00).
  const from = DateTime.fromMillis(change, { zone: FixedOffsetZone.instance(offset(change - 1)) }).toFormat('HH:mm');
  const to = local(change, zone).toFormat('HH:mm');
  return `its clocks go forward from ${from} to ${to} that day (${zoneAbbreviation(change - 1, zone)} to ${zoneAbbreviation(change, zone)})`;
}

/** An explicit range; the key names both ends in the zone's local time. */
export function explicitPeriod(from: number, to: number, zone: string): Period {
  checkZone(zone);
  if (!(to > from)) throw new BadParameterError('to', `"to" must be after "from"`);
  const a = local(from, zone);
  const b = local(to, zone);
  return span(a, b, zone, `${compact(a)}-${compact(b)}`, `${labelTime(a)} – ${labelTime(b)}`);
}

/** "2026-10-05T06:00:00+02:00" in the period's zone, for file contents. */
export function localIso(ms: number, zone: string): string {
  return local(ms, zone).toISO({ suppressMilliseconds: true }) ?? new Date(ms).toISOString();
}

/**
 * "2026-11-01 00:00 Europe/Berlin (2026-10-31T23:00Z)": an instant in a message to the operator, on the clock of the
 * zone they configured, with the UTC instant for logs and programs (seconds shown when the instant has them).
 */
export function zoneTimeText(ms: number, zone: string): string {
  const seconds = ms % 60_000 !== 0;
  const text = `${clockTime(ms, zone, seconds ? 'yyyy-LL-dd HH:mm:ss' : 'yyyy-LL-dd HH:mm')} ${zone}`;
  if (zone === 'UTC') return text;
  return `${text} (${new Date(ms).toISOString().slice(0, seconds ? 19 : 16)}Z)`;
}

export function localText(ms: number, zone: string, format = 'yyyy-LL-dd HH:mm'): string {
  return local(ms, zone).toFormat(format);
}
