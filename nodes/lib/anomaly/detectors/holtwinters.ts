/**
 * Additive Holt-Winters: forecasts each reading from level + trend + the value
 * at the same point of the cycle, and scores the forecast error. The season is
 * indexed by time, not by count, so a gap in the data does not shift the cycle.
 */
import { durationAdjective, withUnit } from '../format';
import { bool, known, num, duration } from '../params';
import { LazyOutcome, type Wording } from '../outcome';
import { Surprise, type SurpriseState } from '../surprise';
import { alarmLevel, DEFAULT_MEMORY } from './zscore';
import type { Detector, FieldContext, HoltWintersConfig, Outcome } from '../types';
import { detectSeason, medianStep } from './season';
import { freshWeek, isDaily, WeekProfile, type WeekState } from './weekly';

export interface HoltWintersSettings {
  /** Season in ms; 0 = none, -1 = detect from the warm-up history. */
  seasonMs: number;
  alpha: number;
  beta: number;
  gamma: number;
  /** Learn a weekly profile on top of a daily season, used once it forecasts clearly better. */
  weekly: boolean;
  threshold: number;
  memory: number;
  warmup: number;
}

export function holtWintersSettings(c: HoltWintersConfig): HoltWintersSettings {
  known('holtwinters', c, ['season', 'alpha', 'beta', 'gamma', 'weekly', 'threshold', 'memory']);
  const season = c.season ?? 'auto';
  return {
    seasonMs: season === 'auto' ? -1 : season === 'none' ? 0 : duration('holtwinters', 'season', season, '1d'),
    alpha: num('holtwinters', 'alpha', c.alpha, 0.02, { above: 0, max: 1 }),
    beta: num('holtwinters', 'beta', c.beta, 0.01, { min: 0, max: 1 }),
    gamma: num('holtwinters', 'gamma', c.gamma, 0.2, { min: 0, max: 1 }),
    weekly: bool('holtwinters', 'weekly', c.weekly, true),
    threshold: num('holtwinters', 'threshold', c.threshold, 5, { above: 0 }),
    memory: num('holtwinters', 'memory', c.memory, DEFAULT_MEMORY, { min: 0 }),
    warmup: num('holtwinters', 'warmup', c.warmup, 1000, { min: 10, integer: true }),
  };
}

interface Model {
  level: number;
  trend: number;
  season: number[];
  stepMs: number;
  origin: number;
  lastTs: number;
  variance: number;
  /** The weekly profile of a daily season; absent in state saved before it existed, and without a daily season. */
  week?: WeekState;
}

export interface HoltWintersState {
  history: { t: number[]; v: number[] } | null;
  model: Model | null;
  surprise: SurpriseState;
}

/** Weight of the newest squared error in the error variance (about the last 100 readings). */
const VAR_ALPHA = 0.01;
/** Errors beyond this many σ teach the model only this much, so a spike does not bend the forecast. */
const CLIP = 3;

export class HoltWintersDetector implements Detector {
  readonly type = 'holtwinters';
  private history: { t: number[]; v: number[] } | null = { t: [], v: [] };
  private m: Model | null = null;
  private readonly surprise: Surprise;
  private week: WeekProfile | null = null;
  /** The one outcome this detector sets on every reading, when compiled for the engine (see LazyOutcome). */
  private readonly kept: LazyOutcome<HoltWintersWording> | null;

  constructor(private readonly s: HoltWintersSettings, state?: HoltWintersState, reuse = false) {
    this.kept = reuse ? new LazyOutcome(new HoltWintersWording(s.threshold)) : null;
    this.surprise = new Surprise(s.threshold, s.memory, state?.surprise);
    if (state) {
      this.history = state.history && { t: [...state.history.t], v: [...state.history.v] };
      this.m = state.model && { ...state.model, season: [...state.model.season] };
      if (this.m) this.attachWeek(this.m);
    }
  }

  /** A model with a daily season gets its weekly profile (a fresh one for state saved before profiles existed). */
  private attachWeek(m: Model): void {
    if (!this.s.weekly || !m.season.length || !isDaily(m.season.length * m.stepMs)) {
      delete m.week;
      return;
    }
    m.week = m.week ? { ...m.week, slots: [...m.week.slots], counts: [...m.week.counts] } : freshWeek(m.stepMs, m.origin);
    this.week = new WeekProfile(m.week, m.stepMs, this.s.gamma);
  }

  /** Whether the weekly profile is in use; for tests and status. */
  get weeklyInUse(): boolean {
    return this.week?.st.active ?? false;
  }

