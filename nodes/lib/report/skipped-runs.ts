/**
 * Run times the clocks skip where they go forward (02:30 on the day Berlin goes from 02:00 to 03:00, midnight on
 * the day Santiago goes from 00:00 to 01:00). node-cron does not run such a time at all that day, so a daily
 * report at 02:30 would be a day late and a rolling one never produced. cron (Vixie cron, cronie) runs a job
 * whose time was skipped once, at the first moment after the change; a job whose minute or hour is `*` (every
 * hour, every 15 minutes) runs by the clock and its skipped times are not made up. The schedule does the same.
 */
import { luxon } from './period';

const MINUTE = 60_000;
const HOUR = 3_600_000;

export interface ForwardChange {
  /** The first instant on the new offset, epoch ms. */
  at: number;
  /** The wall-clock times skipped, [from, to), as epoch ms of the same numbers read in UTC. */
  skippedFrom: number;
  skippedTo: number;
}

/** The moments in (after, until] where the clocks of `zone` go forward. */
export function forwardChanges(zone: string, after: number, until: number): ForwardChange[] {
  const z = luxon().IANAZone.create(zone);
  const offset = (t: number) => z.offset(t) * MINUTE;
  const out: ForwardChange[] = [];
  // Offsets change months apart: an hourly look finds each change, then halving finds its minute.
  let prev = Math.floor(after / HOUR) * HOUR;
  let before = offset(prev);
  for (let t = prev + HOUR; t < until + HOUR; t += HOUR) {
    const now = offset(t);
    if (now > before) {
      let lo = prev;
      let hi = t;
      while (hi - lo > MINUTE) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
        if (offset(mid) === before) lo = mid;
        else hi = mid;
      }
      if (hi > after && hi <= until) out.push({ at: hi, skippedFrom: hi + before, skippedTo: hi + now });
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

/**
 * The moments in (after, until] at which a run the clocks skipped is due: the first moment after each change
 * that skipped a wall-clock time `matchesWall` takes (it is given that time as epoch ms of its numbers in UTC).
 */
export function skippedRuns(expression: string, zone: string, after: number, until: number, matchesWall: (wall: number) => boolean): number[] {
  if (!namesItsTimes(expression)) return [];
  const out: number[] = [];
  for (const c of forwardChanges(zone, after, until)) {
    for (let w = c.skippedFrom; w < c.skippedTo; w += MINUTE) {
      if (matchesWall(w)) {
        out.push(c.at);
        break;
      }
    }
  }
  return out;
}
