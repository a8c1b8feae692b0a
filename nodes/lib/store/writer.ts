/**
 * DurableWriter sits between the nodes and one sink. It batches readings (one
 * sink write per batch, not per message; what queued while a write ran goes
 * into the next one, up to maxWrite readings or maxWriteRows field values, and
 * a larger message is written in parts; fewer than minWrite wait for flushMs, or
 * after a backlog write, with quietMs, only until nothing new comes). A caller's callback fires only once
 * its data is durable: in the sink, in the spool, or dead-lettered; that is
 * when input journals may settle.
 *
 * Failures are told apart as the sink contract (types.ts) says:
 * - StoreUnavailableError (the sink cannot be written now): the batch goes to
 *   a spool on disk and is reported durable; the spool is retried in order with
 *   backoff, and new data queues behind it.
 * - anything else (StoreFailedError: the sink refuses what is in the data):
 *   the batch is split in halves until the readings the sink refuses are
 *   isolated; each is dead-lettered (STORE_REJECTED) with the sink's message
 *   and the rest is stored. A lone reading counts as refused only while the
 *   sink's own health check passes; if that fails too, the sink is down and the
 *   data is spooled. So nothing is retried forever for what is in it, and the
 *   spool is drained the same way.
 * - RetentionRefusedError (readings older than the sink keeps): the sink names
 *   each such reading up front, so they are dead-lettered together
 *   (BEYOND_RETENTION, with the cutoff) and the rest is written at once: a
 *   backfill of old readings does not go through the bisection one by one.
 *
 * The bisection and dead letters are in writer-refusals.ts, the queue of
 * write() calls and what one write takes of it in writer-queue.ts, the spool's
 * records and budget in writer-spool.ts, the options, events and stats in
 * writer-types.ts, the counts, outage state and events it reports in
 * writer-status.ts.
 */
import type { Reading } from '../reading';
import type { DeadLetter } from './types';
import type { Durable, Outcome, WriterOptions, WriterSink, WriterStats } from './writer-types';
import { Journal } from '../journal/journal';
import { StoreUnavailableError } from '../errors';
import { isolate, storeLetters } from './writer-refusals';
import { WriterSpool } from './writer-spool';
import { WriteQueue, tellTaken } from './writer-queue';
import { WriteRate } from './write-rate';
import { RETRY_DEFAULTS, RetrySchedule } from './writer-retry';
import { noteHolding } from './holding';
import { deadLettered } from '../metrics/pipeline';
import { WriterStatus, type WriterCounts } from './writer-status';

export type { DeadLetterTarget, Durable, WriterEvent, WriterOptions, WriterSink, WriterStats } from './writer-types';

const DEFAULT_SPOOL_BUDGET = 1024 * 1024 * 1024;

export class DurableWriter {
  private readonly queue: WriteQueue;
  private letters: DeadLetter[] = [];
  private lettersWaiting: Durable[] = [];
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly spool: WriterSpool;
  /** Readings written in each of the last 10 seconds (by second % 10), for writtenPerSec. */
  private readonly rate = new WriteRate();
  private readonly retry: RetrySchedule;
  private draining = false;
  /** Tries again a batch neither the sink nor the spool took (a full disk): see stall(). */
  private readonly stallRetry: RetrySchedule;
  private readonly status: WriterStatus;
  /** The status's counts, held here too: a batch updates them with no step through the status. */
  private readonly stats_: WriterCounts;
  private holding = false;
  private startedAt = Date.now();
  /** When the last sink write started (see arm()). */
  private lastWriteAt = Date.now();
  /** When the last readings were queued: armQuiet() tells by it whether any came during its window. */
  private lastArrivalAt = 0;
  /** The last write took at least minWrite readings: what is queued below that waits by armQuiet(). */
  private afterBacklog = false;
  private closed = false;
  private readonly batchSize: number;
  private readonly minWrite: number;
  private readonly flushMs: number;
  /** 0: off (see armQuiet). */
  private readonly quietMs: number;
  private readonly kind: string;

