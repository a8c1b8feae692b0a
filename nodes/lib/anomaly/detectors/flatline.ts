/**
 * Stuck sensor: the same value for far longer than the series was ever flat
 * before. Learning the longest normal run keeps quantised or mostly-zero
 * series (a door counter at 0 all night) from alarming.
 */
import { durationWords, withUnit } from '../format';
import { known, num } from '../params';
import { LazyOutcome } from '../outcome';
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
  private st: FlatlineState = { seen: 0, value: 0, since: 0, run: 0, longest: 0, alarmAt: 0 };
  /** The one outcome this detector sets on every reading, when compiled for the engine (see LazyOutcome). */
  private readonly kept: FlatlineOutcome | null;

  constructor(private readonly s: FlatlineSettings, state?: FlatlineState, reuse = false) {
    this.kept = reuse ? new FlatlineOutcome() : null;
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
    const score = st.run > 1 ? ratioScore(st.run / st.alarmAt) : 0;
    const stuck = st.run >= st.alarmAt;
    if (stuck) st.alarmAt *= 2;
    // Measured against the first alarm level of this run, not the doubled one: the run is no less stuck after an alarm.
    const first = Math.max(this.s.minReadings, this.s.factor * st.longest);
    return (this.kept ?? new FlatlineOutcome()).set(score, st.run > 1 ? st.run / first : 0, st.value, st.value - this.s.tolerance, st.value + this.s.tolerance, stuck, value, ts - st.since, st.run, st.longest, ctx);
  }

  toJSON(): FlatlineState {
    return { ...this.st };
  }
}

/** A flatline verdict, worded when read (see LazyOutcome). */
class FlatlineOutcome extends LazyOutcome {
  declare private stuck: boolean;
  declare private value: number;
  /** Time since the run began. */
  declare private forMs: number;
  declare private run: number;
  declare private longest: number;
  declare private ctx: FieldContext;

  set(
    score: number,
    deviation: number,
    expected: number,
    low: number,
    high: number,
    stuck: boolean,
    value: number,
    forMs: number,
    run: number,
    longest: number,
    ctx: FieldContext,
  ): this {
    this.score = score;
    this.deviation = deviation;
    this.expected = expected;
    this.low = low;
    this.high = high;
    this.detector = undefined;
    this.text = undefined;
    this.stuck = stuck;
    this.value = value;
    this.forMs = forMs;
    this.run = run;
    this.longest = longest;
    this.ctx = ctx;
    return this;
  }

  protected word(): string {
    const { ctx, run, longest } = this;
    // The run's value is what it is expected to stay at.
    const v = withUnit(this.expected, ctx.unit);
    if (this.stuck) {
      return `${ctx.field} has been stuck at ${v} for ${durationWords(Math.max(1000, this.forMs))} (${run} readings); before, it never stayed the same for more than ${longest} reading${longest === 1 ? '' : 's'}`;
    }
    return run > 1 ? `${ctx.field} has stayed at ${v} for ${run} readings, within what it usually does` : `${ctx.field} ${withUnit(this.value, ctx.unit)} is changing normally`;
  }
}
