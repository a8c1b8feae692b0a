/** Rate of change: a value that moves faster than a fixed maximum or than it usually does. */
import { durationWords, formatNumber, withUnit } from '../format';
import { duration, known, num } from '../params';
import { ratioScore, Window, type WindowState } from '../stats';
import { Surprise, type SurpriseState } from '../surprise';
import type { Detector, FieldContext, Outcome, RateConfig } from '../types';
import { centreAndSpread, DEFAULT_MEMORY, zOf } from './zscore';

export interface RateSettings {
  maxRate: number | undefined;
  windowMs: number;
  threshold: number;
  memory: number;
  warmup: number;
}

export function rateSettings(c: RateConfig): RateSettings {
  known('rate', c, ['maxRate', 'window', 'threshold', 'memory']);
  return {
    maxRate: c.maxRate === undefined ? undefined : num('rate', 'maxRate', c.maxRate, 0, { above: 0 }),
    windowMs: duration('rate', 'window', c.window, '1d'),
    threshold: num('rate', 'threshold', c.threshold, 5, { above: 0 }),
    memory: num('rate', 'memory', c.memory, DEFAULT_MEMORY, { min: 0 }),
    warmup: num('rate', 'warmup', c.warmup, c.maxRate === undefined ? 30 : 1, { min: 1, integer: true }),
  };
}

export interface RateState {
  seen: number;
  lastTs: number | null;
  last: number;
  rates: WindowState;
  surprise: SurpriseState;
}

export class RateDetector implements Detector {
  readonly type = 'rate';
  private readonly rates: Window;
  private readonly surprise: Surprise;
  private seen = 0;
  private lastTs: number | null = null;
  private last = 0;

  constructor(private readonly s: RateSettings, state?: RateState) {
    this.rates = new Window(s.windowMs, 1000, true);
    this.surprise = new Surprise(s.threshold, s.memory, state?.surprise);
    if (state) {
      this.seen = state.seen;
      this.lastTs = state.lastTs;
      this.last = state.last;
      this.rates.restore(state.rates);
    }
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    const prevTs = this.lastTs;
    const prev = this.last;
    // Readings with the same or an earlier timestamp have no rate; they only move the baseline point.
    if (prevTs === null || ts <= prevTs) {
      this.lastTs = prevTs === null ? ts : Math.max(ts, prevTs);
      this.last = value;
      return null;
    }
    const dtS = (ts - prevTs) / 1000;
    const rate = (value - prev) / dtS;
    let out: Outcome | null = null;
    if (this.seen >= this.s.warmup) {
      let score: number;
      let allowed: number;
      let centre = 0;
      if (this.s.maxRate !== undefined) {
        allowed = this.s.maxRate;
        score = ratioScore(Math.abs(rate) / allowed);
      } else {
        const [c, sigma] = centreAndSpread(this.rates, true);
        const z = zOf(rate, c, sigma);
        centre = c;
        allowed = Math.abs(c) + this.surprise.level(z) * sigma;
        score = this.surprise.score(z);
      }
      const step = centre * dtS;
      const swing = (allowed - Math.abs(centre)) * dtS;
      out = {
        score,
        expected: prev + step,
        low: prev + step - swing,
        high: prev + step + swing,
        reason: this.explain(value - prev, ts - prevTs, rate, score, allowed, ctx),
      };
    }
    this.rates.push(ts, rate);
    this.seen++;
    this.lastTs = ts;
    this.last = value;
    return out;
  }

  private explain(change: number, dtMs: number, rate: number, score: number, allowed: number, ctx: FieldContext): string {
    const moved = `${ctx.field} ${change >= 0 ? 'rose' : 'fell'} ${withUnit(Math.abs(change), ctx.unit)} in ${durationWords(dtMs)}`;
    const perMin = (r: number) => `${withUnit(Math.abs(r) * 60, ctx.unit)}/min`;
    if (score < 0.5) return `${moved}, a usual pace`;
    const limit = this.s.maxRate !== undefined ? 'its limit' : 'its usual pace';
    return `${moved} (${perMin(rate)}), ${formatNumber(Math.abs(rate) / allowed)} times ${limit} of ${perMin(allowed)}`;
  }

  toJSON(): RateState {
    return { seen: this.seen, lastTs: this.lastTs, last: this.last, rates: this.rates.toJSON(), surprise: this.surprise.toJSON() };
  }
}
