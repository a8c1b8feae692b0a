/**
 * When the oldest unsettled message of an input was received, for /health:
 * pairs (first seq of a journal write, receive time) in ascending order, the
 * settled front dropped as the journal's oldest unsettled seq moves on.
 */
export class UnsettledAges {
  private ages: number[] = [];
  private head = 0;

  /** Messages from seq on were received at `at`; returns how many pairs are kept. */
  add(seq: number, at: number): number {
    this.ages.push(seq, at);
    return this.ages.length - this.head;
  }

  /** The receive time of the entry `oldest` (the journal's oldest unsettled seq; undefined: none). */
  oldest(oldest: number | undefined): number | undefined {
    if (oldest === undefined) {
      this.ages = [];
      this.head = 0;
      return undefined;
    }
    const a = this.ages;
    let h = this.head;
    while (h + 2 < a.length && a[h + 2] <= oldest) h += 2;
    if (h > 1024) {
      this.ages = a.slice(h);
      h = 0;
    }
    this.head = h;
    return h < this.ages.length ? this.ages[h + 1] : undefined;
  }
}
