/** Errors of the stores and the journal: outages, refusals of data, retention. */
import { UpperstackError, shiftQuoted } from './base';

/** The store cannot be reached or written right now; the caller should spool and retry. */
export class StoreUnavailableError extends UpperstackError {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, {}, options);
  }
}

/** The store rejected the data itself (retrying will not help). */
export class StoreFailedError extends UpperstackError {
  override readonly name = 'StoreFailedError';
  /** `details.quoted`: the values of the reading that the message shows (base.ts QuotedValue), when it shows any. */
  constructor(message: string, options?: { cause?: unknown }, details: Record<string, unknown> = {}) {
    super('STORE_FAILED', message, details, options);
  }
}

/**
 * A sink refused one reading for what is in it (the batch around it was stored).
 * The code of the dead letter that records it.
 */
export class StoreRejectedError extends UpperstackError {
  override readonly name = 'StoreRejectedError';
  /** `quoted`: where the values `reason` shows stand in it (the sink's error's `details.quoted`); they move with the text. */
  constructor(sink: string, device: string, reason: string, quoted?: unknown) {
    // The first paragraph: databases append advice (DuckDB's "Possible solutions") that is noise in a dead letter.
    const first = reason.split(/\n\s*\n/)[0];
    const why = first.trim().slice(0, 2000);
    const before = `the ${sink} store refused this reading of device "${device.slice(0, 128)}": `;
    // Places past the cut are left for the reader (reason-redaction quotedIn) to drop; those before the trim go negative.
    const moved = quoted === undefined ? {} : shiftQuoted({ quoted }, before.length - (first.length - first.trimStart().length));
    super('STORE_REJECTED', `${before}${why}`, { sink, device, ...moved });
  }
}

/**
 * A sink refuses readings of a write for their age alone: they are older than
 * it keeps (its retention). Nothing of the write was stored. The sink names
 * every reading it refuses for that (`indexes` into the write), so the writer
 * dead-letters them together and writes the rest, instead of isolating them
 * one by one. `cutoff` (epoch ms) is the boundary the sink applies.
 */
export class RetentionRefusedError extends UpperstackError {
  override readonly name = 'RetentionRefusedError';
  readonly indexes: readonly number[];
  readonly cutoff: number;
  /** Why, for every refused reading: completes "… at <time> is older than …". */
  readonly why: string;
  constructor(sink: string, indexes: number[], cutoff: number, why: string) {
    super('BEYOND_RETENTION', `the ${sink} store refused ${indexes.length} reading(s) older than it keeps (cutoff ${new Date(cutoff).toISOString()}): ${why}`, { sink, cutoff, count: indexes.length });
    this.indexes = indexes;
    this.cutoff = cutoff;
    this.why = why;
  }

  /** The dead letter's reason for one of the refused readings. */
  reasonFor(device: string, ts: number): string {
    const at = Number.isFinite(ts) ? new Date(ts).toISOString() : String(ts);
    return `the ${String(this.details.sink)} store refused this reading of device "${device.slice(0, 128)}" at ${at}: it is older than the store keeps (cutoff ${new Date(this.cutoff).toISOString()}); ${this.why}`;
  }
}

export class JournalError extends UpperstackError {
  override readonly name = 'JournalError';
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('JOURNAL_FAILED', message, details, options);
  }
}
