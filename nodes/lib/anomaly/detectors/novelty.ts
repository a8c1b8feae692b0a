/**
 * Level novelty: a value at a level the series has not visited for a long
 * time. The usual range (the middle 90% of the warm-up readings) is split
 * into `resolution` levels; beyond it, each further level is a fixed share
 * further out (about 18% at the default 12 levels), so a series whose bursts span
 * orders of magnitude still has a handful of levels for them. The detector
 * remembers when each level (in quarter-level steps) was last visited and
 * alarms when a value is a whole level away from everything visited in the
 * last `horizon` readings: higher or lower than anything recent, or in a gap
 * between the levels the series keeps to. Unlike a deviation in σ, this does
 * not depend on how quiet the last hours were: an ordinary burst of a bursty
 * series is at a level it visits, however calm it was before.
 */
import { durationWords, withUnit } from '../format';
import { known, num } from '../params';
import { LazyOutcome, type Wording } from '../outcome';
import { ratioScore } from '../stats';
import type { Detector, FieldContext, NoveltyConfig, Outcome } from '../types';

export interface NoveltySettings {
  /** Levels across the usual range (half on each side of its median). */
  resolution: number;
  /** Readings after which a visited level counts as unvisited again. */
  horizon: number;
  warmup: number;
}

export function noveltySettings(c: NoveltyConfig): NoveltySettings {
  known('novelty', c, ['resolution', 'horizon']);
  return {
    resolution: num('novelty', 'resolution', c.resolution, 12, { min: 2, max: 64, integer: true }),
    horizon: num('novelty', 'horizon', c.horizon, 4000, { min: 10, integer: true }),
    warmup: num('novelty', 'warmup', c.warmup, 100, { min: 10, integer: true }),
  };
}

export interface NoveltyState {
  /** Readings seen, warm-up included. */
  n: number;
  firstTs: number;
  /** Warm-up values until the scale is set, then null. */
  history: number[] | null;
  centre: number;
  /** Width of one level inside the usual range, in the series' units. */
  unit: number;
  /** Step index of last[0]. */
  base: number;
  /** Reading number at which each step was last visited (0 = never). */
  last: number[];
}

/** Steps per level: distances are judged to a quarter of a level. */
const STEPS = 4;
/** Distances beyond two levels all count as two: far enough to be sure. */
const MAX_LEVELS = 2;
/**
 * Levels beyond the usual range are capped at this many e-folds of distance
 * (about 5·10^8 times the range), so a hostile value cannot make the step
 * table grow without bound (at most 2 × 4 × resolution/2 × 21 steps).
 */
const MAX_EFOLDS = 20;
/** Share of the warm-up readings that defines the usual range. */
const USUAL = 0.9;

export class NoveltyDetector implements Detector {
  readonly type = 'novelty';
  /** Its alarms are rare by construction: a likelihood layer lets them stand (see likelihood.ts). */
  readonly selfCalibrated = true;
  private st: NoveltyState;
  private last: Float64Array;
  /** Half the resolution: levels from the median to the edge of the usual range. */
  private readonly half: number;
  private readonly maxLevel: number;
  /** The one outcome this detector sets on every reading, when compiled for the engine (see LazyOutcome). */
  private readonly kept: LazyOutcome<NoveltyWording> | null;

  constructor(private readonly s: NoveltySettings, state?: NoveltyState, reuse = false) {
    this.kept = reuse ? new LazyOutcome(new NoveltyWording()) : null;
    this.half = s.resolution / 2;
    this.maxLevel = this.half * (1 + MAX_EFOLDS);
    this.st = state ? { ...state, history: state.history && [...state.history], last: [] } : freshState();
    this.last = Float64Array.from(state?.last ?? []);
  }

  /** Position of a value in levels from the centre: linear inside the usual range, logarithmic beyond. */
  private level(v: number): number {
    const u = (v - this.st.centre) / this.st.unit;
    const a = Math.abs(u);
    const h = this.half;
    const l = a <= h ? a : h * (1 + Math.log(a / h));
    return Math.sign(u) * Math.min(l, this.maxLevel);
  }

  /** The value at a position in levels (inverse of level()). */
  private valueAt(l: number): number {
    const a = Math.abs(l);
    const h = this.half;
    const u = a <= h ? a : h * Math.exp(a / h - 1);
    return this.st.centre + Math.sign(l) * u * this.st.unit;
  }

  private step(v: number): number {
    return Math.round(this.level(v) * STEPS);
  }

  /** Reading number at which a step was last visited; 0 when never. */
  private seen(k: number): number {
    const i = k - this.st.base;
    return i >= 0 && i < this.last.length ? this.last[i] : 0;
  }

