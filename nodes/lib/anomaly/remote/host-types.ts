/** What an anomaly engine host is, for the node and both hosts (host.ts in-process, worker-host.ts in a worker thread). */
import type { Reading } from '../../reading';
import type { AnomalyEngineOptions, EngineState, EngineStats, ReadingResult } from '../engine';
import type { HeartbeatEvent } from '../heartbeat';
import type { FlaggedResults } from './protocol';

export interface HostEvents {
  /** Devices that have just gone silent. */
  onHeartbeats(events: HeartbeatEvent[]): void;
  /** The worker stopped unexpectedly; it is started again in `restartInMs`. */
  onCrash?(err: Error, restartInMs: number): void;
  /** A restarted worker is judging again (from the last snapshot). */
  onRestart?(): void;
}

export interface HostOptions {
  engine: Omit<AnomalyEngineOptions, 'clock'>;
  /** How often heartbeats are checked; null when heartbeats are off. */
  heartbeatEveryMs: number | null;
  /** Readings waiting to be judged before new messages are refused (default 50,000). */
  maxQueued?: number;
  events: HostEvents;
}

/**
 * Saved engine state: the EngineState, or its JSON text, which is what snapshot()
 * and close() give: the worker writes it, so the main thread neither copies the
 * state's objects across nor writes them out (tens of MB with thousands of series).
 */
export type SavedEngineState = EngineState | string;

/** Saved state as JSON text. */
export function stateText(state: SavedEngineState | undefined): string | undefined {
  return state === undefined || typeof state === 'string' ? state : JSON.stringify(state);
}

/** Saved state as an EngineState; throws on JSON text that is not one. */
export function stateOf(state: SavedEngineState): EngineState {
  return typeof state === 'string' ? (JSON.parse(state) as EngineState) : state;
}

export interface EngineHost {
  readonly mode: 'worker' | 'in-process';
  /** Starts the engine, from saved state when given; says why saved state could not be used. */
  start(state?: SavedEngineState): Promise<{ restoreError?: string }>;
  /** The engine's result for each reading, in order. */
  process(readings: readonly Reading[]): Promise<ReadingResult[]>;
  /**
   * Judges the readings like process() but gives only the anomalous ones'
   * results: for a node that passes nothing else on. The others' reasons are
   * never worded and no object is made for them.
   */
  processFlagged(readings: readonly Reading[]): Promise<FlaggedResults>;
  /** As of the last batch judged. */
  stats(): EngineStats;
  /** Readings handed over and not yet judged. */
  readonly queued: number;
  /** Times the worker has been restarted after dying. */
  readonly restarts: number;
  /** The engine's state as JSON text, for saving; the last one taken when the worker is down (undefined if none yet). */
  snapshot(): Promise<string | undefined>;
  /** The state of the devices `keep` accepts, after every reading handed over so far (for handing devices to another engine). */
  exportDevices(keep: (device: string) => boolean): Promise<EngineState>;
  /** Takes over devices another engine exported; what this one held for them is replaced. */
  importDevices(state: EngineState): Promise<void>;
  /** Drops the devices `drop` accepts; resolves with how many. */
  forgetDevices(drop: (device: string) => boolean): Promise<number>;
  /** Waits for what was handed over, then stops; resolves with the final state to save, as JSON text (undefined when none is known). */
  close(): Promise<string | undefined>;
}

export const DEFAULT_MAX_QUEUED = 50_000;
