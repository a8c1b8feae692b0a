/**
 * Streaming Isolation Forest. Each reading becomes a shingle (it and the few
 * before it), so a pattern such as spikes coming closer together is caught
 * even when each value on its own is ordinary. Trees are rebuilt from the
 * sliding window every `retrainEvery` readings with a seeded generator, so the
 * same data gives the same scores on every run and after a restore.
 */
import { durationWords, formatNumber, withUnit } from '../format';
import { known, num } from '../params';
import { Prng } from '../stats';
import type { Detector, FieldContext, IsolationForestConfig, Outcome } from '../types';

export interface IsolationForestSettings {
  window: number;
  trees: number;
  sampleSize: number;
  retrainEvery: number;
  shingle: number;
  cut: number;
  seed: number;
  warmup: number;
}

export function isolationForestSettings(c: IsolationForestConfig): IsolationForestSettings {
  known('iforest', c, ['window', 'trees', 'sampleSize', 'retrainEvery', 'shingle', 'cut', 'seed']);
  const window = num('iforest', 'window', c.window, 512, { min: 16, integer: true });
  const shingle = num('iforest', 'shingle', c.shingle, 4, { min: 1, max: 64, integer: true });
  return {
    window,
    trees: num('iforest', 'trees', c.trees, 100, { min: 1, max: 1000, integer: true }),
    sampleSize: num('iforest', 'sampleSize', c.sampleSize, Math.min(256, window), { min: 2, max: window, integer: true }),
    retrainEvery: num('iforest', 'retrainEvery', c.retrainEvery, 128, { min: 1, integer: true }),
    shingle,
    cut: num('iforest', 'cut', c.cut, 0.5, { above: 0, max: 1 }),
    seed: num('iforest', 'seed', c.seed, 1, { min: 0, integer: true }),
    warmup: num('iforest', 'warmup', c.warmup, window + shingle - 1, { min: window + shingle - 1, integer: true }),
  };
}

const EULER = 0.5772156649;

/** Average path length of an unsuccessful search in a binary search tree of n points. */
export function averagePath(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER) - (2 * (n - 1)) / n;
}

/**
 * Trees stored as complete binary trees in flat arrays (children of i at 2i+1
 * and 2i+2): no objects per node, and a forest is a few typed arrays.
 */
class Forest {
  private readonly nodes: number;
  /** Split feature per node; -1 marks a leaf. */
  private readonly feature: Int8Array;
  /** Split value, or the number of training points for a leaf. */
  private readonly split: Float32Array;

  constructor(
    readonly trees: number,
    private readonly depth: number,
  ) {
    this.nodes = 2 ** (depth + 1) - 1;
    this.feature = new Int8Array(trees * this.nodes).fill(-1);
    this.split = new Float32Array(trees * this.nodes);
  }

  /** data: n rows of d values, row-major. */
  build(data: Float64Array, n: number, d: number, sample: number, rng: Prng): void {
    const idx = new Int32Array(n);
    for (let t = 0; t < this.trees; t++) {
      for (let i = 0; i < n; i++) idx[i] = i;
      // Partial Fisher-Yates: the first `sample` entries are a sample without replacement.
      for (let i = 0; i < sample; i++) {
        const j = i + Math.floor(rng.next() * (n - i));
        const tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
      }
      this.grow(t * this.nodes, 0, idx, 0, sample, 0, data, d, rng);
    }
  }

  private grow(base: number, node: number, idx: Int32Array, lo: number, hi: number, level: number, data: Float64Array, d: number, rng: Prng): void {
    const at = base + node;
    if (level >= this.depth || hi - lo <= 1) {
      this.feature[at] = -1;
      this.split[at] = hi - lo;
      return;
    }
    const first = Math.floor(rng.next() * d);
    for (let k = 0; k < d; k++) {
      const f = (first + k) % d;
      let min = Infinity;
      let max = -Infinity;
      for (let i = lo; i < hi; i++) {
        const x = data[idx[i] * d + f];
        if (x < min) min = x;
        if (x > max) max = x;
      }
      if (!(max > min)) continue;
      // Float32 storage: the split is rounded before partitioning so scoring sees the same boundary.
      let split = Math.fround(min + rng.next() * (max - min));
      if (!(split > min)) split = Math.fround(max);
      let mid = lo;
      for (let i = lo; i < hi; i++) {
        if (data[idx[i] * d + f] < split) {
          const tmp = idx[i];
          idx[i] = idx[mid];
          idx[mid] = tmp;
          mid++;
        }
      }
      this.feature[at] = f;
      this.split[at] = split;
      this.grow(base, 2 * node + 1, idx, lo, mid, level + 1, data, d, rng);
      this.grow(base, 2 * node + 2, idx, mid, hi, level + 1, data, d, rng);
      return;
    }
    this.feature[at] = -1;
    this.split[at] = hi - lo;
  }

