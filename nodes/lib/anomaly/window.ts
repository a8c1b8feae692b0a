/** The window of recent points a detector keeps per series, and its saved form. */
import { DetectorConfigError } from '../errors';

function badWindow(message: string): DetectorConfigError {
  return new DetectorConfigError(message, { parameter: 'state' });
}

export interface WindowState {
  /** Times as plain numbers: what earlier versions saved, and what is saved while a time is not a whole millisecond. */
  t?: number[];
  /** The first time, when the times are saved as gaps (dt). */
  t0?: number;
  /**
   * The gaps between consecutive times: a gap, or [gap, n] for n equal gaps in a row. A window of
   * regular readings saves its 2,016 times as one pair instead of 2,016 epoch milliseconds (about
   * 28 kB, a third to two thirds of a mature series' saved state).
   */
  dt?: Array<number | [number, number]>;
  v: number[];
  ref: number | null;
  sum: number;
  sumSq: number;
  pushes: number;
}

/**
 * The last points of a series by time and count, with running sums for mean
 * and variance and, when robust, the order of its values for median and MAD.
 *
 * The order is kept as ring slots sorted by value (2 bytes a point), not as a
 * sorted copy of the values (8 bytes a point): with the default 2,016 points
 * that is 4 kB instead of 16 kB per series, and inserting moves a quarter of
 * the bytes. Equal values stay in arrival order, so the oldest point (the one
 * leaving) is always the first of its equals. Times are whole milliseconds
 * from a base (4 bytes a point) until one is not, then plain numbers.
 */
export class Window {
  /** Times minus tsBase: Int32 while they are whole milliseconds less than 24.8 days apart, else Float64 with base 0. */
  private ts: Int32Array | Float64Array;
  private tsBase = NaN;
  private vs: Float64Array;
  private head = 0;
  size = 0;
  // Sums are kept relative to the first value seen so that large offsets
  // (a taxi count of 20,000) do not swallow a small variance.
  private ref = NaN;
  // Doubles from the start (NaN, then 0 in the constructor): see Stream in likelihood-stream.ts.
  private sum = NaN;
  private sumSq = NaN;
  private order: Uint16Array | Uint32Array | null;
  private pushes = 0;
  /**
   * Set while restore() puts saved points back: they are kept as they were. Eviction by time looks only at the
   * oldest point in arrival order, so after late readings a window may hold points further apart than its span;
   * pushed again, they would be evicted and the restored window would judge differently.
   */
  private restoring = false;

  constructor(
    readonly spanMs: number,
    readonly maxPoints: number,
    robust: boolean,
  ) {
    this.sum = 0;
    this.sumSq = 0;
    // Grown by doubling (grow()): a series seen once holds 8 points' room, not 64 (~750 bytes less).
    const cap = Math.min(maxPoints, 8);
    this.ts = new Int32Array(cap);
    this.vs = new Float64Array(cap);
    this.order = robust ? this.slots(cap) : null;
  }

  private slots(cap: number): Uint16Array | Uint32Array {
    return this.maxPoints <= 0x10000 ? new Uint16Array(cap) : new Uint32Array(cap);
  }

  get oldestTs(): number {
    return this.size ? this.tsAt(this.head) : NaN;
  }

  private tsAt(slot: number): number {
    return this.ts[slot] + this.tsBase;
  }

  /** ts as stored: an offset from tsBase, rebasing or widening the buffer when it does not fit. */
  private offset(ts: number): number {
    if (this.ts instanceof Int32Array && Number.isInteger(ts)) {
      if (this.size === 0) this.tsBase = ts;
      const off = ts - this.tsBase;
      if (off === (off | 0)) return off;
      // Rebased on the earliest time kept (late readings may sit anywhere), if the window fits an Int32 of milliseconds.
      let lo = ts;
      let hi = ts;
      for (let k = 0; k < this.size; k++) {
        const t = this.tsAt((this.head + k) % this.ts.length);
        if (t < lo) lo = t;
        if (t > hi) hi = t;
      }
      if (hi - lo <= 0x7fffffff) {
        const shift = lo - this.tsBase;
        for (let k = 0; k < this.size; k++) this.ts[(this.head + k) % this.ts.length] -= shift;
        this.tsBase = lo;
        return ts - lo;
      }
    }
    if (this.ts instanceof Int32Array) {
      const wide = new Float64Array(this.ts.length);
      for (let k = 0; k < this.size; k++) {
        const j = (this.head + k) % this.ts.length;
        wide[j] = this.tsAt(j);
      }
      this.ts = wide;
      this.tsBase = 0;
    }
    return ts;
  }

