/** Timestamps as devices send them (ISO 8601, epoch s / ms / µs / ns) turned into epoch milliseconds. */
import { ConfigError, InvalidReadingError, TimestampOutOfRangeError } from './errors';

// Epoch seconds below this are taken as seconds (until year 2286 in ms terms, 1e11 s
// is year 5138), epoch values above as milliseconds; above 1e14 as micro/nanoseconds.
const SECONDS_LIMIT = 1e11;
/** The last epoch millisecond a Date (and the store) holds. */
export const MAX_DATE_MS = 8.64e15;

/** How far past its arrival a reading's time may be by default: a day covers any clock drift and time zone slip. */
export const DEFAULT_MAX_AHEAD_SECONDS = 86_400;
/** The most the setting takes: about 100 years, past which a bound stops meaning anything. */
const MAX_AHEAD_SECONDS = 3_153_600_000;
let maxAheadMs = DEFAULT_MAX_AHEAD_SECONDS * 1000;

/**
 * Sets how far past its arrival a reading's time may be, in seconds, for the whole process (the runtime's
 * upperstack.maxAheadSeconds setting); 0 takes any time. Every input judges with it, and it holds for the
 * receive time, not the moment of judging, so a journal replay or a dead-letter replay meets the same answer.
 * Undefined or "" restores the default; anything else out of range is a ConfigError and changes nothing.
 */
export function setMaxAheadSeconds(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') {
    maxAheadMs = DEFAULT_MAX_AHEAD_SECONDS * 1000;
    return DEFAULT_MAX_AHEAD_SECONDS;
  }
  const v = Number(raw);
  if (typeof raw === 'boolean' || !Number.isInteger(v) || v < 0 || v > MAX_AHEAD_SECONDS) {
    const got = typeof raw === 'string' || typeof raw === 'number' ? JSON.stringify(raw) : typeof raw;
    throw new ConfigError(`maxAheadSeconds must be a whole number of seconds from 0 (no bound) to ${MAX_AHEAD_SECONDS}, got ${got}`, { setting: 'maxAheadSeconds' });
  }
  maxAheadMs = v === 0 ? Infinity : v * 1000;
  return v;
}

/** True when a reading's time `ts` is within the bound past its arrival (a receive time that is no time bounds nothing). */
export function timeInRange(ts: number, receivedAt: number): boolean {
  return !(ts > receivedAt + maxAheadMs);
}

/** Throws TimestampOutOfRangeError when `ts` is further past `receivedAt` than the bound; `path` names the time's member. */
export function checkTimeInRange(ts: number, receivedAt: number, path: string): void {
  const err = timeOutOfRange(ts, receivedAt, path);
  if (err) throw err;
}

/** The TimestampOutOfRangeError for `ts` when it is further past `receivedAt` than the bound, else undefined. */
export function timeOutOfRange(ts: number, receivedAt: number, path: string): TimestampOutOfRangeError | undefined {
  return timeInRange(ts, receivedAt) ? undefined : new TimestampOutOfRangeError({ path, ts, bound: receivedAt + maxAheadMs, aheadMs: maxAheadMs });
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * A Reading's time as JSON that parseTimestamp reads back as the same millisecond: the number while it
 * is read as milliseconds, else ISO 8601 (a number before March 1973 is read as seconds, one before 1970
 * refused, one past year 5138 read as microseconds). Years past 9999 have no ISO form it reads: as they are.
 */
export function timeAsJson(ts: number): number | string {
  if (ts >= SECONDS_LIMIT && ts < 1e14) return ts;
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  const iso = d.toISOString();
  return /^\d{4}-/.test(iso) ? iso : ts;
}

/** Parses ISO 8601 or epoch s / ms / µs / ns into epoch milliseconds. */
export function parseTimestamp(value: unknown, path = 'ts'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidReadingError(`${path} must be a finite epoch time, got ${value}`, { path });
    // Before 1970 is negative; its unit is told by its size, as for a time after 1970.
    const size = Math.abs(value);
    let ms: number;
    if (size < SECONDS_LIMIT) ms = Math.round(value * 1000);
    else if (size < 1e14) ms = Math.round(value);
    else if (size < 1e17) ms = Math.round(value / 1000);
    else {
      ms = Math.round(value / 1e6);
      // Said here, in the unit it was read in: the schema's bound would name only the scaled value.
      if (Math.abs(ms) > MAX_DATE_MS) throw new InvalidReadingError(`${path} ${value} read as epoch nanoseconds is ${value < 0 ? 'before the first date there is (-271821-04-20)' : 'past the last date there is (+275760-09-13)'}`, { path });
    }
    // -0 (a negative time rounded to zero) is stored as 0.
    return ms === 0 ? 0 : ms;
  }
  if (typeof value === 'bigint') return parseTimestamp(Number(value), path);
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (/^-?\d+(\.\d+)?$/.test(trimmed)) return parseTimestamp(Number(trimmed), path);
    // Only accept full ISO 8601 date-times; Date.parse alone is too lenient.
    const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(trimmed);
    if (iso) {
      // Date.parse rolls a day the month does not have over into the next month (2026-02-30 is
      // 2 March): a device clock that wrote such a date is wrong, and storing it elsewhere hides that.
      const day = Number(trimmed.slice(8, 10));
      if (day > daysInMonth(Number(trimmed.slice(0, 4)), Number(trimmed.slice(5, 7)))) {
        throw new InvalidReadingError(`${path} "${value.slice(0, 40)}" is not a date: month ${trimmed.slice(5, 7)} of ${trimmed.slice(0, 4)} has no day ${day}`, { path });
      }
      // Without an offset the time is UTC, as in the query API, never the server's zone.
      const ms = Date.parse(iso[1] && !iso[4] ? `${trimmed.replace(' ', 'T')}Z` : trimmed);
      if (!Number.isNaN(ms)) return ms;
    }
    throw new InvalidReadingError(`${path} "${value.slice(0, 40)}" is not ISO 8601 or epoch time`, { path });
  }
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
  throw new InvalidReadingError(`${path} must be ISO 8601 text or epoch number, got ${typeof value}`, { path });
}
