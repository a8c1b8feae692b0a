/**
 * Stuck sensor: the same value for far longer than the series was ever flat
 * before. Learning the longest normal run keeps quantised or mostly-zero
 * series (a door counter at 0 all night) from alarming.
 */
import { durationWords, withUnit } from '../format';
import { known, num } from '../params';
import { LazyOutcome, type Wording } from '../outcome';
import { ratioScore } from '../stats';
import type { Detector, FieldContext, FlatlineConfig, Outcome } from '../types';

export interface FlatlineSettings {
  tolerance: number;
  minReadings: number;
  factor: number;
  warmup: number;
}

export function flatlineSettings(c: FlatlineConfig): FlatlineSettings {
  known('flatline', c, ['tolerance', 'minReadings', 'factor']);
  return {
    tolerance: num('flatline', 'tolerance', c.tolerance, 0, { min: 0 }),
    minReadings: num('flatline', 'minReadings', c.minReadings, 10, { min: 2, integer: true }),
    factor: num('flatline', 'factor', c.factor, 2, { min: 1 }),
    warmup: num('flatline', 'warmup', c.warmup, 100, { min: 0, integer: true }),
  };
}

export interface FlatlineState {
  seen: number;
  value: number;
  since: number;
  run: number;
  longest: number;
  /** Run length of the next alarm; doubles after each, so a sensor stuck for days alarms a few times, not on every reading. */
  alarmAt: number;
}

export class FlatlineDetector implements Detector {
  readonly type = 'flatline';
  private st: FlatlineState = freshState();
  /** The one outcome this detector sets on every reading, when compiled for the engine (see LazyOutcome). */
  private readonly kept: LazyOutcome<FlatlineWording> | null;

  constructor(private readonly s: FlatlineSettings, state?: FlatlineState, reuse = false) {
    this.kept = reuse ? new LazyOutcome(new FlatlineWording()) : null;
    if (state) this.st = { ...state };
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    const st = this.st;
    if (st.run > 0 && Math.abs(value - st.value) <= this.s.tolerance) {
      st.run++;
    } else {
      if (st.run > st.longest) st.longest = st.run;
      st.value = value;
      st.since = ts;
      st.run = 1;
    }
    // The run being flagged must not count as normal: st.longest only learns it once it ends.
    if (st.run === 1) st.alarmAt = Math.max(this.s.minReadings, this.s.factor * st.longest);
    if (st.seen++ < this.s.warmup) return null;
    // A series that has not changed once since its first reading (a setpoint, a status, a spare channel) has
    // no usual variation to be stuck against: its first run is what it does, not a fault, until it ends.
    const first = st.longest === 0;
    const score = st.run > 1 && !first ? ratioScore(st.run / st.alarmAt) : 0;
    const stuck = !first && st.run >= st.alarmAt;
    if (stuck) st.alarmAt *= 2;
    // Measured against the first alarm level of this run, not the doubled one: the run is no less stuck after an alarm.
    const level = Math.max(this.s.minReadings, this.s.factor * st.longest);
    const o = this.kept ?? new LazyOutcome(new FlatlineWording());
    o.set(score, st.run > 1 && !first ? st.run / level : 0, st.value, st.value - this.s.tolerance, st.value + this.s.tolerance);
    const why = o.why;
    why.stuck = stuck;
    why.value = value;
    why.forMs = ts - st.since;
    why.run = st.run;
    why.longest = st.longest;
    why.past = !first && st.run >= level;
    why.ctx = ctx;
    return o;
  }

  toJSON(): FlatlineState {
    return { ...this.st };
  }
}

/**
 * A fresh series' state. The value, its time and the alarm level take fractions (and times beyond a small
 * integer) later: their fields are doubles from the start (NaN first), so the object keeps its hidden class.
 */
function freshState(): FlatlineState {
  const st = { seen: 0, value: NaN, since: NaN, run: 0, longest: 0, alarmAt: NaN };
  st.value = 0;
  st.since = 0;
  st.alarmAt = 0;
  return st;
}

/**
 * How a likelihood layer words an unusual spell of this detector's deviations: the series has been still,
 * not far from normal, and the value it sits at is its expected value. Null for another detector's outcome.
 */
export function stillSpell(o: Outcome, odds: string): string | null {
  if (!(o instanceof LazyOutcome) || !(o.why instanceof FlatlineWording)) return null;
  const w = o.why;
  const ctx = w.ctx!;
  const spell = `(a spell like this comes ${odds})`;
  if (w.stuck) return `${o.reason} ${spell}`;
  const v = withUnit(o.expected, ctx.unit);
  return `${ctx.field} has stayed at ${v} for ${durationWords(Math.max(1000, w.forMs))} (${w.run} readings), longer than it usually does ${spell}; before, it never stayed the same for more than ${w.longest} reading${w.longest === 1 ? '' : 's'}`;
}

/** What a flatline verdict's sentence needs (see LazyOutcome). */
class FlatlineWording implements Wording {
  stuck = false;
  value = NaN;
  /** Time since the run began. */
  forMs = NaN;
  run = 0;
  longest = 0;
  /** The run is past its first alarm level: stuck, between the alarms its doubling level spaces out. */
  past = false;
  ctx: FieldContext | null = null;

  word(o: LazyOutcome): string {
    const { run, longest } = this;
    const ctx = this.ctx!;
    // The run's value is what it is expected to stay at.
    const v = withUnit(o.expected, ctx.unit);
    if (this.stuck) {
      return `${ctx.field} has been stuck at ${v} for ${durationWords(Math.max(1000, this.forMs))} (${run} readings); before, it never stayed the same for more than ${longest} reading${longest === 1 ? '' : 's'}`;
    }
    // Between two alarms of one stuck run: "within what it usually does" would contradict the alarm before.
    if (this.past) {
      return `${ctx.field} is still stuck at ${v}, for ${durationWords(Math.max(1000, this.forMs))} (${run} readings); before, it never stayed the same for more than ${longest} reading${longest === 1 ? '' : 's'}`;
    }
    if (longest === 0 && run > 1) return `${ctx.field} has stayed at ${v} since its first reading (${run} readings); it is not taken for stuck before it has changed once`;
    return run > 1 ? `${ctx.field} has stayed at ${v} for ${run} readings, within what it usually does` : `${ctx.field} ${withUnit(this.value, ctx.unit)} is changing normally`;
  }
}
