/**
 * What an intake (nodes/lib/ingest/intake.ts) is configured with, what it
 * hands on, answers and reports.
 */
import type { FsyncPolicy } from '../journal/journal';
import type { PauseReason } from '../journal/gate';
import type { BackpressureError } from '../errors';
import type { Received } from './record';

/** Default disk budget of one input's journal: 1 GiB. */
export const DEFAULT_JOURNAL_BUDGET = 1024 * 1024 * 1024;
export const DEFAULT_HIGH_WATER = 5000;

/** A journaled message and its sequence number in the input's journal. */
export interface IntakeItem {
  rec: Received;
  seq: number;
}

export type RefusalReason = 'backlog' | 'disk' | 'journal' | 'closed';

export type SubmitResult = { accepted: number[] } | { refused: RefusalReason; retryAfterMs: number; error: BackpressureError };

export interface IntakeOptions {
  /** The input node's id: names the journal in receipts and in stats. */
  id: string;
  /** For messages and /health (the node's name, or its type). */
  name?: string;
  /** The journal's folder. */
  dir: string;
  /** Journal bytes at which the input pauses (default 1 GiB). */
  budgetBytes?: number;
  /** Unsettled messages at which the input pauses (default 5000; 0: no mark). */
  highWater?: number;
  /** Unsettled messages at or below which it resumes (default half the high-water mark). */
  lowWater?: number;
  /**
   * Unsettled readings at which the input pauses (default and 0: no such mark);
   * a message counts as one until decode weighs it (weighReceipt).
   */
  highWaterReadings?: number;
  /** Unsettled readings at or below which it resumes (default half that mark). */
  lowWaterReadings?: number;
  fsync?: FsyncPolicy;
  /** Journal segment size; default an eighth of the budget, at most 64 MiB. */
  segmentBytes?: number;
  /**
   * How often the journal is looked at for being idle (ms, default 30 s; 0: never): an input that journaled nothing
   * between two looks and has nothing unsettled cuts off its segment (Intake.cutIfIdle()).
   */
  idleCheckMs?: number;
  /** Messages per emit() call when replaying. */
  replayChunk?: number;
  /** What a refusal tells the sender to wait, per reason (ms). */
  retryAfterMs?: Partial<Record<RefusalReason, number>>;
  /** Journaled messages, in order; `replayed` for what the last run left unsettled. */
  emit(items: IntakeItem[], replayed: boolean): void;
  /** An unsettled record of the last run that cannot be read; default: settled (it can never be processed). */
  unreadable?(seq: number, data: Buffer, err: Error): void;
  /** The gate closed (true, with why) or opened again (false). */
  onPause?(paused: boolean, reason?: PauseReason): void;
  /** A journal write failed; nothing of that turn was acknowledged or accepted. */
  onWriteError?(err: Error): void;
  /** The first write that worked after a failure. */
  onRecovered?(): void;
  /** emit() threw (a bug downstream); the messages stay journaled and replay at the next start. */
  onEmitError?(err: unknown): void;
}

/** What /health and status show of an input (names agreed in the team notes). */
export interface IntakeStats {
  id: string;
  name?: string;
  /** Journal bytes on disk. */
  bytes: number;
  budgetBytes: number;
  /** Journaled messages not settled yet. */
  pending: number;
  /** Readings in them (a message counts as one until it is decoded). */
  pendingReadings: number;
  /** When the oldest unsettled message was received (epoch ms). */
  oldestUnsettledAt?: number;
  paused: boolean;
  /** When the gate closed (epoch ms). */
  pausedSince?: number;
  pauseReason?: PauseReason;
  /** Acknowledgements held by the gate. */
  heldAcks: number;
  /** Messages journaled since start (replays not counted). */
  received: number;
  /** submit() calls refused since start. */
  refused: number;
  /** The last journal write failure, while writes fail. */
  lastError?: string;
  /** When writes started failing (epoch ms), while they fail. */
  lastErrorSince?: number;
}

export const DEFAULT_RETRY: Record<RefusalReason, number> = { backlog: 1000, disk: 5000, journal: 5000, closed: 1000 };

