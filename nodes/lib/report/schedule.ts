/**
 * Runs a report (or invoice run) on a node-cron schedule in a named time zone,
 * producing each period exactly once:
 * - every produced period is recorded in a marks file (atomically replaced),
 *   so a restart or a second trigger never produces it again;
 * - at start, and at every scheduled run, the periods since the previous
 *   scheduled run's period that were not produced are produced, oldest first
 *   (the runtime was down at 06:00, or a DST change skipped the run time),
 *   at most `catchUp` of them;
 * - a period whose run failed is kept and tried again at every run until produced;
 * - the first start of a new schedule produces nothing until its first run time;
 * - around a DST change it runs as cron does (`dst-runs.ts`): a time the clocks skip once, at the first moment
 *   after the change; a named time in the hour that comes twice once, in its first pass; an hourly schedule in both
 *   passes of that hour; and a run whose timer comes late (a busy or suspended process) still runs, rather than waiting for the next one.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ScheduledTask } from 'node-cron';
import { ConfigError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { checkZone, periodAt, type Period, type PeriodKind } from './period';
import { changeRuns, type ChangeRuns } from './dst-runs';

export const PRESETS = ['hourly', 'daily', 'weekly', 'monthly', 'cron'] as const;
export type Preset = (typeof PRESETS)[number];

/** The cron expression of a preset at a time of day "HH:MM" (hourly: at minute MM). */
export function cronOf(preset: Preset, at: string, expression: string): string {
  if (preset === 'cron') return checkCron(expression);
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(at);
  if (!m) throw new ConfigError(`time must be HH:MM (24 hours), e.g. 06:00, got ${JSON.stringify(at)}`, { path: 'at' });
  const [h, min] = [Number(m[1]), Number(m[2])];
  switch (preset) {
    case 'hourly':
      return `${min} * * * *`;
    case 'daily':
      return `${min} ${h} * * *`;
    case 'weekly':
      return `${min} ${h} * * 1`;
    case 'monthly':
      return `${min} ${h} 1 * *`;
    default:
      throw new ConfigError(`schedule must be one of ${PRESETS.join(', ')}, got ${JSON.stringify(preset)}`, { path: 'schedule' });
  }
}

type NodeCron = typeof import('node-cron').default;
let nodeCron: NodeCron | undefined;
/** node-cron, loaded with the first schedule or check: a runtime without reports does not hold it. */
function cron(): NodeCron {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (nodeCron ??= (require('node-cron') as typeof import('node-cron')).default);
}

/** A five-field cron expression (minute hour day-of-month month day-of-week), checked by node-cron. */
export function checkCron(expression: string): string {
  const e = typeof expression === 'string' ? expression.trim().replace(/\s+/g, ' ') : '';
  if (e.split(' ').length !== 5) {
    throw new ConfigError(`cron expression must have five fields (minute hour day month weekday), e.g. "0 6 * * 1-5", got ${JSON.stringify(expression)}`, { path: 'cron' });
  }
  const v = cron().validateDetailed(e);
  if (!v.valid) throw new ConfigError(`cron expression ${JSON.stringify(e)}: ${v.errors.map((x) => x.message).join('; ')}`, { path: 'cron' });
  return e;
}

/**
 * Fire times of a five-field expression in (after, until], ascending, at most
 * the last `max`. A zone's offset is a multiple of 15 minutes, so only the UTC
 * minutes that can be a matching local minute are tested.
 */
export function slotsBetween(expression: string, timezone: string, after: number, until: number, max = 1000): number[] {
  const task = cron().createTask(expression, () => undefined, { timezone });
  // The same expression read on a clock that never changes: whether a wall-clock time the zone skips is a run time.
  const wall = cron().createTask(expression, () => undefined, { timezone: 'UTC' });
  try {
    const minutes = cron().parse(expression).minute;
    const utcMinutes = new Set<number>();
    for (const m of minutes) for (const k of [0, 15, 30, 45]) utcMinutes.add((m - k + 60) % 60);
    const sorted = [...utcMinutes].sort((a, b) => a - b);
    const out: number[] = [];
    const HOUR = 3_600_000;
    for (let h = Math.floor(after / HOUR) * HOUR; h <= until; h += HOUR) {
      for (const m of sorted) {
        const t = h + m * 60_000;
        if (t <= after || t > until) continue;
        if (task.match(new Date(t))) {
          out.push(t);
          if (out.length > max) out.shift();
        }
      }
    }
    const change = changeRuns(expression, timezone, after, until, (w) => wall.match(new Date(w)));
    if (!change.runs.length && !change.repeats.length) return out;
    const repeats = new Set(change.repeats);
    return [...new Set([...out.filter((t) => !repeats.has(t)), ...change.runs])].sort((a, b) => a - b).slice(-max);
  } finally {
    void task.destroy();
    void wall.destroy();
  }
}

