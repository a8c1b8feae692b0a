/**
 * Statistics of one series (device × field) over a report period, computed in
 * one pass over readings in ascending time, in constant memory.
 *
 * Definitions (also in the node's help):
 * - integral: trapezoids between consecutive readings, in value × `per`
 *   (W readings with per = 1 h give Wh); the interval across the period's start
 *   (last reading before it to the first inside) and across its end count the
 *   part inside the period, the value at the boundary interpolated linearly, so
 *   consecutive periods add up to the whole;
 * - time above / below a threshold: a reading's value holds until the next one
 *   (the last reading before the period holds from the start to the first inside);
 * - an interval between readings longer than the gap limit is a gap: it is listed
 *   and adds nothing to the integral or the time above/below (the data is missing);
 *   so are the stretches from the period's start to the first reading and from
 *   the last reading to the period's end when longer than the gap limit;
 * - a period not over yet counts only up to now (`until`): the time still to come is not missing data;
 * - sum and mean: compensated (Neumaier) summation, so they carry no rounding noise of the running total;
 * - completeness: readings received ÷ readings expected (elapsed period ÷ expected interval), at most 100%;
 *   unknown (null) without an expected interval, which "auto" cannot infer from fewer than two readings.
 */
import type { FieldValue } from '../reading';

export interface SeriesOptions {
  from: number;
  to: number;
  /** End of the elapsed part of a period not over yet (default `to`): gaps and completeness stop there. */
  until?: number;
  /** Expected interval between readings, ms; absent: completeness is not computed. */
  expectedEveryMs?: number;
  /** Intervals longer than this are gaps; absent: 3 × expectedEveryMs, or no gap detection. */
  gapMs?: number;
  above?: number;
  below?: number;
  /** Time unit of the integral, ms (default an hour). */
  integralPerMs?: number;
  /** Chart resolution (default 120 buckets over the period). */
  buckets?: number;
  /** Gaps listed at most (all are counted). */
  maxGaps?: number;
}

export interface Gap {
  from: number;
  to: number;
  ms: number;
}

export interface ChartBucket {
  ts: number;
  min: number;
  max: number;
  mean: number;
  /** Times of the bucket's first and last reading: how far apart the readings of two buckets really are. */
  first: number;
  last: number;
}

export interface FieldStats {
  count: number;
  /** Numeric readings among count. */
  numeric: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  sum: number | null;
  last: { ts: number; value: FieldValue } | null;
  integral: number | null;
  integralPerMs: number;
  /** Null when the interval is neither set nor inferable (auto over fewer than two readings): completeness is unknown, not 0. */
  expectedEveryMs: number | null;
  completeness: { expectedEveryMs: number; expected: number; received: number; percent: number } | null;
  gapMs: number | null;
  gaps: Gap[];
  gapCount: number;
  /** ms, present when the threshold is set. */
  timeAboveMs: number | null;
  timeBelowMs: number | null;
  above: number | null;
  below: number | null;
  chart: ChartBucket[];
}

const HOUR = 3_600_000;

export class SeriesAccumulator {
  private count = 0;
  private numeric = 0;
  private min = Infinity;
  private max = -Infinity;
  private sum = 0;
  /** Neumaier's compensation of `sum`: a constant 100.1 summed 1379 times is 138037.9, not 138037.90000000354. */
  private sumErr = 0;
  private area = 0;
  private above = 0;
  private below = 0;
  private last: { ts: number; value: FieldValue } | null = null;
  private prevNum: { ts: number; value: number } | null = null;
  private prevTs: number | null = null;
  private opened: { ts: number; value: number } | null = null;
  private gaps: Gap[] = [];
  private gapCount = 0;
  private readonly gapMs: number | null;
  private readonly bucketMs: number;
  private readonly bMin: Float64Array;
  private readonly bMax: Float64Array;
  private readonly bSum: Float64Array;
  private readonly bCount: Uint32Array;
  private readonly bFirst: Float64Array;
  private readonly bLast: Float64Array;

  constructor(private readonly o: SeriesOptions) {
    this.gapMs = o.gapMs ?? (o.expectedEveryMs ? 3 * o.expectedEveryMs : null);
    const n = Math.max(1, o.buckets ?? 120);
    this.bucketMs = Math.max(1, (o.to - o.from) / n);
    this.bMin = new Float64Array(n).fill(Infinity);
    this.bMax = new Float64Array(n).fill(-Infinity);
    this.bSum = new Float64Array(n);
    this.bCount = new Uint32Array(n);
    this.bFirst = new Float64Array(n);
    this.bLast = new Float64Array(n);
  }

  private gap(from: number, to: number): void {
    this.gapCount++;
    if (this.gaps.length < (this.o.maxGaps ?? 100)) this.gaps.push({ from, to, ms: to - from });
  }

