/**
 * Where an anomaly engine runs for the node: in a worker thread (the default:
 * the main thread only batches readings and rebuilds verdicts) or in-process
 * (where worker threads are off or cannot start). Both take readings and
 * give back the engine's results in the same order, and both bound what is
 * waiting: past `maxQueued` readings a message is refused with a
 * BackpressureError instead of memory growing without limit.
 *
 * A worker that dies (a bug, out of memory) fails the batches it held with
 * EngineStoppedError and is started again from the state it saved last, sooner
 * the first time, then backing off up to 30 s while it keeps dying.
 *
 * Both save the engine's state to a file where the engine runs (../state-file.ts).
 */
import type { Reading } from '../../reading';
import { AnomalyEngine, type EngineState, type EngineStats, type ReadingResult } from '../engine';
import { HeartbeatTimer } from '../heartbeat';
import { writeStateFile, type SavedStateFile } from '../state-file';
import { flaggedOf, type FlaggedResults } from './protocol';
import { savedEngine, type EngineHost, type HostCondition, type HostOptions, type SavedEngineState } from './host-types';

export type { FlaggedResults } from './protocol';
export { DEFAULT_MAX_QUEUED, stateOf, type EngineHost, type HostCondition, type HostEvents, type HostOptions, type SavedEngineState } from './host-types';
export { WorkerEngineHost } from './worker-host';

/** The engine on the calling thread: what runs where worker threads are unavailable or turned off. */
export class InProcessEngineHost implements EngineHost {
  readonly mode = 'in-process' as const;
  readonly queued = 0;
  readonly restarts = 0;
  private engine: AnomalyEngine;
  private timer: HeartbeatTimer | null = null;

  constructor(private readonly o: HostOptions) {
    this.engine = new AnomalyEngine(o.engine);
  }

  condition(): HostCondition {
    return { state: 'running', restarts: 0, crashesInARow: 0 };
  }

  start(state?: SavedEngineState): Promise<{ restoreError?: string }> {
    let restoreError: string | undefined;
    try {
      this.engine = savedEngine(this.o.stateFile, state, this.o.engine) ?? this.engine;
    } catch (err) {
      restoreError = err instanceof Error ? err.message : String(err);
    }
    if (this.o.heartbeatEveryMs !== null) this.timer = new HeartbeatTimer(this.engine, (e) => this.o.events.onHeartbeats(e), this.o.heartbeatEveryMs).start();
    return Promise.resolve(restoreError ? { restoreError } : {});
  }

  process(readings: readonly Reading[]): Promise<ReadingResult[]> {
    return Promise.resolve(this.engine.process(readings));
  }

  processFlagged(readings: readonly Reading[]): Promise<FlaggedResults> {
    return Promise.resolve(flaggedOf(this.engine.process(readings)));
  }

  stats(): EngineStats {
    return this.engine.stats();
  }

  save(): Promise<SavedStateFile | undefined> {
    try {
      return Promise.resolve(this.o.stateFile ? writeStateFile(this.o.stateFile, this.engine) : undefined);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  exportDevices(keep: (device: string) => boolean): Promise<EngineState> {
    return Promise.resolve(this.engine.exportDevices(keep));
  }

  async importDevices(state: EngineState): Promise<void> {
    this.engine.importDevices(state);
  }

  async forgetDevices(drop: (device: string) => boolean): Promise<number> {
    return this.engine.forgetDevices(drop);
  }

  close(save = true): Promise<SavedStateFile | undefined> {
    this.timer?.stop();
    return save ? this.save() : Promise.resolve(undefined);
  }
}