  /** Readings per season once the model runs (0 without a season); for tests and status. */
  get seasonLength(): number | undefined {
    return this.m ? this.m.season.length : undefined;
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    if (this.history) {
      this.history.t.push(ts);
      this.history.v.push(value);
      if (this.history.v.length >= this.s.warmup) this.start(this.history.t, this.history.v);
      return null;
    }
    return this.step(this.m!, ts, value, ctx);
  }

  private start(t: number[], v: number[]): void {
    const stepMs = medianStep(t);
    let len = 0;
    if (this.s.seasonMs > 0) len = Math.round(this.s.seasonMs / stepMs);
    else if (this.s.seasonMs < 0) len = detectSeason(v);
    if (len < 2 || len * 2 > v.length) len = 0;
    const mean = (from: number, to: number) => {
      let acc = 0;
      for (let i = from; i < to; i++) acc += v[i];
      return acc / (to - from);
    };
    const first = len || Math.min(v.length, 10);
    const level = mean(0, first);
    const trend = len && v.length >= 2 * len ? (mean(len, 2 * len) - level) / len : 0;
    const season = new Array<number>(len).fill(0);
    if (len) {
      const cycles = Math.floor(v.length / len);
      for (let c = 0; c < cycles; c++) {
        const cm = mean(c * len, (c + 1) * len);
        for (let i = 0; i < len; i++) season[i] += (v[c * len + i] - cm) / cycles;
      }
    }
    // The season slots are anchored to the first reading's time.
    // A generous first spread (around the overall mean, season removed) so the replay below is not clipped.
    const all = mean(0, v.length);
    let spread = 0;
    for (let i = 0; i < v.length; i++) spread += (v[i] - all - (len ? season[i % len] : 0)) ** 2;
    this.m = { level: level - trend, trend, season, stepMs, origin: t[0], lastTs: t[0] - stepMs, variance: spread / v.length };
    this.attachWeek(this.m);
    // The first half of the replay settles the model; its errors would overstate the spread.
    let varAcc = 0;
    const half = v.length >> 1;
    const errs: number[] = [];
    for (let i = 0; i < v.length; i++) {
      const e = this.learn(this.m, t[i], v[i]);
      if (i >= half) {
        varAcc += e * e;
        errs.push(e);
      }
    }
    this.m.variance = varAcc / (v.length - half);
    // The warm-up's own largest swings set the first alarm levels, so the first readings after it do not alarm on ordinary noise.
    const sigma = Math.sqrt(this.m.variance);
    if (sigma > 0) for (const e of errs) this.surprise.learn(e / sigma, true);
    this.history = null;
  }

  private slot(m: Model, ts: number): number {
    const len = m.season.length;
    const k = Math.round((ts - m.origin) / m.stepMs);
    return ((k % len) + len) % len;
  }

  private forecast(m: Model, ts: number): number {
    const steps = Math.max(0, Math.round((ts - m.lastTs) / m.stepMs));
    return m.level + this.ahead(steps) * m.trend + (m.season.length ? m.season[this.slot(m, ts)] : 0) + this.weekOffset(ts);
  }

  /**
   * How many steps the trend is carried forward over a gap of `steps`. The trend is the level's change per step
   * averaged over about the last 1/beta readings: carried over a week or a month without readings, its noise alone
   * (a hundredth of σ a step) put the forecast many σ off, and a device back from a week off alarmed on its
   * first ordinary readings. Beyond what it was averaged over, it is held at that.
   */
  private ahead(steps: number): number {
    const beta = this.s.beta;
    return beta > 0 ? Math.min(steps, Math.ceil(1 / beta)) : steps;
  }

  /** The weekly profile's share of the forecast: 0 until it has proved itself. */
  private weekOffset(ts: number): number {
    return this.week?.st.active ? this.week.offset(ts) : 0;
  }

