/**
 * The anomaly engine in a worker thread: readings batched to it, results
 * rebuilt from what it sends back; a worker that dies fails the batches it held
 * and is started again from the state file it saved last, with backoff (see host.ts).
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { BackpressureError, EngineStoppedError, StateSaveError } from '../../errors';
import type { Reading } from '../../reading';
import type { EngineState, EngineStats, ReadingResult } from '../engine';
import { decodeFlagged, decodeResults, encodeReadings, flaggedOf, sliceFlagged, type FlaggedResults, type FromWorker, type ReadingBatch, type ToWorker } from './protocol';
import type { SavedStateFile } from '../state-file';
import { DEFAULT_MAX_QUEUED, type EngineHost, type HostCondition, type HostOptions, type SavedEngineState } from './host-types';

/** Readings per postMessage at most; more wait for the next batch. */
const MAX_BATCH = 4096;
/**
 * How long the first reading of a batch waits for others to join it. A
 * postMessage costs both threads tens of microseconds, judging a reading a
 * few: at 10,000 readings/s a batch per turn of the event loop held one or
 * two readings, and the hand-over cost more than the judging. Verdicts are
 * not on the way to the store, so a few milliseconds are not felt.
 */
const BATCH_WAIT_MS = 5;
/** A batch this large goes at once, without waiting. */
const FULL_BATCH = 256;
const MAX_BACKOFF_MS = 30_000;
const CLOSE_WAIT_MS = 10_000;
const YOUNG_GENERATION_MB = 8;

function backlog(queued: number, max: number): BackpressureError {
  return new BackpressureError(`the anomaly engine is ${queued} readings behind (at most ${max} wait); this message was not judged`, { reason: 'backlog', retryAfterMs: 1000, queued, maxQueued: max });
}

interface Part {
  readings: readonly Reading[];
  /** Only the anomalous readings' results are wanted (processFlagged). */
  flaggedOnly: boolean;
  resolve(r: ReadingResult[] | FlaggedResults): void;
  reject(err: Error): void;
}

/** A batch in the worker: the messages it holds and what was sent (its counts and names, to rebuild the results). */
interface Inflight {
  parts: Part[];
  readings: readonly Reading[];
  batch: ReadingBatch;
  /** Every part wants only the anomalous readings: the worker words no other reason. */
  flaggedOnly: boolean;
}

/** The engine in a worker thread. */
export class WorkerEngineHost implements EngineHost {
  readonly mode = 'worker' as const;
  private worker: Worker | null = null;
  private ready = false;
  private closing = false;
  /** Handed over, not yet posted: they go with the next batch. */
  private waiting: Part[] = [];
  private waitingCount = 0;
  private readonly inflight = new Map<number, Inflight>();
  private readonly saves = new Map<number, { resolve(s: SavedStateFile): void; reject(err: Error): void }>();
  private readonly calls = new Map<number, { resolve(v: unknown): void; reject(err: Error): void }>();
  private nextId = 1;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private last: EngineStats = { series: 0, devices: 0, offline: 0, evicted: 0 };
  /** State given to start() (saved by an earlier version), until a save to the state file replaces it. */
  private given: SavedEngineState | undefined;
  private crashesInARow = 0;
  /** Since when the worker has been down or crash-looping, and why it last stopped (HostCondition). */
  private troubleSince: number | undefined;
  private lastCrash: string | undefined;
  /** When the running worker became ready. */
  private upSince: number | undefined;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private drained: (() => void) | null = null;
  queued = 0;
  restarts = 0;
  private readonly maxQueued: number;

