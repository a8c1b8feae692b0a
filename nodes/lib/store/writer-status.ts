/**
 * What a DurableWriter reports of itself: its counts, whether the sink is
 * failing and since when, the events that start and end an outage or name the
 * readings refused, and the stats() snapshot. Touched when a write fails or
 * readings are refused and when stats are asked for; the writer keeps the
 * batches' path and holds `counts` itself, so a batch reaches it no further.
 */
import type { DeadLetter } from './types';
import type { WriterEvent, WriterStats } from './writer-types';
import type { WriterSpool } from './writer-spool';
import type { WriteQueue } from './writer-queue';

/** The counts the writer keeps; the rest of WriterStats is read off the spool and queue when asked for. */
export type WriterCounts = Omit<WriterStats, 'spooled' | 'spoolBytes' | 'spoolBudget' | 'overBudget' | 'oldestAt' | 'writtenPerSec'>;

export class WriterStatus {
  readonly counts: WriterCounts = { written: 0, queued: 0, rejected: 0, retries: 0 };
  /** The outage a 'recovered' event ends (failingSince ends earlier: at the first write that succeeds). */
  outageSince: number | undefined;
  /** The sink was seen down (its health check failed, or a write after one that succeeded) since probed() last retried. */
  seenDown = false;

  constructor(private readonly onEvent?: (e: WriterEvent) => void) {}

  failing(err: Error): void {
    const c = this.counts;
    c.lastError = err.message;
    // Only a failure after a success counts as seen down: a retry that fails again waits for the backoff.
    if (c.failingSince === undefined) {
      c.failingSince = Date.now();
      this.seenDown = true;
    }
    if (this.outageSince === undefined) {
      this.outageSince = c.failingSince;
      this.onEvent?.({ type: 'spooling', error: err.message });
    }
  }

  /** A write went through: the sink is not failing, even while the spool still catches up. */
  succeeded(): void {
    this.counts.failingSince = undefined;
    this.counts.lastError = undefined;
  }

  recovered(): void {
    const since = this.outageSince;
    this.outageSince = undefined;
    this.succeeded();
    if (since !== undefined) this.onEvent?.({ type: 'recovered', downMs: Date.now() - since });
  }

  /** Neither the sink nor the spool took a batch: failing with the spool's error until a write to either goes through. */
  stalled(err: Error): void {
    this.counts.lastError = `cannot spool: ${err.message}`;
    this.counts.failingSince ??= Date.now();
  }

  /** Readings the sink refused, dead-lettered. */
  rejected(refused: DeadLetter[]): void {
    this.counts.rejected += refused.length;
    this.counts.lastRejected = refused[refused.length - 1].reason;
    this.onEvent?.({ type: 'rejected', count: refused.length, devices: [...new Set(refused.map((l) => l.device))].slice(0, 10), codes: [...new Set(refused.map((l) => l.code))], error: refused[0].reason });
  }

  /** Spool records of older versions carry no time: they count from `startedAt`, when this run read them. */
  snapshot(spool: WriterSpool, queue: WriteQueue, holding: boolean, writtenPerSec: number, startedAt: number): WriterStats {
    const s: WriterStats = { ...this.counts, spooled: spool.waiting, spoolBytes: spool.bytes(), spoolBudget: spool.budget, overBudget: holding, writtenPerSec };
    const head = spool.head();
    const spooledAt = head ? (head.t ?? startedAt) : undefined;
    const queuedAt = queue.oldestAt();
    const oldest = Math.min(spooledAt ?? Infinity, queuedAt ?? Infinity);
    if (Number.isFinite(oldest)) s.oldestAt = oldest;
    return s;
  }
}
