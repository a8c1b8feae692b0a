/**
 * How long the oldest unsettled journal entry has waited. Journal records carry
 * no time, so a one-second sampler notes when each sequence number was first
 * seen; the age of the oldest pending entry is then known to within a second
 * without adding anything to the append path.
 */

export interface JournalLevel {
  /** Unsettled entries. */
  pending: number;
  /** Bytes on disk. */
  bytes: number;
  /** Highest sequence number appended so far. */
  lastSeq: number;
  /** Lowest unsettled sequence number, when any is pending. */
  oldestPending: number | undefined;
}

interface Track {
  /** When this journal was first sampled: entries older than that are at least this old. */
  since: number;
  /** (lastSeq, the last time it was the newest), oldest first. */
  seqs: number[];
  times: number[];
}

const MAX_SAMPLES = 86_400;

export class JournalAges {
  private readonly tracks = new Map<string, Track>();

  /** Notes the journal's newest sequence number at `now`, and forgets samples no pending entry needs. */
  sample(id: string, level: JournalLevel, now: number): void {
    let t = this.tracks.get(id);
    if (!t || level.lastSeq < (t.seqs[t.seqs.length - 1] ?? 0)) {
      // New, or reopened with fewer entries: what came before is unknown.
      t = { since: now, seqs: [], times: [] };
      this.tracks.set(id, t);
    }
    // Each sample holds the last time its sequence number was still the newest.
    if (t.seqs.length === 0 || t.seqs[t.seqs.length - 1] !== level.lastSeq) {
      t.seqs.push(level.lastSeq);
      t.times.push(now);
    } else {
      t.times[t.times.length - 1] = now;
    }
    // Keep the first sample that covers the oldest pending entry and everything after it.
    const oldest = level.oldestPending ?? level.lastSeq + 1;
    let drop = 0;
    while (drop < t.seqs.length - 1 && t.seqs[drop] < oldest) drop++;
    if (t.seqs.length - drop > MAX_SAMPLES) drop = t.seqs.length - MAX_SAMPLES;
    if (drop > 0) {
      if (t.seqs[drop - 1] < oldest) t.since = Math.max(t.since, t.times[drop - 1]);
      t.seqs.splice(0, drop);
      t.times.splice(0, drop);
    }
  }

  /** Seconds the oldest pending entry has waited (0 when none is pending). */
  oldestAge(id: string, level: JournalLevel, now: number): number {
    if (level.oldestPending === undefined || level.pending === 0) return 0;
    const t = this.tracks.get(id);
    if (!t) return 0;
    const i = t.seqs.findIndex((s) => s >= level.oldestPending!);
    // Appended after the sample before the first one that shows it (not sampled yet: after the last).
    const seen = i === 0 ? t.since : i === -1 ? (t.times[t.times.length - 1] ?? t.since) : t.times[i - 1];
    return Math.max(0, (now - seen) / 1000);
  }

  forget(keep: ReadonlySet<string>): void {
    for (const id of this.tracks.keys()) if (!keep.has(id)) this.tracks.delete(id);
  }
}