  constructor(
    private readonly store: WriterSink,
    spool: Journal,
    private readonly opts: WriterOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 1000;
    this.minWrite = Math.max(1, Math.min(this.batchSize, opts.minWrite ?? Math.ceil(this.batchSize / 4)));
    // Larger statements cost DuckDB less per row; the caps keep one statement's text and the
    // wait for its settlement bounded.
    this.queue = new WriteQueue(opts.maxWrite ?? 10 * this.batchSize, opts.maxWriteRows ?? 100_000);
    this.flushMs = opts.flushMs ?? 100;
    this.quietMs = opts.quietMs ?? 0;
    const retryMs = opts.retryMs ?? RETRY_DEFAULTS.retryMs;
    const maxRetryMs = opts.maxRetryMs ?? RETRY_DEFAULTS.maxRetryMs;
    const jitter = opts.jitter ?? RETRY_DEFAULTS.jitter;
    this.retry = new RetrySchedule(() => void this.drainSpool(), retryMs, maxRetryMs, jitter, opts.random);
    this.stallRetry = new RetrySchedule(() => void this.flush(), retryMs, maxRetryMs, jitter, opts.random);
    this.kind = store.kind ?? 'store';
    this.spool = new WriterSpool(spool, opts.spoolBudgetBytes ?? DEFAULT_SPOOL_BUDGET);
    this.status = new WriterStatus(opts.onEvent);
    this.stats_ = this.status.counts;
  }

  /** Opens the spool; whatever an earlier run spooled is retried first. */
  start(): void {
    this.startedAt = Date.now();
    if (this.spool.open()) this.retry.schedule(0);
  }

  /**
   * Queues readings for the sink. `durable` runs once they are durable;
   * `taken`, if given, once every one of them is in a write that has started
   * (before durable, never after it): the input may take more meanwhile.
   */
  write(readings: Reading[], durable: Durable, taken?: () => void): void {
    if (this.closed) return durable(new StoreUnavailableError('the store is closing'));
    const at = Date.now();
    this.queue.add(readings, durable, at, taken);
    this.lastArrivalAt = at;
    this.stats_.queued = this.queue.queued;
    if (this.queue.queued >= this.minWrite) void this.flush();
    else this.armNext();
  }

  writeDeadLetters(letters: DeadLetter[], durable: Durable): void {
    if (this.closed) return durable(new StoreUnavailableError('the store is closing'));
    for (const l of letters) this.letters.push(l);
    this.lettersWaiting.push(durable);
    this.arm();
  }

  stats(): WriterStats {
    return this.status.snapshot(this.spool, this.queue, this.holding, this.rate.perSec(), this.startedAt);
  }

  private countWritten(n: number): void {
    this.stats_.written += n;
    this.rate.add(n);
  }