  /** Moves the model one reading on; returns the forecast error before learning. */
  private learn(m: Model, ts: number, value: number): number {
    const steps = Math.max(0, Math.round((ts - m.lastTs) / m.stepMs));
    const base = m.level + this.ahead(steps) * m.trend;
    const idx = m.season.length ? this.slot(m, ts) : -1;
    const s = idx >= 0 ? m.season[idx] : 0;
    const offset = this.week ? this.week.offset(ts) : 0;
    const w = this.week?.st.active ? offset : 0;
    const err = value - (base + s + w);
    const sigma = Math.sqrt(m.variance);
    const taught = sigma > 0 ? base + s + w + Math.max(-CLIP * sigma, Math.min(CLIP * sigma, err)) : value;
    const { alpha, beta, gamma } = this.s;
    const level = alpha * (taught - s - w) + (1 - alpha) * base;
    if (steps > 0) m.trend = beta * ((level - m.level) / steps) + (1 - beta) * m.trend;
    m.level = level;
    if (idx >= 0) m.season[idx] = gamma * (taught - level - w) + (1 - gamma) * s;
    if (this.week) this.week.learn(ts, err, offset, taught - base - s, sigma > 0 ? CLIP * sigma : Infinity);
    m.lastTs = Math.max(m.lastTs, ts);
    const clipped = sigma > 0 ? Math.min(Math.abs(err), CLIP * sigma) : Math.abs(err);
    m.variance = (1 - VAR_ALPHA) * m.variance + VAR_ALPHA * clipped * clipped;
    return err;
  }

  private step(m: Model, ts: number, value: number, ctx: FieldContext): Outcome {
    const expected = this.forecast(m, ts);
    const sigma = Math.sqrt(m.variance);
    const z = sigma > 0 ? (value - expected) / sigma : value === expected ? 0 : value > expected ? Infinity : -Infinity;
    const level = this.surprise.level(z);
    // The band's levels are read before score() takes z in.
    const low = expected - this.surprise.level(-1) * sigma;
    const high = expected + this.surprise.level(1) * sigma;
    const out = (this.kept ?? new LazyOutcome(new HoltWintersWording(this.s.threshold))).set(this.surprise.score(z), Math.abs(z) / this.s.threshold, expected, low, high);
    const why = out.why;
    why.seasonLength = m.season.length;
    why.stepMs = m.stepMs;
    why.weekly = this.week?.st.active ?? false;
    why.value = value;
    why.z = z;
    why.level = level;
    why.ctx = ctx;
    this.learn(m, ts, value);
    return out;
  }

  toJSON(): HoltWintersState {
    return {
      history: this.history && { t: [...this.history.t], v: [...this.history.v] },
      model: this.m && { ...this.m, season: [...this.m.season], ...(this.week ? { week: this.week.toJSON() } : {}) },
      surprise: this.surprise.toJSON(),
    };
  }
}

/** Beyond this many σ a reason no longer gives the number (see HoltWintersWording). */
const DUST = 1e6;

/** What a Holt-Winters verdict's sentence needs (see LazyOutcome). */
class HoltWintersWording implements Wording {
  /** Readings per season, 0 without one. */
  seasonLength = 0;
  stepMs = NaN;
  /** The weekly profile was in use for this forecast. */
  weekly = false;
  value = NaN;
  z = NaN;
  level = NaN;
  ctx: FieldContext | null = null;

  constructor(private readonly threshold: number) {}

  word(o: LazyOutcome): string {
    const { z, level, weekly } = this;
    const ctx = this.ctx!;
    const what = `${ctx.field} ${withUnit(this.value, ctx.unit)}`;
    const basis = this.seasonLength
      ? `expected at this point of its ${durationAdjective(this.seasonLength * this.stepMs)}${weekly ? ' and weekly' : ''} cycle${weekly ? 's' : ''}`
      : 'expected from its recent level and trend';
    const exp = `the ${withUnit(o.expected, ctx.unit)} ${basis}`;
    const a = Math.abs(z);
    const side = z > 0 ? 'above' : 'below';
    // A series that had matched its forecast to the last digits (a near-constant one) has a spread of rounding
    // dust: its first change would read as billions of σ, a number that says nothing.
    const dust = Number.isFinite(a) && a >= DUST;
    if (a < this.threshold) return `${what} is close to ${exp} (${a.toFixed(1)}σ)`;
    // Past the threshold yet under the raised bar of a recent swing: "close to" a value thousands of σ away would
    // tell an operator the detector did not see it.
    if (a < level) {
      const far = dust ? `${side} ${exp}` : `${a.toFixed(1)}σ ${side} ${exp}`;
      return `${what} is ${far}, no further than its recent largest swing${level < 1000 ? ` of ${level.toFixed(1)}σ` : ''} (a shift that persists alarms once)`;
    }
    if (dust) return `${what} is ${side} ${exp}, which it had followed almost exactly (its usual error is under a millionth of this one)`;
    return `${what} is ${Number.isFinite(a) ? `${a.toFixed(1)}σ` : 'far'} ${z > 0 ? 'above' : 'below'} ${exp}${alarmLevel(level, this.threshold)}`;
  }
}