  /** Readings in ascending time within [from, to); a repeated timestamp is ignored. */
  add(ts: number, value: FieldValue): void {
    if (ts < this.o.from || ts >= this.o.to) return;
    if (this.prevTs !== null && ts <= this.prevTs) return;
    const startGap = this.prevTs ?? this.o.from;
    if (this.gapMs !== null && ts - startGap > this.gapMs) this.gap(startGap, ts);
    this.prevTs = ts;
    this.count++;
    this.last = { ts, value };
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    this.numeric++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const t = this.sum + value;
    this.sumErr += Math.abs(this.sum) >= Math.abs(value) ? this.sum - t + value : value - t + this.sum;
    this.sum = t;
    const p = this.prevNum;
    const o = this.opened;
    if (!p && o && this.joins(o.ts, ts)) this.segment(o, { ts, value }, this.o.from, ts);
    if (p && (this.gapMs === null || ts - p.ts <= this.gapMs)) {
      const dt = ts - p.ts;
      this.area += ((p.value + value) / 2) * dt;
      if (this.o.above !== undefined && p.value > this.o.above) this.above += dt;
      if (this.o.below !== undefined && p.value < this.o.below) this.below += dt;
    }
    this.prevNum = { ts, value };
    const b = Math.min(this.bCount.length - 1, Math.floor((ts - this.o.from) / this.bucketMs));
    if (value < this.bMin[b]) this.bMin[b] = value;
    if (value > this.bMax[b]) this.bMax[b] = value;
    this.bSum[b] += value;
    if (this.bCount[b]++ === 0) this.bFirst[b] = ts;
    this.bLast[b] = ts;
  }

  /** Gap limit applied (ms), or null when gaps are not detected: how far a neighbour reading can be and still join. */
  get gapLimitMs(): number | null {
    return this.gapMs;
  }

  /** The last reading before the period's start; before any add(). */
  opening(ts: number, value: FieldValue): void {
    if (ts < this.o.from && this.prevTs === null && typeof value === 'number' && Number.isFinite(value)) this.opened = { ts, value };
  }

  /** The first reading at or after the period's end; after the last add(). */
  closing(ts: number, value: FieldValue): void {
    if (ts < this.o.to || typeof value !== 'number' || !Number.isFinite(value)) return;
    const p = this.prevNum ?? this.opened;
    if (p && this.joins(p.ts, ts)) this.segment(p, { ts, value }, Math.max(p.ts, this.o.from), this.o.to);
  }

  private joins(a: number, b: number): boolean {
    return this.gapMs === null || b - a <= this.gapMs;
  }

  /** The part [a, b] of the segment from p to n: its area, and its time above/below (p's value holds until n). */
  private segment(p: { ts: number; value: number }, n: { ts: number; value: number }, a: number, b: number): void {
    if (!(b > a)) return;
    const at = (t: number) => p.value + ((n.value - p.value) * (t - p.ts)) / (n.ts - p.ts);
    this.area += ((at(a) + at(b)) / 2) * (b - a);
    if (this.o.above !== undefined && p.value > this.o.above) this.above += b - a;
    if (this.o.below !== undefined && p.value < this.o.below) this.below += b - a;
  }

  result(): FieldStats {
    const until = Math.max(this.o.from, Math.min(this.o.to, this.o.until ?? this.o.to));
    const end = this.prevTs ?? this.o.from;
    if (this.gapMs !== null && until - end > this.gapMs) this.gap(end, until);
    const per = this.o.integralPerMs ?? HOUR;
    const has = this.numeric > 0;
    const chart: ChartBucket[] = [];
    for (let i = 0; i < this.bCount.length; i++) {
      if (this.bCount[i] === 0) continue;
      chart.push({ ts: this.o.from + (i + 0.5) * this.bucketMs, min: this.bMin[i], max: this.bMax[i], mean: this.bSum[i] / this.bCount[i], first: this.bFirst[i], last: this.bLast[i] });
    }
    let completeness: FieldStats['completeness'] = null;
    const every = this.o.expectedEveryMs;
    // Nothing elapsed yet: nothing was expected, so there is no completeness to state.
    if (every && every > 0 && until > this.o.from) {
      const expected = Math.max(1, Math.round((until - this.o.from) / every));
      completeness = { expectedEveryMs: every, expected, received: this.count, percent: Math.min(100, (this.count / expected) * 100) };
    }
    return {
      count: this.count,
      numeric: this.numeric,
      min: has ? this.min : null,
      max: has ? this.max : null,
      mean: has ? (this.sum + this.sumErr) / this.numeric : null,
      sum: has ? this.sum + this.sumErr : null,
      last: this.last,
      integral: has ? this.area / per : null,
      integralPerMs: per,
      expectedEveryMs: every && every > 0 ? every : null,
      completeness,
      gapMs: this.gapMs,
      gaps: this.gaps,
      gapCount: this.gapCount,
      timeAboveMs: this.o.above !== undefined ? this.above : null,
      timeBelowMs: this.o.below !== undefined ? this.below : null,
      above: this.o.above ?? null,
      below: this.o.below ?? null,
      chart,
    };
  }
}

/** Median of the positive intervals between ascending timestamps; undefined with fewer than two. */
export function medianInterval(ts: readonly number[]): number | undefined {
  const d: number[] = [];
  for (let i = 1; i < ts.length; i++) if (ts[i] > ts[i - 1]) d.push(ts[i] - ts[i - 1]);
  if (d.length === 0) return undefined;
  d.sort((a, b) => a - b);
  const mid = d.length >> 1;
  return d.length % 2 ? d[mid] : (d[mid - 1] + d[mid]) / 2;
}
