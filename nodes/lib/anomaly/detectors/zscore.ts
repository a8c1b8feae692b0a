/** Rolling z-score: how many standard deviations a value is from its recent centre. */
import { durationAdjective, withUnit } from '../format';
import { bool, duration, known, num } from '../params';
import { LazyOutcome, type Wording } from '../outcome';
import { Window, type WindowState } from '../stats';
import { Surprise, type SurpriseState } from '../surprise';
import type { Detector, FieldContext, Outcome, ZScoreConfig } from '../types';

export interface ZScoreSettings {
  windowMs: number;
  maxPoints: number;
  threshold: number;
  robust: boolean;
  tails: boolean;
  memory: number;
  warmup: number;
}

export function zscoreSettings(c: ZScoreConfig): ZScoreSettings {
  known('zscore', c, ['window', 'maxPoints', 'threshold', 'robust', 'tails', 'memory']);
  return {
    windowMs: duration('zscore', 'window', c.window, '7d'),
    maxPoints: num('zscore', 'maxPoints', c.maxPoints, 2016, { min: 3, integer: true }),
    threshold: num('zscore', 'threshold', c.threshold, 5, { above: 0 }),
    robust: bool('zscore', 'robust', c.robust, true),
    tails: bool('zscore', 'tails', c.tails, true),
    memory: num('zscore', 'memory', c.memory, DEFAULT_MEMORY, { min: 0 }),
    warmup: num('zscore', 'warmup', c.warmup, 30, { min: 0, integer: true }),
  };
}

/** Points a window needs before its tails say anything about the spread. */
const MIN_TAIL_POINTS = 20;

/**
 * Centre and spread of a window; shared with the rate detector, which scores
 * rates the same way. With `tails`, the robust spread is at least what the
 * middle 90% of the window spans (3.29σ for a normal distribution). The MAD
 * alone looks at the middle half: on a bursty series (a count mostly at its
 * base that often jumps) or one that sits at one of two levels, it is tiny,
 * and every ordinary burst or visit to the other level would be dozens of σ
 * away. On a series without bursts both agree.
 */
export function centreAndSpread(w: Window, robust: boolean, tails = false): [number, number] {
  const centre = centreOf(w, robust);
  return [centre, spreadOf(w, robust, tails, centre)];
}

/** The centre of centreAndSpread, without the pair (the z-score asks on every reading). */
export function centreOf(w: Window, robust: boolean): number {
  return robust ? w.median() : w.mean();
}

/** The spread of centreAndSpread around `centre` (which is centreOf(w, robust)). */
export function spreadOf(w: Window, robust: boolean, tails: boolean, centre: number): number {
  if (!robust) return w.std();
  let sigma = 1.4826 * w.mad(centre);
  if (tails && w.size >= MIN_TAIL_POINTS) sigma = Math.max(sigma, (w.quantile(0.95) - w.quantile(0.05)) / 3.29);
  // Mostly-constant series (a counter that is usually 0) have MAD 0; the mean
  // absolute deviation still sees the occasional excursions.
  if (sigma === 0) sigma = 1.2533 * w.meanAbsDev(centre);
  return sigma;
}

/** Readings over which a large past deviation fades to half its weight. */
export const DEFAULT_MEMORY = 4000;

/** Says why the bar is higher than the configured threshold, when it is. */
export function alarmLevel(level: number, threshold: number): string {
  return level > threshold * 1.05 ? ` (more than its recent largest swing of ${level.toFixed(1)}σ)` : '';
}

export function zOf(v: number, centre: number, sigma: number): number {
  if (sigma > 0) return (v - centre) / sigma;
  return v === centre ? 0 : v > centre ? Infinity : -Infinity;
}

export interface ZScoreState {
  seen: number;
  window: WindowState;
  surprise: SurpriseState;
}

export class ZScoreDetector implements Detector {
  readonly type = 'zscore';
  private readonly window: Window;
  private readonly surprise: Surprise;
  private seen = 0;
  /** The one outcome this detector sets on every reading, when compiled for the engine (see LazyOutcome). */
  private readonly kept: LazyOutcome<ZScoreWording> | null;

  constructor(private readonly s: ZScoreSettings, state?: ZScoreState, reuse = false) {
    this.kept = reuse ? new LazyOutcome(new ZScoreWording(s)) : null;
    this.window = new Window(s.windowMs, s.maxPoints, s.robust);
    this.surprise = new Surprise(s.threshold, s.memory, state?.surprise);
    if (state) {
      this.seen = state.seen;
      this.window.restore(state.window);
    }
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    let out: Outcome | null = null;
    if (this.seen < this.s.warmup || this.window.size < 2) {
      // The second half of the warm-up already teaches the alarm levels the usual swings.
      if (this.seen >= this.s.warmup >> 1 && this.window.size >= 2) {
        const centre = centreOf(this.window, this.s.robust);
        this.surprise.learn(zOf(value, centre, spreadOf(this.window, this.s.robust, this.s.tails, centre)), true);
      }
    } else {
      const centre = centreOf(this.window, this.s.robust);
      const sigma = spreadOf(this.window, this.s.robust, this.s.tails, centre);
      const z = zOf(value, centre, sigma);
      const up = this.surprise.level(1);
      const down = this.surprise.level(-1);
      const level = this.surprise.level(z);
      const o = this.kept ?? new LazyOutcome(new ZScoreWording(this.s));
      out = o.set(this.surprise.score(z), Math.abs(z) / this.s.threshold, centre, centre - down * sigma, centre + up * sigma);
      const why = o.why;
      why.ts = ts;
      why.value = value;
      why.z = z;
      why.level = level;
      why.oldestTs = this.window.oldestTs;
      why.ctx = ctx;
    }
    this.window.push(ts, value);
    this.seen++;
    return out;
  }

  toJSON(): ZScoreState {
    return { seen: this.seen, window: this.window.toJSON(), surprise: this.surprise.toJSON() };
  }
}

/** What a z-score verdict's sentence needs (see LazyOutcome). */
class ZScoreWording implements Wording {
  // Doubles from the start (NaN), like the outcome's own fields.
  ts = NaN;
  value = NaN;
  z = NaN;
  level = NaN;
  /** The window's oldest time before this reading joined it. */
  oldestTs = NaN;
  ctx: FieldContext | null = null;

  constructor(private readonly s: ZScoreSettings) {}

  word(o: LazyOutcome): string {
    const { z, level } = this;
    const ctx = this.ctx!;
    const what = `${ctx.field} ${withUnit(this.value, ctx.unit)}`;
    const stat = this.s.robust ? 'median' : 'mean';
    const span = durationAdjective(Math.max(1000, this.ts - this.oldestTs));
    const ref = `its ${span} ${stat} of ${withUnit(o.expected, ctx.unit)}`;
    if (!Number.isFinite(z)) return `${what} differs from ${ref}, which has not varied at all`;
    const a = Math.abs(z);
    // Past the threshold yet under the raised bar: a shift that persists alarms once, and saying "usual
    // range" of a value hundreds of σ away would tell an operator the detector did not see it.
    if (a < level && a >= this.s.threshold) return `${what} is ${a.toFixed(1)}σ ${z > 0 ? 'above' : 'below'} ${ref}, no further than its recent largest swing${level < 1000 ? ` of ${level.toFixed(1)}σ` : ''} (a shift that persists alarms once)`;
    if (a < level) return `${what} is within the usual range: ${a.toFixed(1)}σ from ${ref}`;
    return `${what} is ${a.toFixed(1)}σ ${z > 0 ? 'above' : 'below'} ${ref}${alarmLevel(level, this.s.threshold)}`;
  }
}