  /** Flushes what is queued (into the sink or the spool) and stops retrying. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.retry.stop();
    this.stallRetry.stop();
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    await this.flush();
    this.spool.close();
    noteHolding(this, undefined);
  }

  /**
   * Schedules a write for what is queued below minWrite. A write's cost is
   * mostly fixed (a statement and a commit), so while readings keep coming at
   * most one write starts per flushMs; one after a quiet spell is written at
   * once, so it is queryable after its own write, not after flushMs as well.
   * (Under load writes run back to back from flush(), each taking what queued
   * while the one before ran, as long as that is at least minWrite: a write
   * that ran quickly is not followed at once by one for a handful of readings.)
   */
  private arm(): void {
    if (!this.timer && !this.flushing && !this.stallRetry.pending) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          void this.flush();
        },
        Math.max(0, this.lastWriteAt + this.flushMs - Date.now()),
      );
    }
  }

  /** A wait for what is queued below minWrite: armQuiet() right after a backlog write (with quietMs), arm() otherwise. */
  private armNext(): void {
    if (this.afterBacklog && this.quietMs > 0) this.armQuiet();
    else this.arm();
  }

  /**
   * After a write of at least minWrite readings (a backlog being worked off), what
   * is queued below minWrite (left from it, or coming after it) is written once
   * nothing new has come for quietMs: that is the end of a burst, and its last
   * readings would otherwise wait the whole flushMs (a second for an InfluxDB sink)
   * with no more coming to share their write. A reading that comes meanwhile moves the
   * check to quietMs after it: a live burst's last readings keep coming closer together
   * than quietMs, often after the last backlog write has taken everything queued.
   * While readings keep coming, the write is made flushMs after the backlog write
   * started at the latest, as arm() would; it is a small write, so the ones after it
   * go by arm(): at most one write more per backlog write, never one per trickling reading.
   */
  private armQuiet(): void {
    if (this.timer || this.flushing || this.stallRetry.pending) return;
    const deadline = this.lastWriteAt + this.flushMs;
    // The window starts when the write ended, or at a later reading.
    let quietFrom = Date.now();
    const check = (): void => {
      this.timer = undefined;
      const now = Date.now();
      quietFrom = Math.max(quietFrom, this.lastArrivalAt);
      const quietAt = quietFrom + this.quietMs;
      if (now >= quietAt || now >= deadline) void this.flush();
      else this.timer = setTimeout(check, Math.min(quietAt, deadline) - now);
    };
    this.timer = setTimeout(check, Math.min(this.quietMs, Math.max(0, deadline - quietFrom)));
  }

  private async flush(): Promise<void> {
    if (this.flushing || (this.stallRetry.pending && !this.closed)) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = true;
    let wait = false;
    try {
      while (this.queue.calls || this.letters.length) {
        // New data would go behind a spool that is at its budget: it waits in memory, unreported,
        // until the spool drains (the callers' journals hold it meanwhile).
        if (this.spool.full()) {
          this.hold(true);
          break;
        }
        this.hold(false);
        this.lastWriteAt = Date.now();
        const headTaken = this.queue.headTaken();
        const took = this.queue.take();
        const { readings, parts, finished } = took;
        this.stats_.queued = this.queue.queued;
        for (const p of finished) tellTaken(p);
        this.afterBacklog = readings.length >= this.minWrite;
        const since = parts.length ? Math.min(...parts.map((p) => p.at)) : Date.now();
        const letters = this.letters.splice(0, this.letters.length);
        const lettersWaiting = this.lettersWaiting.splice(0, this.lettersWaiting.length);
        let err: Error | undefined;
        // While the spool holds data, new data goes behind it so the sink sees writes in order.
        const outcome: Outcome = !this.spool.empty
          ? { outage: new StoreUnavailableError('the store is catching up'), left: { r: readings, d: letters } }
          : await this.deliver(readings, letters);
        if (outcome.outage) {
          err = this.spool.add({ ...outcome.left, t: since });
          if (!err) this.retry.schedule();
          else if (!this.closed) {
            // Neither the sink nor the spool can take it (a full disk): nothing is reported, durable or failed.
            // It waits here, in front of what comes next, and is tried again until one of them takes it.
            this.queue.putBack(took, headTaken);
            this.letters.unshift(...letters);
            this.lettersWaiting.unshift(...lettersWaiting);
            this.stats_.queued = this.queue.queued;
            this.stall(err);
            break;
          }
        } else if (this.status.outageSince !== undefined && this.spool.empty) {
          this.status.recovered();
        }
        // The sink or the spool took it: a later stall starts again from the shortest wait.
        this.stallRetry.reset();
        if (err) for (const p of parts) p.err ??= err;
        for (const p of finished) p.durable(p.err);
        for (const d of lettersWaiting) d(err);
        // Too little for a write of its own yet: it waits for more, or for flushMs after this write started.
        if (this.queue.queued < this.minWrite && !this.closed && (this.queue.calls || this.letters.length)) {
          wait = true;
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
    if (wait) this.armNext();
  }

  /**
   * Writes readings, isolating the ones the sink refuses, then the dead letters
   * (those given and those of refused readings). On an outage nothing is half
   * done from the caller's view: what is left is returned for the spool, and
   * the writes already made are repeated later (the sink is idempotent).
   */
  private async deliver(readings: Reading[], letters: DeadLetter[]): Promise<Outcome> {
    const refused: DeadLetter[] = [];
    if (readings.length) {
      let stored = 0;
      const outage = await isolate(this.store, this.kind, readings, refused, (n) => (stored += n));
      if (outage) {
        this.status.failing(outage);
        // All of them are written again (the parts already in the sink too): they count once, then.
        return { outage, left: { r: readings, d: letters } };
      }
      this.countWritten(stored);
    }
    // The letters of readings the sink refused count here, once, even when an outage holds them for a later
    // delivery; the letters given in were counted by the dead-letter node that made them.
    for (const l of refused) deadLettered.child(l.code).inc();
    const all = refused.length ? letters.concat(refused) : letters;
    if (all.length) {
      const outage = await this.deliverLetters(all);
      if (outage) {
        this.status.failing(outage);
        // The readings are in the sink: only the dead letters wait.
        return { outage, left: { d: all } };
      }
    }
    if (refused.length) this.status.rejected(refused);
    return {};
  }

  /** Dead letters to the target, or to the sink itself; returns the outage that stopped them, if any. */
  private deliverLetters(letters: DeadLetter[]): Promise<Error | undefined> {
    const target = this.opts.deadLetters;
    if (target) return new Promise((resolve) => target.writeDeadLetters(letters, (err) => resolve(err)));
    return storeLetters(this.store, this.kind, letters, this.opts.onEvent);
  }

  private hold(full: boolean): void {
    if (full === this.holding) return;
    this.holding = full;
    noteHolding(this, full ? { label: this.opts.label ?? `the ${this.kind} sink`, budgetBytes: this.spool.budget } : undefined);
    this.opts.onEvent?.({ type: 'budget', full, bytes: this.spool.bytes(), budget: this.spool.budget });
  }

  /**
   * What the sink's own health check (a ping) found. Seen answering after it was
   * seen down, a spool waiting for its next retry is retried now rather than at
   * the end of a backoff of up to maxRetryMs; a sink that stays down keeps the
   * backoff, and one that answers its check but still fails writes is retried at
   * once only after it was seen down again. Resolves once the first spooled write
   * of that retry has been tried, so the caller's report sees its outcome.
   */
  probed(ok: boolean): Promise<void> {
    if (!ok) {
      this.status.seenDown = true;
      return Promise.resolve();
    }
    if (!this.status.seenDown || this.draining || this.closed || !this.retry.cancel()) return Promise.resolve();
    this.status.seenDown = false;
    return new Promise((resolve) => void this.drainSpool(resolve));
  }

  /**
   * The sink and the spool both failed: the next attempt waits for the retry delay (doubling up to maxRetryMs),
   * and the store counts as failing with the spool's error, until a write to either goes through.
   */
  private stall(err: Error): void {
    this.status.stalled(err);
    this.stallRetry.schedule();
    // Schedules nothing more (one waits): the next stall waits twice as long.
    this.stallRetry.backOff();
  }

  private async drainSpool(tried?: () => void): Promise<void> {
    this.stats_.retries++;
    this.draining = true;
    try {
      await this.drainEntries(tried);
    } finally {
      this.draining = false;
      tried?.();
    }
  }

  private async drainEntries(tried?: () => void): Promise<void> {
    for (let rec = this.spool.head(); rec && !this.closed; rec = this.spool.head()) {
      const outcome = await this.deliver(rec.r ?? [], rec.d ?? []);
      tried?.();
      if (outcome.outage) {
        // The readings are stored now, only dead letters wait: they replace the record. (Should the disk
        // refuse them, the whole record waits and its readings are written again: the sink is idempotent.)
        if (!outcome.left.r?.length && (rec.r?.length ?? 0) > 0) this.spool.replaceHead(outcome.left);
        this.retry.backOff();
        return;
      }
      this.spool.settleHead();
      this.status.succeeded();
      // Held writes may go now if the spool has room again.
      if (this.holding && !this.spool.full()) void this.flush();
    }
    if (this.closed) return;
    this.retry.reset();
    this.status.recovered();
    if (this.queue.calls || this.letters.length) void this.flush();
  }
}
