/** What the DurableWriter (writer.ts) takes and tells: its sink, options, events, stats and spool records. */
import type { Reading } from '../reading';
import type { DeadLetter, ReadingSink } from './types';

/** The sink as the writer uses it: dead letters only where the sink keeps them (or another target does). */
export type WriterSink = Omit<ReadingSink, 'kind'> & { readonly kind?: string; writeDeadLetters?(letters: DeadLetter[]): Promise<void> };

export type Durable = (err?: Error) => void;

/** Where the readings a sink refuses go as dead letters when the sink keeps none itself (e.g. the primary store's writer). */
export interface DeadLetterTarget {
  writeDeadLetters(letters: DeadLetter[], durable: Durable): void;
}

/** What changed, once per change: a node turns these into log lines. */
export type WriterEvent =
  /** The sink became unavailable: writes go to the spool until it is back. */
  | { type: 'spooling'; error: string }
  /** The spool is drained and the sink takes writes again. */
  | { type: 'recovered'; downMs: number }
  /** Readings the sink refused were dead-lettered, under `codes` (STORE_REJECTED, BEYOND_RETENTION). */
  | { type: 'rejected'; count: number; devices: string[]; codes: string[]; error: string }
  /** The spool reached its disk budget (new writes are held, not reported durable), or has room again. */
  | { type: 'budget'; full: boolean; bytes: number; budget: number };

export interface WriterOptions {
  /** Sets minWrite (a quarter of it) and maxWrite (10 ×) unless they are given (default 1000). */
  batchSize?: number;
  /**
   * While readings keep coming, a write starts once this many are queued and no
   * write runs (default a quarter of batchSize); fewer wait for flushMs after the
   * last write started. Each write has a fixed cost (a statement, a commit), so
   * this bounds the writes per second under a steady trickle.
   */
  minWrite?: number;
  /** The most readings one sink write takes (default 10 × batchSize); larger messages go in parts. */
  maxWrite?: number;
  /** The most field values (rows) one sink write takes (default 100,000), so wide readings make smaller writes. */
  maxWriteRows?: number;
  /** Flush at least this often while anything is queued; a write after a quiet spell this long starts at once. */
  flushMs?: number;
  /**
   * After a write of at least minWrite readings, what is queued below minWrite (left from
   * it or coming after it) is written once nothing new has come for this long (at the
   * latest flushMs after that write started), instead of waiting for flushMs (default:
   * off). For sinks with a long flushMs, so a burst's last readings are not held for it.
   */
  quietMs?: number;
  /** First retry delay after an outage; doubles up to maxRetryMs, each delay with up to `jitter` of it added at random. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Share of a retry delay added at random (default 0.2), so many writers do not retry in step after an outage. */
  jitter?: number;
  /** The random source of the jitter, a number in [0, 1) (default Math.random). */
  random?: () => number;
  /** Where refused readings are dead-lettered; default the sink itself. */
  deadLetters?: DeadLetterTarget;
  /**
   * Disk the spool may take (default 1 GiB). At the budget new writes are held
   * in memory and not reported durable, so the inputs' journals keep them and
   * their backpressure slows the devices down; nothing is dropped.
   */
  spoolBudgetBytes?: number;
  /** Which sink this writer writes to, for refusals while its spool is at its budget (e.g. `the influxdb sink "influx"`). */
  label?: string;
  onEvent?: (e: WriterEvent) => void;
}

export interface WriterStats {
  /** Readings written to the sink since start. */
  written: number;
  /** Readings queued in memory, waiting for the next flush. */
  queued: number;
  /** Readings (and dead letters) waiting in the spool for the sink to come back. */
  spooled: number;
  /** Readings the sink refused and that were dead-lettered (STORE_REJECTED) since start. */
  rejected: number;
  /** The last sink error, while the sink is failing. */
  lastError?: string;
  /** Why the sink refused the last dead-lettered reading. */
  lastRejected?: string;
  /** Epoch ms since when the sink has been unavailable; absent while it takes writes. */
  failingSince?: number;
  /** Bytes the spool takes on disk. */
  spoolBytes: number;
  /** The spool's disk budget in bytes. */
  spoolBudget: number;
  /** True while the spool is at its budget and new writes are held (not reported durable). */
  overBudget: boolean;
  /** Attempts to write the spool again after an outage, since start. */
  retries: number;
  /** Epoch ms when the oldest reading not yet in the sink (queued or spooled) was handed to the writer. */
  oldestAt?: number;
  /** Readings written to the sink per second, over the last 10 seconds. */
  writtenPerSec: number;
}

/** One write() call: its readings leave in order, possibly over several sink writes. */
export interface Pending {
  readings: Reading[];
  /** Readings already taken into a sink write. */
  taken: number;
  durable: Durable;
  /** Told once all its readings are in a sink (or spool) write that has started. */
  onTaken?: () => void;
  /** The first failure of any of its parts; reported once the last part is through. */
  err?: Error;
  /** When it was handed to the writer (epoch ms). */
  at: number;
}

export interface SpoolRecord {
  r?: Reading[];
  d?: DeadLetter[];
  /** When the oldest of its readings was handed to the writer (epoch ms). */
  t?: number;
}

/** How a batch ended: all of it handled (stored or dead-lettered), or an outage and what is left for the spool. */
export type Outcome = { outage?: undefined } | { outage: Error; left: SpoolRecord };
