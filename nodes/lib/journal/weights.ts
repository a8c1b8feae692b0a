/**
 * Readings held by the journal's unsettled entries, for backpressure that
 * counts readings, not messages (nodes/lib/journal/gate.ts). Decode tells the
 * journal how many readings an entry holds (weigh) and how many it saw per
 * entry lately (decoded); an entry counts as one until then.
 */
export class ReadingWeights {
  /**
   * Readings beyond one per unsettled entry, as weigh() was told them. Only
   * entries with more than one reading are in the map, so single readings cost nothing.
   */
  private weights = new Map<number, number>();
  /** Sum of the map's values. */
  extra = 0;
  /**
   * Entries after this one are not decoded yet; they count as `perEntry`
   * readings each (the recent readings per decoded entry), so a burst that
   * decode has not reached yet does not look like one reading per message.
   */
  private decodedUpTo = 0;
  private perEntry = 1;

  /** The unsettled entry seq holds `readings` readings. */
  weigh(seq: number, readings: number): void {
    const extra = readings > 1 ? Math.floor(readings) - 1 : 0;
    const before = this.weights.get(seq) ?? 0;
    if (extra === before) return;
    if (extra === 0) this.weights.delete(seq);
    else this.weights.set(seq, extra);
    this.extra += extra - before;
  }

  /**
   * Entries up to `upTo` are decoded; the last ones decoded were `entries`
   * entries holding `readings` readings (weigh() has the exact count of each).
   */
  decoded(upTo: number, entries: number, readings: number): void {
    if (upTo > this.decodedUpTo) this.decodedUpTo = upTo;
    if (entries > 0 && readings >= 0) this.perEntry += (readings / entries - this.perEntry) * 0.25;
  }

  /**
   * Readings in `pending` unsettled entries, the newest numbered `lastSeq` and
   * all up to `settledUpTo` settled: weighed entries count what they hold,
   * others one, and entries not decoded yet the readings per entry decode saw lately.
   */
  readings(pending: number, lastSeq: number, settledUpTo: number): number {
    const n = pending + this.extra;
    if (this.perEntry <= 1) return n;
    const undecoded = lastSeq - Math.max(this.decodedUpTo, settledUpTo);
    return undecoded > 0 ? n + Math.round(undecoded * (this.perEntry - 1)) : n;
  }

  /** The readings unsettled entry seq counts as once decoded (one unless weighed). */
  of(seq: number): number {
    return 1 + (this.weights.get(seq) ?? 0);
  }

  /** seq is settled: its readings no longer count. */
  unweigh(seq: number): void {
    const extra = this.weights.get(seq);
    if (extra === undefined) return;
    this.weights.delete(seq);
    this.extra -= extra;
  }

  clear(): void {
    this.weights.clear();
    this.extra = 0;
    this.decodedUpTo = 0;
    this.perEntry = 1;
  }
}
