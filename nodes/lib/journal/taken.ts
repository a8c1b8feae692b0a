/**
 * Unsettled journal entries that a store write has taken: their data is in a
 * write that has not committed yet. They stay unsettled (a crash replays them)
 * but no longer hold the input back by its marks (messages and readings), so
 * the next ones arrive while the write runs (nodes/lib/journal/gate.ts counts
 * the rest; ceilings on all unsettled messages and readings keep memory bounded).
 *
 * An entry owed several shares (one message sent on to several stores) counts
 * as taken only once every share still owed is taken; a share settled without
 * being taken first (a dead letter) keeps it counted until the entry settles.
 */
export class TakenEntries {
  /** Taken entries and the readings each was counted with when taken. */
  private readonly entries = new Map<number, number>();
  /** Entries with several shares, some taken: the shares not taken yet. */
  private readonly partial = new Map<number, number>();
  /** Sum of the readings of the taken entries. */
  readings = 0;

  /** Entries taken, or partly taken. */
  get size(): number {
    return this.entries.size + this.partial.size;
  }

  /** Entries taken whole (every share owed): what the messages mark no longer counts. */
  get whole(): number {
    return this.entries.size;
  }

  /**
   * One share of seq, owed `owed` shares in all and holding `readings`
   * readings, is taken. True when that makes the whole entry taken.
   */
  take(seq: number, owed: number, readings: number): boolean {
    if (this.entries.has(seq)) return false;
    if (owed > 1 || this.partial.has(seq)) {
      const left = (this.partial.get(seq) ?? owed) - 1;
      if (left > 0) {
        this.partial.set(seq, left);
        return false;
      }
      this.partial.delete(seq);
    }
    this.entries.set(seq, readings);
    this.readings += readings;
    return true;
  }

  /** seq owes `extra` more shares (split after a share was taken): those must be taken too. */
  hold(seq: number, extra: number): void {
    const left = this.partial.get(seq);
    if (left !== undefined) this.partial.set(seq, left + extra);
    else if (this.entries.has(seq)) {
      this.readings -= this.entries.get(seq)!;
      this.entries.delete(seq);
      this.partial.set(seq, extra);
    }
  }

  /** seq is settled: it no longer counts. */
  settled(seq: number): void {
    const r = this.entries.get(seq);
    if (r !== undefined) {
      this.entries.delete(seq);
      this.readings -= r;
    }
    this.partial.delete(seq);
  }

  clear(): void {
    this.entries.clear();
    this.partial.clear();
    this.readings = 0;
  }
}
