/**
 * DurableWriter sits between the nodes and a store. It batches readings (one
 * store write per batch, not per message), and when the store is unreachable it
 * spools each batch to a journal and reports it durable, then keeps retrying in
 * the background in order. A caller's callback fires only once its data is in
 * the store or in the spool, which is when input journals may settle.
 */
import type { Reading } from '../reading';
import type { DeadLetter, TimeSeriesStore } from './types';
import { Journal } from '../journal/journal';
import { StoreUnavailableError } from '../errors';

export type Durable = (err?: Error) => void;

export interface WriterOptions {
  /** Flush once this many readings are queued. */
  batchSize?: number;
  /** Flush at least this often while anything is queued. */
  flushMs?: number;
  /** First retry delay after an outage; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

export interface WriterStats {
  /** Readings written to the store since start. */
  written: number;
  /** Readings queued in memory, waiting for the next flush. */
  queued: number;
  /** Readings waiting in the spool for the store to come back. */
  spooled: number;
  /** The last store error, while the store is failing. */
  lastError?: string;
}

interface SpoolRecord {
  r?: Reading[];
  d?: DeadLetter[];
}

export class DurableWriter {
  private queue: Reading[] = [];
  private waiting: Durable[] = [];
  private letters: DeadLetter[] = [];
  private lettersWaiting: Durable[] = [];
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private spooledEntries: Array<{ seq: number; rec: SpoolRecord; count: number }> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private stats_: WriterStats = { written: 0, queued: 0, spooled: 0 };
  private closed = false;
  private readonly batchSize: number;
  private readonly flushMs: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;

  constructor(
    private readonly store: TimeSeriesStore,
    private readonly spool: Journal,
    opts: WriterOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 1000;
    this.flushMs = opts.flushMs ?? 100;
    this.retryMs = opts.retryMs ?? 500;
    this.maxRetryMs = opts.maxRetryMs ?? 15_000;
    this.retryDelay = this.retryMs;
  }

  /** Opens the spool; whatever an earlier run spooled is retried first. */
  start(): void {
    for (const e of this.spool.open()) {
      const rec = JSON.parse(e.data.toString('utf8')) as SpoolRecord;
      const count = (rec.r?.length ?? 0) + (rec.d?.length ?? 0);
      this.spooledEntries.push({ seq: e.seq, rec, count });
      this.stats_.spooled += count;
    }
    if (this.spooledEntries.length) this.scheduleRetry(0);
  }

  write(readings: Reading[], durable: Durable): void {
    if (this.closed) return durable(new StoreUnavailableError('the store is closing'));
    for (const r of readings) this.queue.push(r);
    this.waiting.push(durable);
    this.stats_.queued = this.queue.length;
    if (this.queue.length >= this.batchSize) void this.flush();
    else this.arm();
  }

  writeDeadLetters(letters: DeadLetter[], durable: Durable): void {
    if (this.closed) return durable(new StoreUnavailableError('the store is closing'));
    for (const l of letters) this.letters.push(l);
    this.lettersWaiting.push(durable);
    this.arm();
  }

  stats(): WriterStats {
    return { ...this.stats_ };
  }

  /** Flushes what is queued (into the store or the spool) and stops retrying. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    await this.flush();
    this.spool.close();
  }

  private arm(): void {
    if (!this.timer && !this.flushing) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = true;
    try {
      while (this.queue.length || this.letters.length) {
        const readings = this.queue.splice(0, this.queue.length);
        const waiting = this.waiting.splice(0, this.waiting.length);
        const letters = this.letters.splice(0, this.letters.length);
        const lettersWaiting = this.lettersWaiting.splice(0, this.lettersWaiting.length);
        this.stats_.queued = 0;
        // While the spool holds data, new data goes behind it so the store sees writes in order.
        const err = this.spooledEntries.length ? new StoreUnavailableError('the store is catching up') : await this.tryWrite(readings, letters);
        if (!err) {
          this.stats_.written += readings.length;
          this.stats_.lastError = undefined;
          for (const d of waiting) d();
          for (const d of lettersWaiting) d();
          continue;
        }
        if (err instanceof StoreUnavailableError) {
          const spoolErr = this.toSpool({ r: readings.length ? readings : undefined, d: letters.length ? letters : undefined });
          for (const d of waiting) d(spoolErr);
          for (const d of lettersWaiting) d(spoolErr);
          if (!spoolErr) this.scheduleRetry(this.retryDelay);
        } else {
          for (const d of waiting) d(err);
          for (const d of lettersWaiting) d(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async tryWrite(readings: Reading[], letters: DeadLetter[]): Promise<Error | undefined> {
    try {
      if (readings.length) await this.store.write(readings);
      if (letters.length) await this.store.writeDeadLetters(letters);
      return undefined;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.stats_.lastError = e.message;
      return e;
    }
  }

  private toSpool(rec: SpoolRecord): Error | undefined {
    const count = (rec.r?.length ?? 0) + (rec.d?.length ?? 0);
    if (count === 0) return undefined;
    try {
      const seq = this.spool.append(Buffer.from(JSON.stringify(rec)));
      this.spooledEntries.push({ seq, rec, count });
      this.stats_.spooled += count;
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private scheduleRetry(delay: number): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.drainSpool();
    }, delay);
    this.retryTimer.unref?.();
  }

  private async drainSpool(): Promise<void> {
    while (this.spooledEntries.length && !this.closed) {
      const entry = this.spooledEntries[0];
      const err = await this.tryWrite(entry.rec.r ?? [], entry.rec.d ?? []);
      if (err && err instanceof StoreUnavailableError) {
        this.retryDelay = Math.min(this.retryDelay * 2, this.maxRetryMs);
        this.scheduleRetry(this.retryDelay);
        return;
      }
      // A batch the store rejects for its content would block the spool forever; it is dropped
      // from the spool only after the error is surfaced through stats.
      this.spooledEntries.shift();
      this.spool.settle(entry.seq);
      this.stats_.spooled -= entry.count;
      if (!err) this.stats_.written += entry.rec.r?.length ?? 0;
    }
    this.retryDelay = this.retryMs;
    if (this.queue.length || this.letters.length) void this.flush();
  }
}
