/**
 * The journal's unsettled entries: how many settles each still needs, by
 * sequence number. Sequence numbers are handed out consecutively and mostly
 * settled in about the same order, so the counts live in an array indexed by
 * `seq - base` (no hash-table entry per message to add, delete and rehash;
 * this runs for every message an input takes). An entry left behind while far
 * newer ones settle (say, a message stuck in a retry) moves to a small map, so
 * a single old entry cannot make the array span millions of settled ones.
 */

/** How many sequence numbers the array may span before its oldest pending entries move to the map. */
const SPAN = 1 << 20;

export class PendingCounts {
  /** counts[i] belongs to seq `base + i`; 0: settled (or never appended). */
  private counts: number[] = [];
  /** Index of the first slot that may still be pending; the ones before it are settled. */
  private head = 0;
  private base = 1;
  /** Pending entries older than the array's span, in ascending order. */
  private far = new Map<number, number>();
  private n = 0;
  private readonly span: number;

  constructor(span = SPAN) {
    this.span = Math.max(2, span);
  }

  /** Entries still pending. */
  get size(): number {
    return this.n;
  }

  /** Settles still needed for seq, or undefined when it is not pending. */
  get(seq: number): number | undefined {
    const i = seq - this.base;
    if (i >= this.head && i < this.counts.length) {
      const c = this.counts[i];
      return c > 0 ? c : undefined;
    }
    return i < this.head ? this.far.get(seq) : undefined;
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  /**
   * Adds a pending entry. Sequence numbers must ascend from one call to the
   * next (the journal appends in order); gaps are settled slots.
   */
  add(seq: number, holds: number): void {
    if (holds <= 0) return;
    if (this.counts.length === this.head) {
      // Nothing pending in the array: start it at seq (no settled slots kept in front).
      this.counts.length = 0;
      this.head = 0;
      this.base = seq;
    }
    const i = seq - this.base;
    if (i < this.counts.length) throw new RangeError(`journal sequence ${seq} added out of order`);
    while (this.counts.length < i) this.counts.push(0);
    this.counts.push(holds);
    this.n++;
    if (this.counts.length - this.head > this.span) this.spill();
  }

  /** Changes the count of a pending seq; 0 or less removes it. Unknown seqs are ignored. */
  set(seq: number, count: number): void {
    if (count <= 0) {
      this.delete(seq);
      return;
    }
    const i = seq - this.base;
    if (i >= this.head && i < this.counts.length) {
      if (this.counts[i] > 0) this.counts[i] = count;
    } else if (i < this.head && this.far.has(seq)) {
      this.far.set(seq, count);
    }
  }

  delete(seq: number): void {
    const i = seq - this.base;
    if (i >= this.head && i < this.counts.length) {
      if (this.counts[i] === 0) return;
      this.counts[i] = 0;
      this.n--;
      if (i === this.head) this.advance();
    } else if (i < this.head && this.far.delete(seq)) {
      this.n--;
    }
  }

  /** The lowest pending seq, or undefined when nothing is pending. */
  lowest(): number | undefined {
    if (this.far.size > 0) return this.far.keys().next().value;
    return this.head < this.counts.length ? this.base + this.head : undefined;
  }

  /** Whether a seq from `first` to `last` is pending. */
  anyIn(first: number, last: number): boolean {
    if (this.n === 0 || last < first) return false;
    for (const seq of this.far.keys()) {
      if (seq > last) return false;
      if (seq >= first) return true;
    }
    const to = Math.min(this.counts.length - 1, last - this.base);
    for (let i = Math.max(this.head, first - this.base); i <= to; i++) if (this.counts[i] > 0) return true;
    return false;
  }

  /** Every pending seq, ascending. */
  keys(): number[] {
    const out = [...this.far.keys()];
    for (let i = this.head; i < this.counts.length; i++) if (this.counts[i] > 0) out.push(this.base + i);
    return out;
  }

  clear(): void {
    this.counts = [];
    this.head = 0;
    this.base = 1;
    this.far.clear();
    this.n = 0;
  }

  /** Moves the head past settled slots and drops them from the array now and then. */
  private advance(): void {
    const c = this.counts;
    let h = this.head;
    while (h < c.length && c[h] === 0) h++;
    if (h === c.length) {
      this.base += h;
      c.length = 0;
      h = 0;
    } else if (h >= 1024 && h * 2 >= c.length) {
      this.counts = c.slice(h);
      this.base += h;
      h = 0;
    }
    this.head = h;
  }

  /** The array spans too many: its oldest pending entries move to the map until it spans half. */
  private spill(): void {
    const c = this.counts;
    const keep = this.span >> 1;
    while (c.length - this.head > keep) {
      const v = c[this.head];
      if (v > 0) {
        this.far.set(this.base + this.head, v);
        c[this.head] = 0;
      }
      this.head++;
    }
    this.advance();
  }
}
