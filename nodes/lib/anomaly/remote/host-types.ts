/** What an anomaly engine host is, for the node and both hosts (host.ts in-process, worker-host.ts in a worker thread). */
import type { Reading } from '../../reading';
import { AnomalyEngine, type AnomalyEngineOptions, type EngineState, type EngineStats, type ReadingResult } from '../engine';
import type { HeartbeatEvent } from '../heartbeat';
import { readStateFile, type SavedStateFile } from '../state-file';
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
  /**
   * Where the engine saves its state (state-file.ts) and starts from: written and read where the
   * engine runs. Without one, save() saves nothing.
   */
  stateFile?: string;
  /** Readings waiting to be judged before new messages are refused (default 50,000). */
  maxQueued?: number;
  events: HostEvents;
}

/**
 * State saved in the node's context by earlier versions: the EngineState, or its
 * JSON text. Read once, when there is no state file yet.
 */
export type SavedEngineState = EngineState | string;

/** Saved state as an EngineState; throws on JSON text that is not one. */
export function stateOf(state: SavedEngineState): EngineState {
  return typeof state === 'string' ? (JSON.parse(state) as EngineState) : state;
}

/**
 * The engine a host starts from: the state file when there is one (the newest save; a worker restarted
 * after a crash reads it too), else `given` (what an earlier version kept in the node's context); undefined
 * when there is neither. Throws when the state found cannot be used (the host reports it as restoreError).
 */
export function savedEngine(stateFile: string | undefined, given: SavedEngineState | undefined, options: AnomalyEngineOptions): AnomalyEngine | undefined {
  const fromFile = stateFile ? readStateFile(stateFile, options) : undefined;
  if (fromFile || !given) return fromFile;
  return AnomalyEngine.fromJSON(stateOf(given), options);
}

/**
 * Whether the engine's worker is judging, for /health. A worker that crashes again soon after each
 * restart (a crash loop) is up only for moments between its backoff waits; so after a second crash in
 * a row it counts as crash-looping until it judges a batch or stays up for the longest backoff.
 */
export interface HostCondition {
  /** down: crashed and not started again yet; looping: up, but crash-looping as above. */
  state: 'running' | 'down' | 'looping';
  /** Times the worker has been started again after dying. */
  restarts: number;
  /** Crashes without a batch judged in between. */
  crashesInARow: number;
  /** Why the worker last stopped, while down or looping. */
  lastError?: string;
  /** Since when (epoch ms) it has been down or looping: the first crash of the run. */
  since?: number;
}

export interface EngineHost {
  readonly mode: 'worker' | 'in-process';
  /** Whether the engine is judging or its worker is down (nodes/anomaly registers it with /health). */
  condition(now?: number): HostCondition;
  /**
   * Starts the engine from the state file when there is one, else from `state` when given
   * (what an earlier version saved elsewhere); says why saved state could not be used.
   */
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
  /**
   * Saves the engine's state to the state file, after every reading handed over so far. Resolves
   * with what was written; undefined when there is no state file or the worker is restarting (the
   * file keeps the last save). Rejects when the file cannot be written.
   */
  save(): Promise<SavedStateFile | undefined>;
  /** The state of the devices `keep` accepts, after every reading handed over so far (for handing devices to another engine). */
  exportDevices(keep: (device: string) => boolean): Promise<EngineState>;
  /** Takes over devices another engine exported; what this one held for them is replaced. */
  importDevices(state: EngineState): Promise<void>;
  /** Drops the devices `drop` accepts; resolves with how many. */
  forgetDevices(drop: (device: string) => boolean): Promise<number>;
  /**
   * Waits for what was handed over, saves (unless `save` is false: the node was removed), then stops.
   * Rejects when the last save failed; the engine is stopped either way.
   */
  close(save?: boolean): Promise<SavedStateFile | undefined>;
}

export const DEFAULT_MAX_QUEUED = 50_000;
