/**
 * When an input's journal cuts off its segment for being idle (Intake.cutIfIdle(), run by a timer): apart from
 * intake.ts, as it is never on a message's way.
 */
import type { Journal } from '../journal/journal';

export class IdleCut {
  /** The journal's last seq at the previous idle look, and at the last cut-off. */
  private seenSeq = -1;
  private cutSeq = -1;

  constructor(private readonly journal: Journal) {}

  /**
   * An input that journaled nothing since the last look, holds nothing for this turn's write (`holding` false)
   * and has every message settled cuts off its journal segment (Journal.dropIfSettled(), as a drained spool
   * does), once per quiet spell. Otherwise the settled messages of its last burst stay on disk, and in
   * /health's disk.journals, until the segment fills or a clean close. What is unsettled is never cut: the
   * checkpoint is written first, so a kill -9 after it replays nothing and numbers on from the same seq.
   */
  look(holding: boolean): void {
    const s = this.journal.stats();
    const quiet = s.lastSeq === this.seenSeq && !holding;
    this.seenSeq = s.lastSeq;
    if (!quiet || s.pending !== 0 || s.bytes === 0 || s.lastSeq === this.cutSeq) return;
    this.cutSeq = s.lastSeq;
    this.journal.dropIfSettled();
  }
}
