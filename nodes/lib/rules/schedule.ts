/**
 * Recurring weekly windows in a named time zone ("mon-fri 08:00-18:00 in
 * Europe/Berlin"). Local time comes from Intl, so DST changes are handled the
 * way the clocks on the wall handle them: a window from 02:00 on the night the
 * clocks skip that hour is simply shorter.
 */
import type { Day, TimeWindow } from './types';

const DAY_INDEX: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const DAY_NAMES: Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local day of the week (0 = Monday) and minute of the day at ts. */
export function localTime(ts: number, timeZone: string): { day: number; minute: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(ts)) {
    if (p.type === 'weekday') day = DAY_INDEX[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day, minute: hour * 60 + minute };
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

interface CompiledWindow {
  days: boolean[];
  from: number;
  to: number;
}

/** Answers "is ts inside one of the windows?", remembering the answer for the current minute. */
export class WeeklyWindows {
  private readonly windows: CompiledWindow[];
  private cachedMinute = NaN;
  private cached = false;

  constructor(windows: TimeWindow[], private readonly timeZone: string) {
    this.windows = windows.map((w) => ({ days: DAY_NAMES.map((d) => w.days.includes(d)), from: minutes(w.from), to: minutes(w.to) }));
  }

  contains(ts: number): boolean {
    const minute = Math.floor(ts / 60_000);
    if (minute === this.cachedMinute) return this.cached;
    const { day, minute: m } = localTime(ts, this.timeZone);
    const prev = (day + 6) % 7;
    let inside = false;
    for (const w of this.windows) {
      if (w.from < w.to) inside = w.days[day] && m >= w.from && m < w.to;
      // Crosses midnight: the part after midnight belongs to the day the window started.
      else inside = (w.days[day] && m >= w.from) || (w.days[prev] && m < w.to);
      if (inside) break;
    }
    this.cachedMinute = minute;
    this.cached = inside;
    return inside;
  }
}