  push(ts: number, v: number): void {
    if (Number.isNaN(this.ref)) this.ref = v;
    // The order position of the last point dropped is left open and closed by the insertion below: one move of
    // the entries between where the old point was and where the new one goes, not two moves of the order's tail.
    let gap = -1;
    while (this.size > 0 && (this.size >= this.maxPoints || (ts - this.tsAt(this.head) > this.spanMs && !this.restoring))) {
      if (gap >= 0) this.order!.copyWithin(gap, gap + 1, this.size + 1);
      gap = this.drop();
    }
    if (this.size === this.vs.length) this.grow();
    const off = this.offset(ts);
    // Ring positions wrap by a comparison, not a modulo: this runs for every reading of every series.
    let i = this.head + this.size;
    if (i >= this.vs.length) i -= this.vs.length;
    this.ts[i] = off;
    this.vs[i] = v;
    this.size++;
    const d = v - this.ref;
    this.sum += d;
    this.sumSq += d * d;
    if (this.order) {
      const o = this.order;
      if (gap < 0) {
        const n = this.size - 1;
        const pos = this.upperBound(v, 0, n);
        o.copyWithin(pos + 1, pos, n);
        o[pos] = i;
      } else if (gap > 0 && this.vs[o[gap - 1]] > v) {
        // Below the gap: the entries from its place up to the gap move up by one.
        const pos = this.upperBound(v, 0, gap);
        o.copyWithin(pos + 1, pos, gap);
        o[pos] = i;
      } else {
        // At or above the gap: the entries after the gap up to its place move down by one.
        const pos = this.upperBound(v, gap + 1, this.size);
        o.copyWithin(gap, gap + 1, pos);
        o[pos - 1] = i;
      }
    }
    // Adding and removing for months leaves rounding dust in the sums; start them afresh now and then.
    if (++this.pushes % 4096 === 0) this.resum();
  }

  private resum(): void {
    this.sum = 0;
    this.sumSq = 0;
    for (let k = 0; k < this.size; k++) {
      const d = this.vs[(this.head + k) % this.vs.length] - this.ref;
      this.sum += d;
      this.sumSq += d * d;
    }
  }

  /**
   * Drops the oldest point. Its entry in the order is left in place, for the caller to close: returns its
   * position (-1 without an order), the order then holding size + 1 entries.
   */
  private drop(): number {
    const slot = this.head;
    const v = this.vs[slot];
    const n = this.size;
    this.head = this.head + 1 === this.vs.length ? 0 : this.head + 1;
    this.size--;
    const d = v - this.ref;
    this.sum -= d;
    this.sumSq -= d * d;
    if (!this.order) return -1;
    const o = this.order;
    let pos = this.lowerBound(v, n);
    // The oldest point is the first of its equals; the scan only guards that invariant.
    while (pos < n - 1 && o[pos] !== slot) pos++;
    return pos;
  }

