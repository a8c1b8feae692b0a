/**
 * EWMA control chart. The smoothed value moves little on noise but steadily on
 * a shift, so it flags drifts too small for a z-score on single readings.
 */
import { withUnit } from '../format';
import { known, num } from '../params';
import { Surprise, type SurpriseState } from '../surprise';
import { alarmLevel, DEFAULT_MEMORY } from './zscore';
import type { Detector, EwmaConfig, FieldContext, Outcome } from '../types';

export interface EwmaSettings {
  lambda: number;
  threshold: number;
  baselineAlpha: number;
  memory: number;
  warmup: number;
}

export function ewmaSettings(c: EwmaConfig): EwmaSettings {
  known('ewma', c, ['lambda', 'threshold', 'baselineAlpha', 'memory']);
  return {
    lambda: num('ewma', 'lambda', c.lambda, 0.2, { above: 0, max: 1 }),
    threshold: num('ewma', 'threshold', c.threshold, 4, { above: 0 }),
    baselineAlpha: num('ewma', 'baselineAlpha', c.baselineAlpha, 0.01, { above: 0, max: 1 }),
    memory: num('ewma', 'memory', c.memory, DEFAULT_MEMORY, { min: 0 }),
    warmup: num('ewma', 'warmup', c.warmup, 30, { min: 2, integer: true }),
  };
}

export interface EwmaState {
  n: number;
  smooth: number;
  mean: number;
  variance: number;
  surprise: SurpriseState;
}

export class EwmaDetector implements Detector {
  readonly type = 'ewma';
  private st: Omit<EwmaState, 'surprise'> = { n: 0, smooth: 0, mean: 0, variance: 0 };
  private readonly spread: number;
  private readonly surprise: Surprise;

  constructor(private readonly s: EwmaSettings, state?: EwmaState) {
    if (state) this.st = { n: state.n, smooth: state.smooth, mean: state.mean, variance: state.variance };
    this.surprise = new Surprise(s.threshold, s.memory, state?.surprise);
    // Steady-state standard deviation of the smoothed value, per unit of the data's.
    this.spread = Math.sqrt(s.lambda / (2 - s.lambda));
  }

  update(_ts: number, value: number, ctx: FieldContext): Outcome | null {
    const st = this.st;
    const { lambda } = this.s;
    const smooth = st.n === 0 ? value : lambda * value + (1 - lambda) * st.smooth;
    let out: Outcome | null = null;
    const sigma = Math.sqrt(st.variance);
    if (st.n >= this.s.warmup) {
      const limit = sigma * this.spread;
      const z = limit > 0 ? (smooth - st.mean) / limit : smooth === st.mean ? 0 : smooth > st.mean ? Infinity : -Infinity;
      const level = this.surprise.level(z);
      out = {
        score: 0,
        deviation: Math.abs(z) / this.s.threshold,
        expected: st.mean,
        low: st.mean - this.surprise.level(-1) * limit,
        high: st.mean + this.surprise.level(1) * limit,
        reason: this.explain(value, smooth, z, level, limit, ctx),
      };
      out.score = this.surprise.score(z);
    }
    this.learn(value, sigma);
    st.smooth = smooth;
    return out;
  }

  private learn(value: number, sigma: number): void {
    const st = this.st;
    st.n++;
    if (st.n <= this.s.warmup) {
      // Plain running mean and variance until the chart starts: an EW start from one point would be noise.
      const d = value - st.mean;
      st.mean += d / st.n;
      st.variance += (d * (value - st.mean) - st.variance) / st.n;
      return;
    }
    // A spike may move the baseline by at most 4σ, so one outlier cannot widen the limits for hours.
    const lim = 4 * sigma;
    const d = sigma > 0 ? Math.max(-lim, Math.min(lim, value - st.mean)) : value - st.mean;
    const a = this.s.baselineAlpha;
    st.mean += a * d;
    // The spread learns ten times slower than the mean: a shift must not widen the very limits it should cross.
    const av = a / 10;
    st.variance = (1 - av) * (st.variance + av * d * d);
  }

  private explain(value: number, smooth: number, z: number, level: number, limit: number, ctx: FieldContext): string {
    const recent = `${ctx.field}'s recent average ${withUnit(smooth, ctx.unit)}`;
    const usual = `its usual level of ${withUnit(this.st.mean, ctx.unit)}`;
    const a = Math.abs(z);
    if (a < level && a >= this.s.threshold) return `${recent} (latest ${withUnit(value, ctx.unit)}) has drifted ${z > 0 ? 'above' : 'below'} ${usual}, yet no further than its recent largest drift (a drift that persists alarms once)`;
    if (a < level) return `${recent} (latest ${withUnit(value, ctx.unit)}) is close to ${usual}`;
    return `${recent} (latest ${withUnit(value, ctx.unit)}) has drifted ${z > 0 ? 'above' : 'below'} ${usual}, beyond the ${withUnit(level * limit, ctx.unit)} control limit${alarmLevel(level, this.s.threshold)}`;
  }

  toJSON(): EwmaState {
    return { ...this.st, surprise: this.surprise.toJSON() };
  }
}