/** The runs in (after, until] node-cron leaves out around a DST change, and the second passes it must not run. */
function changeRunsOf(expression: string, timezone: string, after: number, until: number): ChangeRuns {
  const wall = cron().createTask(expression, () => undefined, { timezone: 'UTC' });
  try {
    return changeRuns(expression, timezone, after, until, (w) => wall.match(new Date(w)));
  } finally {
    void wall.destroy();
  }
}

interface MarksFile {
  /** The last scheduled run time handled, epoch ms. */
  lastSlot?: number;
  /** Period key → when it was produced and its id. */
  produced: Record<string, { at: number; id: string }>;
  /** Periods whose run failed: retried at every run until produced. */
  pending?: Record<string, Period>;
}

const MAX_MARKS = 2000;

/** Which periods of a report were produced, kept in one JSON file. */
export class Marks {
  private data: MarksFile;

  constructor(readonly path: string) {
    try {
      const raw = JSON.parse(readFileSync(path, 'utf8')) as MarksFile;
      const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
      this.data = { lastSlot: typeof raw.lastSlot === 'number' ? raw.lastSlot : undefined, produced: obj(raw.produced) as MarksFile['produced'], pending: obj(raw.pending) as Record<string, Period> };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read the schedule marks ${path}: ${(err as Error).message}`, { path });
      this.data = { produced: {} };
    }
  }

  get lastSlot(): number | undefined {
    return this.data.lastSlot;
  }

  produced(key: string): { at: number; id: string } | undefined {
    return Object.prototype.hasOwnProperty.call(this.data.produced, key) ? this.data.produced[key] : undefined;
  }

  /** Failed periods still to produce, oldest first. */
  pending(): Period[] {
    return Object.values(this.data.pending ?? {}).sort((a, b) => a.from - b.from);
  }

  fail(p: Period, max: number): void {
    const pending = (this.data.pending ??= {});
    pending[p.key] = p;
    const keys = Object.keys(pending).sort((a, b) => pending[a].from - pending[b].from);
    for (const k of keys.slice(0, Math.max(0, keys.length - max))) delete pending[k];
    this.save();
  }

  mark(key: string, id: string, at: number): void {
    this.data.produced[key] = { at, id };
    if (this.data.pending) delete this.data.pending[key];
    const keys = Object.keys(this.data.produced);
    if (keys.length > MAX_MARKS) {
      keys.sort((a, b) => this.data.produced[a].at - this.data.produced[b].at);
      for (const k of keys.slice(0, keys.length - MAX_MARKS)) delete this.data.produced[k];
    }
    this.save();
  }

  setLastSlot(slot: number): void {
    if (this.data.lastSlot !== undefined && slot <= this.data.lastSlot) return;
    this.data.lastSlot = slot;
    this.save();
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    // Fsynced with its rename: after a power loss, a period marked produced must not be produced again.
    writeFileAtomic(this.path, JSON.stringify(this.data));
  }
}

export interface ScheduleOptions {
  expression: string;
  timezone: string;
  period: PeriodKind;
  marks: Marks;
  /** Produces the period; resolves with the id of what it produced. */
  produce: (period: Period, slot: number) => Promise<string>;
  /** Most missed periods produced at once (default 31). */
  catchUp?: number;
  onError?: (err: Error, period: Period) => void;
  /**
   * A run time that passed while the process was busy or suspended, epoch ms; its period is produced by the run
   * that follows. Without it the line goes nowhere: node-cron would otherwise write it to the console.
   */
  onMissed?: (slot: number) => void;
  /** Epoch ms now; tests move time with mock timers, which this follows. */
  now?: () => number;
}

const CALENDAR = new Set<PeriodKind>(['previous-hour', 'previous-day', 'previous-week', 'previous-month']);
const HOUR_MS = 3_600_000;
/** The longest each calendar period can be (DST days have 25 hours). */
const NOMINAL_MS = { 'previous-hour': HOUR_MS, 'previous-day': 25 * HOUR_MS, 'previous-week': 169 * HOUR_MS, 'previous-month': 745 * HOUR_MS };

/** The longest a timer can wait (setTimeout's limit, about 24.8 days): a later run is waited for in steps. */
const MAX_WAIT_MS = 2 ** 31 - 1;
/** How far ahead a run the clocks skip is looked for when the schedule has no next run (a month and a day). */
const LOOK_AHEAD_MS = 32 * 24 * HOUR_MS;

export class ReportSchedule {
  private task?: ScheduledTask;
  /** The next run node-cron leaves out around a DST change (`dst-runs.ts`), and the timer that runs it. */
  private extra?: { at: number; timer: ReturnType<typeof setTimeout> };
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private everyPeriod?: boolean;
  /** The run time last started. */
  private enqueued?: number;
  readonly expression: string;

  constructor(private readonly o: ScheduleOptions) {
    this.expression = checkCron(o.expression);
    checkZone(o.timezone);
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  /** Produces what was missed while stopped, then follows the schedule. */
  start(): void {
    this.stopped = false;
    // node-cron skips a run whose timer fires over a second late (its default tolerance); a report is late, never skipped.
    this.task = cron().schedule(this.expression, (ctx) => this.onCron(ctx.date.getTime()), { timezone: this.o.timezone, missedExecutionTolerance: Number.MAX_SAFE_INTEGER });
    // node-cron writes a missed run to the console unless the task has a listener for it.
    this.task.on('execution:missed', (ctx) => this.o.onMissed?.(ctx.date.getTime()));
    this.armExtra();
    const now = this.now();
    const last = this.o.marks.lastSlot;
    if (last === undefined) this.o.marks.setLastSlot(now);
    else {
      const slots = slotsBetween(this.expression, this.o.timezone, last, now, 1);
      if (slots.length) this.enqueue(slots[slots.length - 1]);
    }
  }

  /** The next scheduled run, epoch ms. */
  next(): number | undefined {
    const next = this.task?.getNextRun()?.getTime();
    return this.extra && (next === undefined || this.extra.at < next) ? this.extra.at : next;
  }

  /** Arms a timer for the next run node-cron leaves out around a DST change, when one comes before its next run. */
  private armExtra(): void {
    if (this.extra) clearTimeout(this.extra.timer);
    this.extra = undefined;
    if (this.stopped || !this.task) return;
    const now = this.now();
    const until = this.task.getNextRun()?.getTime() ?? now + LOOK_AHEAD_MS;
    const at = changeRunsOf(this.expression, this.o.timezone, now, until).runs[0];
    if (at === undefined) return;
    const timer = setTimeout(() => {
      this.extra = undefined;
      if (this.now() < at) this.armExtra();
      else this.enqueue(at);
    }, Math.min(at - now, MAX_WAIT_MS));
    timer.unref?.();
    this.extra = { at, timer };
  }

  /** A run node-cron starts: not the second pass of a named time in the hour that comes twice (cron runs the first). */
  private onCron(slot: number): void {
    if (changeRunsOf(this.expression, this.o.timezone, slot - 1, slot).repeats.includes(slot)) {
      this.armExtra();
      return;
    }
    this.enqueue(slot);
  }

  /** Resolves when every run started so far has finished. */
  idle(): Promise<void> {
    return this.chain;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.extra) clearTimeout(this.extra.timer);
    this.extra = undefined;
    if (this.task) {
      await this.task.stop();
      await this.task.destroy();
      this.task = undefined;
    }
    await this.chain;
  }

  /**
   * Periods a run at `slot` owes: the period of every run time since the
   * previous run (more than this one when the runtime was down), failed ones,
   * and, when runs come at least once per period, every calendar period since
   * the previous run's (a run time that does not exist on a DST day leaves its
   * period without a run of its own). A daily run of an hourly report owes only
   * the hour before it.
   */
  duePeriods(slot: number): Period[] {
    const kind = this.o.period;
    const zone = this.o.timezone;
    const limit = this.o.catchUp ?? 31;
    const last = this.o.marks.lastSlot;
    const slots = last === undefined ? [] : slotsBetween(this.expression, zone, last, slot, limit);
    if (!slots.includes(slot)) slots.push(slot);
    const owed = new Map<string, Period>();
    for (const s of slots) {
      const p = periodAt(kind, s, zone);
      owed.set(p.key, p);
    }
    if (CALENDAR.has(kind) && last !== undefined && this.runsEveryPeriod()) {
      const covered = periodAt(kind, last, zone);
      let p = periodAt(kind, slot, zone);
      while (owed.size < limit) {
        p = periodAt(kind, p.from, zone);
        // The previous run's own period was handled then (produced, or failed and kept as pending).
        if (p.from <= covered.from) break;
        owed.set(p.key, p);
      }
    }
    const due = new Map<string, Period>();
    for (const p of [...this.o.marks.pending(), ...owed.values()]) if (!this.o.marks.produced(p.key)) due.set(p.key, p);
    return [...due.values()].sort((a, b) => a.from - b.from).slice(-limit);
  }

  /** True when the schedule runs at least once per period (its shortest interval is at most a period). */
  private runsEveryPeriod(): boolean {
    if (this.everyPeriod === undefined) {
      const runs = this.task?.getNextRuns(5).map((d) => d.getTime()) ?? [];
      let shortest = Infinity;
      for (let i = 1; i < runs.length; i++) shortest = Math.min(shortest, runs[i] - runs[i - 1]);
      this.everyPeriod = shortest <= NOMINAL_MS[this.o.period as keyof typeof NOMINAL_MS];
    }
    return this.everyPeriod;
  }

  private enqueue(slot: number): void {
    // node-cron and the timer of a run around a DST change can both start the same run (the first pass, west of UTC).
    if (slot === this.enqueued) return;
    this.enqueued = slot;
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      for (const p of this.duePeriods(slot)) {
        if (this.stopped) return;
        try {
          const id = await this.o.produce(p, slot);
          this.o.marks.mark(p.key, id, this.now());
        } catch (err) {
          this.o.marks.fail(p, this.o.catchUp ?? 31);
          this.o.onError?.(err instanceof Error ? err : new Error(String(err)), p);
        }
      }
      this.o.marks.setLastSlot(slot);
      this.armExtra();
    });
  }
}