  /** First of the n ordered positions whose value is not below v. */
  private lowerBound(v: number, n: number): number {
    const o = this.order!;
    const vs = this.vs;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (vs[o[mid]] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First of the ordered positions [lo, hi) whose value is above v (hi if none): a new point goes after its equals. */
  private upperBound(v: number, lo: number, hi: number): number {
    const o = this.order!;
    const vs = this.vs;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (vs[o[mid]] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(): void {
    const old = this.vs.length;
    const cap = Math.min(this.maxPoints, old * 2);
    const ts = this.ts instanceof Int32Array ? new Int32Array(cap) : new Float64Array(cap);
    const vs = new Float64Array(cap);
    for (let k = 0; k < this.size; k++) {
      const j = (this.head + k) % old;
      ts[k] = this.ts[j];
      vs[k] = this.vs[j];
    }
    if (this.order) {
      // Slot j moves to its distance from the head.
      const o = this.slots(cap);
      for (let k = 0; k < this.size; k++) o[k] = (this.order[k] - this.head + old) % old;
      this.order = o;
    }
    this.ts = ts;
    this.vs = vs;
    this.head = 0;
  }

  /** The k-th smallest value (0-based); robust windows only. */
  private nth(k: number): number {
    return this.vs[this.order![k]];
  }

  /** The value at quantile q (0..1) of the window; robust windows only. */
  quantile(q: number): number {
    const pos = q * (this.size - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(this.size - 1, lo + 1);
    const a = this.nth(lo);
    return a + (this.nth(hi) - a) * (pos - lo);
  }

  mean(): number {
    return this.ref + this.sum / this.size;
  }

  std(): number {
    const m = this.sum / this.size;
    const v = this.sumSq / this.size - m * m;
    return v > 0 ? Math.sqrt(v * (this.size / Math.max(1, this.size - 1))) : 0;
  }

  median(): number {
    const n = this.size;
    return n % 2 ? this.nth(n >> 1) : (this.nth(n / 2 - 1) + this.nth(n / 2)) / 2;
  }

  /**
   * Median absolute deviation without sorting: the distances from the median
   * form two sorted runs (leftwards and rightwards of it), and the k-th
   * smallest of two sorted runs is found by bisection in O(log n).
   */
  mad(median: number): number {
    const n = this.size;
    const want = n >> 1;
    return n % 2 ? this.kthDistance(want, median) : (this.kthDistance(want - 1, median) + this.kthDistance(want, median)) / 2;
  }

  private kthDistance(k: number, median: number): number {
    const o = this.order!;
    const vs = this.vs;
    const n = this.size;
    const leftStart = (n - 1) >> 1;
    const a = leftStart + 1;
    const b = n - a;
    // L(i) = median - s[leftStart - i] and R(j) = s[a + j] - median both grow with i and j.
    let lo = Math.max(0, k + 1 - b);
    let hi = Math.min(k + 1, a);
    while (lo < hi) {
      const i = (lo + hi) >>> 1;
      const j = k + 1 - i;
      if (median - vs[o[leftStart - i]] < vs[o[a + j - 1]] - median) lo = i + 1;
      else hi = i;
    }
    const j = k + 1 - lo;
    const fromLeft = lo > 0 ? median - vs[o[leftStart - lo + 1]] : -Infinity;
    const fromRight = j > 0 ? vs[o[a + j - 1]] - median : -Infinity;
    return Math.max(fromLeft, fromRight);
  }

  /** Mean absolute deviation from a centre: the fallback scale when MAD is 0. */
  meanAbsDev(centre: number): number {
    let acc = 0;
    for (let k = 0; k < this.size; k++) acc += Math.abs(this.vs[(this.head + k) % this.vs.length] - centre);
    return acc / this.size;
  }

  toJSON(): WindowState {
    const v: number[] = [];
    for (let k = 0; k < this.size; k++) v.push(this.vs[(this.head + k) % this.vs.length]);
    const rest = { v, ref: this.size ? this.ref : null, sum: this.sum, sumSq: this.sumSq, pushes: this.pushes };
    if (this.size === 0) return { t: [], ...rest };
    // Whole milliseconds (the Int32 offsets): gaps are exact integers, so adding them up gives the times back.
    if (this.ts instanceof Int32Array) return { t0: this.tsAt(this.head), dt: this.gaps(), ...rest };
    const t: number[] = [];
    for (let k = 0; k < this.size; k++) t.push(this.tsAt((this.head + k) % this.vs.length));
    return { t, ...rest };
  }

  /** The gaps between the kept times, equal ones in a row as [gap, n]. */
  private gaps(): Array<number | [number, number]> {
    const out: Array<number | [number, number]> = [];
    const cap = this.vs.length;
    let prev = this.ts[this.head];
    let gap = NaN;
    let n = 0;
    const flush = () => {
      if (n === 1) out.push(gap);
      else if (n > 1) out.push([gap, n]);
    };
    for (let k = 1; k < this.size; k++) {
      const cur = this.ts[(this.head + k) % cap];
      const d = cur - prev;
      prev = cur;
      if (d === gap) n++;
      else {
        flush();
        gap = d;
        n = 1;
      }
    }
    flush();
    return out;
  }

  /** The saved times: as they were, or rebuilt from the first time and the gaps; every count checked before anything is made. */
  private static timesOf(state: WindowState): number[] {
    const n = state.v.length;
    if (state.dt === undefined) {
      if (!Array.isArray(state.t) || state.t.length !== n) throw badWindow(`the saved window has ${state.t?.length ?? 'no'} times for ${n} values`);
      return state.t;
    }
    if (!Array.isArray(state.dt) || typeof state.t0 !== 'number' || !Number.isSafeInteger(state.t0)) throw badWindow('the saved window times are not a first time and gaps');
    let count = 1;
    for (const g of state.dt) {
      const k = Array.isArray(g) ? g[1] : 1;
      const d = Array.isArray(g) ? g[0] : g;
      if (!Number.isSafeInteger(d) || !Number.isSafeInteger(k) || k < 1 || (count += k) > n) throw badWindow(`the saved window times do not match its ${n} values`);
    }
    if (count !== n) throw badWindow(`the saved window has ${count} times for ${n} values`);
    const t = [state.t0];
    let at = state.t0;
    for (const g of state.dt) {
      const [d, k] = Array.isArray(g) ? g : [g, 1];
      for (let i = 0; i < k; i++) t.push((at += d));
    }
    return t;
  }

  /**
   * Refills the buffers, then takes the stored sums as they were: sums rebuilt
   * from the points would differ in the last bits and so could flip a verdict.
   */
  restore(state: WindowState): void {
    const t = Window.timesOf(state);
    this.restoring = true;
    try {
      for (let k = 0; k < state.v.length; k++) this.push(t[k], state.v[k]);
    } finally {
      this.restoring = false;
    }
    this.ref = state.ref ?? NaN;
    this.sum = state.sum;
    this.sumSq = state.sumSq;
    this.pushes = state.pushes;
  }
}
