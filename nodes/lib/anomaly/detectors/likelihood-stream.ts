/** A likelihood member's stream: its surprises (deviations squared and capped), the recent ones in rings, and the bins of past spells. */

/** One member's recent surprises and the long-run distribution of their average. */
export interface StreamState {
  n: number;
  recent: number[];
  /** The readings behind `recent`, to name the furthest one in a reason. */
  values: number[];
  mean: number;
  variance: number;
  /**
   * Past spells by the bin of their highest average, exponentially weighted
   * like the mean, unnormalised: each new spell weighs `gain`, which grows
   * with every reading instead of every count fading (absent in state saved
   * before recurrence was judged).
   */
  seen?: number[];
  /** Highest bin of the spell going on, -1 when the average is ordinary. */
  peak?: number;
  total?: number;
  gain?: number;
}

/**
 * Deviation (1 = the member's own alarm level) as a surprise. Squared, so
 * ordinary noise (a third of the alarm level) adds about 0.1; capped at
 * twice a reading at the alarm level, so that one wild reading on a quiet
 * series is enough to alarm, but cannot swamp the average of a lively one.
 */
const MAX_SURPRISE = 2;

export function surprise(d: number): number {
  return d > 0 ? Math.min(MAX_SURPRISE, d * d) : 0;
}

/** Bins of the recent average surprise (0 to MAX_SURPRISE) whose past frequency is kept. */
export const BINS = 40;

/**
 * A member's stream as it runs: the last `short` surprises and values in
 * rings (oldest at `head`) rather than lists shifted on every reading.
 *
 * The rings are two stretches of one Float64Array that the layer shares among
 * its members' streams (rings(), at `at`): a typed array costs ~250 bytes of
 * its own besides its numbers, and with eight per series they were a fifth of
 * what a series held (~11 KB with the default detector).
 */
export class Stream {
  n = 0;
  // Fractions after the first readings: declared as doubles (NaN) and then given their start, since a field first
  // stored as a small integer changes the object's hidden class when it takes a fraction, and the optimised code
  // that met the first class is thrown away (see outcome.ts).
  mean = NaN;
  variance = NaN;
  /** `seen` of StreamState; null while every bin is 0 (most series never end a spell: 40 numbers each saved). */
  seen: number[] | null = null;
  peak = -1;
  total = NaN;
  gain = NaN;
  /** Surprises at [at, at + cap), their values at [at + cap, at + 2 cap). */
  private readonly ring: Float64Array;
  private readonly at: number;
  private readonly cap: number;
  private head = 0;
  /** Entries in the rings. */
  size = 0;

  /** `ring` from rings(short, streams), this stream being number `index` of them. */
  constructor(short: number, saved: StreamState | undefined, ring: Float64Array = rings(short, 1), index = 0) {
    this.mean = 0;
    this.variance = 0;
    this.total = 0;
    this.gain = 1;
    this.ring = ring;
    this.cap = short;
    this.at = 2 * short * index;
    if (!saved) return;
    this.n = saved.n;
    this.mean = saved.mean;
    this.variance = saved.variance;
    // State saved before recurrence was judged starts counting now.
    if (saved.seen) this.seen = [...saved.seen];
    this.peak = saved.peak ?? -1;
    this.total = saved.total ?? 0;
    this.gain = saved.gain ?? 1;
    const from = Math.max(0, saved.recent.length - short);
    for (let k = from; k < saved.recent.length; k++) this.push(saved.recent[k], saved.values[k]);
  }

  /** Adds the newest surprise and value, dropping the oldest once `short` are kept. */
  push(surprise: number, value: number): void {
    const cap = this.cap;
    const r = this.ring;
    if (this.size === cap) {
      r[this.at + this.head] = surprise;
      r[this.at + cap + this.head] = value;
      this.head = (this.head + 1) % cap;
    } else {
      const i = (this.head + this.size) % cap;
      r[this.at + i] = surprise;
      r[this.at + cap + i] = value;
      this.size++;
    }
  }

  /** The k-th surprise kept, oldest first. */
  surprise(k: number): number {
    return this.ring[this.at + ((this.head + k) % this.cap)];
  }

  /** The k-th value kept, oldest first. */
  value(k: number): number {
    return this.ring[this.at + this.cap + ((this.head + k) % this.cap)];
  }

  /** The average surprise, summed oldest first. */
  average(): number {
    // Oldest first without a modulo per entry: from the head to the end of the ring, then from its start.
    const r = this.ring;
    const at = this.at;
    const cap = this.cap;
    const end = this.head + this.size;
    let avg = 0;
    for (let k = this.head; k < Math.min(end, cap); k++) avg += r[at + k];
    for (let k = 0; k < end - cap; k++) avg += r[at + k];
    return avg / this.size;
  }

  toJSON(): StreamState {
    const recent: number[] = [];
    const values: number[] = [];
    for (let k = 0; k < this.size; k++) {
      recent.push(this.surprise(k));
      values.push(this.value(k));
    }
    return { n: this.n, recent, values, mean: this.mean, variance: this.variance, seen: this.seen ? [...this.seen] : new Array<number>(BINS).fill(0), peak: this.peak, total: this.total, gain: this.gain };
  }
}

/** The rings of `streams` streams of `short` readings each, in one array. */
export function rings(short: number, streams: number): Float64Array {
  return new Float64Array(2 * short * streams);
}

export function binOf(avg: number): number {
  return Math.min(BINS - 1, Math.floor((avg / MAX_SURPRISE) * BINS));
}