  /** Mean path length of x (d values from offset) over all trees. */
  pathLength(x: Float64Array, offset: number): number {
    let total = 0;
    for (let t = 0; t < this.trees; t++) {
      const base = t * this.nodes;
      let node = 0;
      let level = 0;
      let f = this.feature[base];
      while (f >= 0) {
        node = x[offset + f] < this.split[base + node] ? 2 * node + 1 : 2 * node + 2;
        level++;
        f = this.feature[base + node];
      }
      total += level + averagePath(this.split[base + node]);
    }
    return total / this.trees;
  }
}

export interface IsolationForestState {
  seen: number;
  /** The latest readings, oldest first (window + shingle - 1 of them). */
  values: number[];
  times: number[];
  sinceTrain: number;
  /** What the current forest was built from, so a restore rebuilds the very same trees. */
  trainValues: number[] | null;
  trainRng: number;
  rng: number;
}

export class IsolationForestDetector implements Detector {
  readonly type = 'iforest';
  private st: IsolationForestState;
  private forest: Forest | null = null;
  private readonly shingleBuf: Float64Array;
  private lo = 0;
  private hi = 0;
  private mean = 0;
  /** c(n) of the sample size: the path length that maps to a score of 0.5. */
  private c = 1;

  constructor(private readonly s: IsolationForestSettings, state?: IsolationForestState) {
    this.shingleBuf = new Float64Array(s.shingle);
    this.st = state
      ? { ...state, values: [...state.values], times: [...state.times], trainValues: state.trainValues && [...state.trainValues] }
      : { seen: 0, values: [], times: [], sinceTrain: 0, trainValues: null, trainRng: s.seed, rng: s.seed };
    if (this.st.trainValues) this.train(this.st.trainValues, this.st.trainRng);
  }

  private get keep(): number {
    return this.s.window + this.s.shingle - 1;
  }

  private train(values: number[], seed: number): void {
    const d = this.s.shingle;
    const n = values.length - d + 1;
    const data = new Float64Array(n * d);
    let lo = Infinity;
    let hi = -Infinity;
    let sum = 0;
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) data[i * d + k] = values[i + k];
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      sum += v;
    }
    const sample = Math.min(this.s.sampleSize, n);
    const rng = new Prng(seed);
    const forest = new Forest(this.s.trees, Math.max(1, Math.ceil(Math.log2(sample))));
    forest.build(data, n, d, sample, rng);
    this.forest = forest;
    this.c = averagePath(sample);
    this.lo = lo;
    this.hi = hi;
    this.mean = sum / values.length;
    this.st.rng = rng.state;
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    const st = this.st;
    st.values.push(value);
    st.times.push(ts);
    if (st.values.length > this.keep) {
      st.values.shift();
      st.times.shift();
    }
    st.seen++;
    let out: Outcome | null = null;
    if (this.forest) {
      const d = this.s.shingle;
      const n = st.values.length;
      for (let k = 0; k < d; k++) this.shingleBuf[k] = st.values[n - d + k];
      const s = Math.pow(2, -this.forest.pathLength(this.shingleBuf, 0) / this.c);
      out = {
        score: this.toScore(s),
        expected: this.mean,
        low: this.lo,
        high: this.hi,
        reason: this.explain(s, value, ts, ctx),
      };
    }
    // The reading is scored by trees that never saw it, then joins the window for the next build.
    if (st.seen >= this.s.warmup && (!this.forest || ++st.sinceTrain >= this.s.retrainEvery)) {
      st.sinceTrain = 0;
      st.trainValues = st.values.slice();
      st.trainRng = st.rng;
      this.train(st.trainValues, st.trainRng);
    }
    return out;
  }

  /** Puts the cut at 0.5, like every other detector. */
  private toScore(s: number): number {
    const cut = this.s.cut;
    if (s < cut) return (0.5 * s) / cut;
    return cut >= 1 ? 1 : Math.min(1, 0.5 + (0.5 * (s - cut)) / (1 - cut));
  }

  private explain(s: number, value: number, ts: number, ctx: FieldContext): string {
    const d = this.s.shingle;
    const recent = d > 1 ? `the last ${d} readings of ${ctx.field} (ending at ${withUnit(value, ctx.unit)})` : `${ctx.field} ${withUnit(value, ctx.unit)}`;
    const span = durationWords(Math.max(1000, ts - this.st.times[0]));
    const score = `isolation score ${formatNumber(s)}, alarm at ${formatNumber(this.s.cut)}`;
    const plural = d > 1;
    if (s < this.s.cut) return `${recent} ${plural ? 'look' : 'looks'} like the past ${span} (${score})`;
    return `${recent} ${plural ? 'form a pattern' : 'is a value'} unlike the past ${span} (${score})`;
  }

  toJSON(): IsolationForestState {
    const st = this.st;
    return { ...st, values: [...st.values], times: [...st.times], trainValues: st.trainValues && [...st.trainValues] };
  }
}
