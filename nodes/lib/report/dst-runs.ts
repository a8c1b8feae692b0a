/**
 * Runs around a DST change that node-cron leaves out. Where the clocks go forward it does not run a time they skip
 * (02:30 on the day Berlin goes from 02:00 to 03:00, midnight on the day Santiago goes from 00:00 to 01:00) at all
 * that day, so a daily report at 02:30 would be a day late and a rolling one never produced; where they go back it
 * runs a time of the hour that comes twice once, which an hourly schedule needs twice, and in the second pass east of
 * UTC (Berlin) but the first west of it (New York). cron (Vixie cron, cronie) runs a job whose time was skipped once,
 * at the first moment after the change, and a job in the hour that comes twice once, in its first pass; a job whose
 * minute or hour is `*` (every hour, every 15 minutes) runs by the clock that passes: its skipped times are not made
 * up, and it runs in both passes of the hour that comes twice. The schedule does the same.
 */
import { luxon } from './period';

const MINUTE = 60_000;
const HOUR = 3_600_000;

export interface OffsetChange {
  /** The first instant on the new offset, epoch ms. */
  at: number;
  /** The UTC offsets before and after, ms. */
  before: number;
  after: number;
}

/** The moments in (after, until] where the clocks of `zone` change. */
export function offsetChanges(zone: string, after: number, until: number): OffsetChange[] {
  const z = luxon().IANAZone.create(zone);
  const offset = (t: number) => z.offset(t) * MINUTE;
  const out: OffsetChange[] = [];
  // Offsets change months apart: an hourly look finds each change, then halving finds its minute.
  let prev = Math.floor(after / HOUR) * HOUR;
  let before = offset(prev);
  for (let t = prev + HOUR; t < until + HOUR; t += HOUR) {
    const now = offset(t);
    if (now !== before) {
      let lo = prev;
      let hi = t;
      while (hi - lo > MINUTE) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
        if (offset(mid) === before) lo = mid;
        else hi = mid;
      }
      if (hi > after && hi <= until) out.push({ at: hi, before, after: now });
    }
    prev = t;
    before = now;
  }
  return out;
}

/** Whether the expression names its run times: neither its minute nor its hour is `*` or `*\/n`. */
export function namesItsTimes(expression: string): boolean {
  const [minute = '*', hour = '*'] = expression.trim().split(/\s+/);
  return !minute.startsWith('*') && !hour.startsWith('*');
}

export interface ChangeRuns {
  /** Runs node-cron may leave out, ascending. */
  runs: number[];
  /** Second passes of a named time in the hour that comes twice: node-cron may run them, cron does not. */
  repeats: number[];
}

/**
 * The runs in (after, until] around a change that node-cron leaves out or puts elsewhere: for a job that names its
 * times, the first moment after each change that skipped one of them, and the first pass of each of them in the hour
 * that comes twice (the second is in `repeats`); for a job by the clock, both passes of its times in that hour
 * (node-cron runs one of them). `matchesWall` is given a wall-clock time as epoch ms of its numbers in UTC.
 */
export function changeRuns(expression: string, zone: string, after: number, until: number, matchesWall: (wall: number) => boolean): ChangeRuns {
  const fixed = namesItsTimes(expression);
  const out = new Set<number>();
  const repeats = new Set<number>();
  // The hour that comes twice starts up to its length before the change: look that far back.
  for (const c of offsetChanges(zone, after - 3 * HOUR, until + 3 * HOUR)) {
    if (c.after > c.before && fixed) {
      for (let w = c.at + c.before; w < c.at + c.after; w += MINUTE) {
        if (matchesWall(w)) {
          out.add(c.at);
          break;
        }
      }
    } else if (c.after < c.before) {
      for (let w = c.at + c.after; w < c.at + c.before; w += MINUTE) {
        if (matchesWall(w)) {
          out.add(w - c.before);
          if (fixed) repeats.add(w - c.after);
          else out.add(w - c.after);
        }
      }
    }
  }
  const inRange = (set: Set<number>) => [...set].filter((t) => t > after && t <= until).sort((a, b) => a - b);
  return { runs: inRange(out), repeats: inRange(repeats) };
}