  private visit(k: number, n: number): void {
    let i = k - this.st.base;
    if (i < 0 || i >= this.last.length) {
      // Grown to cover the new step, with room on that side; bounded by maxLevel.
      const lo = Math.min(this.st.base, k - (i < 0 ? 8 : 0));
      const hi = Math.max(this.st.base + this.last.length, k + 1 + (i >= this.last.length ? 8 : 0));
      const grown = new Float64Array(hi - lo);
      grown.set(this.last, this.st.base - lo);
      this.last = grown;
      this.st.base = lo;
      i = k - lo;
    }
    this.last[i] = n;
  }

  /** Sets the scale from the warm-up; false while the warm-up has not varied at all. */
  private setup(h: number[]): boolean {
    const s = [...h].sort((a, b) => a - b);
    const q = (p: number) => s[Math.floor(p * (s.length - 1))];
    const tail = (1 - USUAL) / 2;
    let unit = (q(1 - tail) - q(tail)) / this.s.resolution;
    // A series that sits at one value most of the time: its whole range is the usual range.
    if (!(unit > 0)) unit = (s[s.length - 1] - s[0]) / this.s.resolution;
    if (!(unit > 0) || !Number.isFinite(unit)) return false;
    this.st.centre = q(0.5);
    this.st.unit = unit;
    this.st.history = null;
    const first = this.st.n - h.length;
    h.forEach((v, i) => this.visit(this.step(v), first + i + 1));
    return true;
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    const st = this.st;
    st.n++;
    if (Number.isNaN(st.firstTs)) st.firstTs = ts;
    if (st.history) {
      st.history.push(value);
      if (st.history.length >= this.s.warmup && !this.setup(st.history)) {
        // Constant so far: keep only a warm-up's worth until the first different value.
        if (st.history.length > this.s.warmup) st.history.shift();
      }
      return null;
    }
    const k = this.step(value);
    // Reading numbers start at 1, so 0 (never visited) is never recent.
    const since = Math.max(0, st.n - this.s.horizon);
    // The nearest step visited recently, searched outwards; k itself when none is within MAX_LEVELS.
    let d = 0;
    let near = k;
    for (; d < MAX_LEVELS * STEPS; d++) {
      if (this.seen(k - d) > since) {
        near = k - d;
        break;
      }
      if (this.seen(k + d) > since) {
        near = k + d;
        break;
      }
    }
    const levels = d / STEPS;
    const out = (this.kept ?? new LazyOutcome(new NoveltyWording())).set(ratioScore(levels), levels, this.valueAt(near / STEPS), this.valueAt(near / STEPS - 1), this.valueAt(near / STEPS + 1));
    out.why.value = value;
    out.why.ctx = ctx;
    // A new level is worded now: its sentence reads the visits, which this reading changes.
    if (levels >= 1) out.reason = this.explain(ts, value, k, ctx);
    this.visit(k, st.n);
    return out;
  }

  private explain(ts: number, value: number, k: number, ctx: FieldContext): string {
    const st = this.st;
    const since = Math.max(0, st.n - this.s.horizon);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < this.last.length; i++) {
      if (this.last[i] > since) {
        lo = Math.min(lo, i + st.base);
        hi = Math.max(hi, i + st.base);
      }
    }
    const count = Math.min(st.n - 1, this.s.horizon);
    // The horizon in time: the share of the time since the first reading that it covers.
    const span = ((ts - st.firstTs) * count) / Math.max(1, st.n - 1);
    const past = `the past ${durationWords(Math.max(1000, span))} (${count.toLocaleString('en-US')} readings)`;
    const what = `${ctx.field} ${withUnit(value, ctx.unit)}`;
    const at = (j: number) => withUnit(this.valueAt(j / STEPS), ctx.unit);
    if (k > hi) return `${what} is higher than anything in ${past}; the highest before was about ${at(hi)}`;
    if (k < lo) return `${what} is lower than anything in ${past}; the lowest before was about ${at(lo)}`;
    let below = k;
    while (below > lo && !(this.seen(below) > since)) below--;
    let above = k;
    while (above < hi && !(this.seen(above) > since)) above++;
    return `${what} is at a level not seen in ${past}: nothing between about ${at(below)} and ${at(above)}`;
  }

  toJSON(): NoveltyState {
    return { ...this.st, history: this.st.history && [...this.st.history], last: Array.from(this.last) };
  }
}

/** A fresh series' state; the scale's centre and unit are fractions once set, so their fields are doubles from the start (NaN first). */
function freshState(): NoveltyState {
  const st: NoveltyState = { n: 0, firstTs: NaN, history: [], centre: NaN, unit: NaN, base: 0, last: [] };
  st.centre = 0;
  st.unit = 0;
  return st;
}

/** What an ordinary novelty verdict's sentence needs (see LazyOutcome). */
class NoveltyWording implements Wording {
  value = NaN;
  ctx: FieldContext | null = null;

  word(o: LazyOutcome): string {
    const ctx = this.ctx!;
    const what = `${ctx.field} ${withUnit(this.value, ctx.unit)}`;
    return o.deviation === 0 ? `${what} is at a level it has visited recently` : `${what} is close to levels it has visited recently (about ${withUnit(o.expected, ctx.unit)})`;
  }
}
