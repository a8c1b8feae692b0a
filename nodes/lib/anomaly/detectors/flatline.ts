/**
 * Stuck sensor: the same value for far longer than the series was ever flat
 * before. Learning the longest normal run keeps quantised or mostly-zero
 * series (a door counter at 0 all night) from alarming.
 */
import { durationWords, withUnit } from '../format';
import { known, num } from '../params';
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

  constructor(private readonly s: FlatlineSettings, state?: FlatlineState) {
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
    const v = withUnit(st.value, ctx.unit);
    const reason =
      stuck
        ? `${ctx.field} has been stuck at ${v} for ${durationWords(Math.max(1000, ts - st.since))} (${st.run} readings); before, it never stayed the same for more than ${st.longest} reading${st.longest === 1 ? '' : 's'}`
        : st.run > 1
          ? `${ctx.field} has stayed at ${v} for ${st.run} readings, within what it usually does`
          : `${ctx.field} ${withUnit(value, ctx.unit)} is changing normally`;
    // Measured against the first alarm level of this run, not the doubled one: the run is no less stuck after an alarm.
    const first = Math.max(this.s.minReadings, this.s.factor * st.longest);
    return { score, deviation: st.run > 1 ? st.run / first : 0, expected: st.value, low: st.value - this.s.tolerance, high: st.value + this.s.tolerance, reason };
  }

  toJSON(): FlatlineState {
    return { ...this.st };
  }
}