  constructor(
    private readonly o: HostOptions,
    /** The compiled worker script; tests may point elsewhere. */
    private readonly script = join(__dirname, 'worker.js'),
  ) {
    this.maxQueued = o.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  /** Rejects when the worker cannot be started at all (worker threads unavailable): use InProcessEngineHost then. */
  start(state?: SavedEngineState): Promise<{ restoreError?: string }> {
    this.given = state;
    return this.spawn();
  }

  private spawn(): Promise<{ restoreError?: string }> {
    return new Promise((resolve, reject) => {
      let started = false;
      // Judging leaves short-lived garbage (verdicts, reasons) at a high rate; a small young generation
      // collects it sooner, about 25 MB less resident at the same CPU (measured: 87 vs 110-118 MB peak).
      const w = new Worker(this.script, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
      this.worker = w;
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          started = true;
          this.ready = true;
          this.upSince = Date.now();
          this.last = m.stats;
          resolve(m.restoreError ? { restoreError: m.restoreError } : {});
          this.flush();
          return;
        }
        this.receive(m);
      });
      w.on('error', (err) => {
        if (!started) reject(err);
        else this.crashed(w, err);
      });
      w.on('exit', (code) => {
        if (!started) reject(new EngineStoppedError(`the anomaly worker exited with code ${code} before it started`));
        else this.crashed(w, new EngineStoppedError(`the anomaly worker exited with code ${code}`));
      });
      const init: ToWorker = { type: 'init', options: this.o.engine, stateFile: this.o.stateFile, state: this.given, heartbeatEveryMs: this.o.heartbeatEveryMs };
      w.postMessage(init);
    });
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'results': {
        const sent = this.inflight.get(m.id);
        if (!sent) return;
        this.inflight.delete(m.id);
        this.last = m.stats;
        this.crashesInARow = 0;
        this.troubleSince = undefined;
        this.lastCrash = undefined;
        const parts = sent.parts;
        if (sent.flaggedOnly) {
          const flagged = decodeFlagged(sent.readings, sent.batch, m.results);
          const k = { k: 0 };
          let at = 0;
          for (const p of parts) {
            const n = p.readings.length;
            this.queued -= n;
            p.resolve(parts.length === 1 ? flagged : sliceFlagged(flagged, at, n, k));
            at += n;
          }
        } else {
          const results = decodeResults(sent.readings, sent.batch, m.results);
          let at = 0;
          for (const p of parts) {
            const n = p.readings.length;
            this.queued -= n;
            const mine = parts.length === 1 ? results : results.slice(at, at + n);
            p.resolve(p.flaggedOnly ? flaggedOf(mine) : mine);
            at += n;
          }
        }
        // What arrived meanwhile goes now, as one batch.
        if (this.inflight.size === 0) this.flush();
        this.checkDrained();
        return;
      }
      case 'failed': {
        const sent = this.inflight.get(m.id);
        if (!sent) return;
        this.inflight.delete(m.id);
        for (const p of sent.parts) {
          this.queued -= p.readings.length;
          p.reject(new EngineStoppedError(`the anomaly engine failed on this message: ${m.message}`));
        }
        if (this.inflight.size === 0) this.flush();
        this.checkDrained();
        return;
      }
      case 'saved':
      case 'saveFailed': {
        const s = this.saves.get(m.id);
        this.saves.delete(m.id);
        if (m.type === 'saveFailed') {
          // The worker's StateSaveError, which cannot cross the thread as it is.
          s?.reject(new StateSaveError(m.message, { file: this.o.stateFile ?? '' }));
          return;
        }
        // A restart now starts from the file.
        this.given = undefined;
        s?.resolve(m.saved);
        return;
      }
      case 'heartbeats':
        this.last = m.stats;
        this.o.events.onHeartbeats(m.events);
        return;
      case 'reply':
      case 'replyError': {
        const c = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (m.type === 'reply') {
          this.last = m.stats;
          c?.resolve(m.value);
        } else c?.reject(new EngineStoppedError(`the anomaly engine could not do this: ${m.message}`));
        return;
      }
      default:
        return;
    }
  }

  private crashed(w: Worker, err: Error): void {
    if (w !== this.worker) return;
    // A crash of a worker that was judging starts a new run of trouble; one while down or looping continues it.
    const now = Date.now();
    if (this.condition(now).state === 'running') this.troubleSince = now;
    this.lastCrash = err.message;
    this.worker = null;
    this.ready = false;
    this.upSince = undefined;
    void w.terminate().catch(() => undefined);
    const lost = new EngineStoppedError(`the anomaly worker stopped while judging this message (${err.message}); it restarts from the state saved last`, { cause: err });
    for (const { parts } of this.inflight.values()) {
      for (const p of parts) {
        this.queued -= p.readings.length;
        p.reject(lost);
      }
    }
    this.inflight.clear();
    for (const s of this.saves.values()) s.reject(lost);
    this.saves.clear();
    for (const c of this.calls.values()) c.reject(lost);
    this.calls.clear();
    if (this.closing) {
      this.checkDrained();
      return;
    }
    const delay = this.crashesInARow === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 500 * 2 ** (this.crashesInARow - 1));
    this.crashesInARow++;
    this.o.events.onCrash?.(err, delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closing) return;
      this.restarts++;
      this.spawn().then(
        () => this.o.events.onRestart?.(),
        (e: Error) => this.crashed(this.worker ?? w, e),
      );
    }, delay);
  }

  /** Up after a second crash in a row, for less than the longest backoff, and nothing judged since. */
  private looping(now: number): boolean {
    return this.crashesInARow >= 2 && (this.upSince === undefined || now - this.upSince < MAX_BACKOFF_MS);
  }

  condition(now = Date.now()): HostCondition {
    const base = { restarts: this.restarts, crashesInARow: this.crashesInARow };
    if (this.closing || this.lastCrash === undefined) return { state: 'running', ...base };
    if (!this.ready) return { state: 'down', ...base, lastError: this.lastCrash, since: this.troubleSince };
    if (this.looping(now)) return { state: 'looping', ...base, lastError: this.lastCrash, since: this.troubleSince };
    return { state: 'running', ...base };
  }

  process(readings: readonly Reading[]): Promise<ReadingResult[]> {
    return this.enqueue<ReadingResult[]>(readings, false, []);
  }

  processFlagged(readings: readonly Reading[]): Promise<FlaggedResults> {
    return this.enqueue<FlaggedResults>(readings, true, { index: [], results: [], judged: false });
  }

  private enqueue<T extends ReadingResult[] | FlaggedResults>(readings: readonly Reading[], flaggedOnly: boolean, none: T): Promise<T> {
    if (this.closing) return Promise.reject(new BackpressureError('the anomaly node is closing; this message was not judged', { reason: 'closed', retryAfterMs: 1000 }));
    if (readings.length === 0) return Promise.resolve(none);
    if (this.queued > 0 && this.queued + readings.length > this.maxQueued) return Promise.reject(backlog(this.queued, this.maxQueued));
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ readings, flaggedOnly, resolve: resolve as (r: ReadingResult[] | FlaggedResults) => void, reject });
      this.waitingCount += readings.length;
      this.queued += readings.length;
      // A batch waits BATCH_WAIT_MS for more readings, and while the worker judges one, what arrives
      // waits for its results and goes as the next: the busier the node, the larger the batches.
      if (this.waitingCount >= MAX_BATCH || (this.inflight.size === 0 && this.waitingCount >= FULL_BATCH)) this.flush();
      else if (this.inflight.size === 0 && !this.flushTimer) {
        this.flushTimer = setTimeout(() => {
          this.flushTimer = null;
          this.flush();
        }, BATCH_WAIT_MS);
      }
    });
  }

  private flush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (!this.ready || !this.worker || this.waiting.length === 0) return;
    const parts = this.waiting;
    this.waiting = [];
    this.waitingCount = 0;
    const id = this.nextId++;
    const readings = parts.length === 1 ? parts[0].readings : parts.flatMap((p) => p.readings);
    const batch = encodeReadings(readings);
    let flaggedOnly = true;
    for (const p of parts) if (!p.flaggedOnly) flaggedOnly = false;
    this.inflight.set(id, { parts, readings, batch, flaggedOnly });
    const m: ToWorker = { type: 'batch', id, now: Date.now(), batch, flaggedOnly };
    // Copied, not handed over: the results are rebuilt against it.
    this.worker.postMessage(m);
  }

  stats(): EngineStats {
    return this.last;
  }

  save(): Promise<SavedStateFile | undefined> {
    if (!this.o.stateFile || !this.ready || !this.worker) return Promise.resolve(undefined);
    // After what is waiting, so the save holds every reading handed over so far.
    this.flush();
    const id = this.nextId++;
    const w = this.worker;
    return new Promise<SavedStateFile>((resolve, reject) => {
      this.saves.set(id, { resolve, reject });
      const m: ToWorker = { type: 'save', id };
      w.postMessage(m);
    });
  }

  /** Sent after every reading handed over so far, so the worker answers on the state they left. */
  private call(m: { op: 'devices' } | { op: 'export' | 'forget'; devices: string[] } | { op: 'import'; state: EngineState }): Promise<unknown> {
    if (!this.ready || !this.worker) return Promise.reject(new EngineStoppedError('the anomaly worker is not running (it is restarting)'));
    this.flush();
    const id = this.nextId++;
    const w = this.worker;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      w.postMessage({ type: 'call', id, ...m } as ToWorker);
    });
  }

  async exportDevices(keep: (device: string) => boolean): Promise<EngineState> {
    const names = (await this.call({ op: 'devices' })) as string[];
    return (await this.call({ op: 'export', devices: names.filter(keep) })) as EngineState;
  }

  async importDevices(state: EngineState): Promise<void> {
    await this.call({ op: 'import', state });
  }

  async forgetDevices(drop: (device: string) => boolean): Promise<number> {
    const names = (await this.call({ op: 'devices' })) as string[];
    const chosen = names.filter(drop);
    return chosen.length ? ((await this.call({ op: 'forget', devices: chosen })) as number) : 0;
  }

  private checkDrained(): void {
    if (this.drained && this.inflight.size === 0 && (this.waiting.length === 0 || !this.worker)) this.drained();
  }

  async close(save = true): Promise<SavedStateFile | undefined> {
    this.closing = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.flush();
    if (this.inflight.size > 0 && this.worker) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, CLOSE_WAIT_MS);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.drained = null;
    // Messages that never reached a worker (it was down) are not judged.
    for (const p of this.waiting) p.reject(new BackpressureError('the anomaly node closed before this message could be judged', { reason: 'closed', retryAfterMs: 1000 }));
    this.waiting = [];
    let saved: SavedStateFile | undefined;
    let failed: unknown;
    if (save) {
      // A worker that does not answer in time is stopped anyway: the file keeps its last whole save.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), CLOSE_WAIT_MS);
      });
      saved = await Promise.race([this.save(), timeout])
        .catch((err: unknown) => {
          failed = err;
          return undefined;
        })
        .finally(() => clearTimeout(timer));
    }
    const w = this.worker;
    this.worker = null;
    this.ready = false;
    if (w) await w.terminate();
    if (failed) throw failed;
    return saved;
  }
}
