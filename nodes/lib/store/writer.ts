/**
 * DurableWriter sits between the nodes and a store. It batches readings (one
 * store write per batch, not per message; what queued while a write ran goes
 * into the next one, up to maxWrite readings, and a larger message is written
 * in parts), and when the store is unreachable it
 * spools each batch to a journal and reports it durable, then keeps retrying in
 * the background in order. A caller's callback fires only once its data is in
 * the store or in the spool, which is when input journals may settle.
 */
import type { Reading } from '../reading';
import type { DeadLetter, ReadingSink } from './types';
import { Journal } from '../journal/journal';
import { StoreFailedError, StoreUnavailableError } from '../errors';

/** A sink, and for the one that keeps them (the queryable store), dead letters. */
export type WriterSink = Omit<ReadingSink, 'kind'> & { readonly kind?: string; writeDeadLetters?(letters: DeadLetter[]): Promise<void> };

export type Durable = (err?: Error) => void;

export interface WriterOptions {
  /** Flush once this many readings are queued. */
  batchSize?: number;
  /** The most readings one store write takes (default 10 × batchSize); larger messages go in parts. */
  maxWrite?: number;
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

/** One write() call: its readings leave in order, possibly over several store writes. */
interface Pending {
  readings: Reading[];
  /** Readings already taken into a store write. */
  taken: number;
  durable: Durable;
  /** The first failure of any of its parts; reported once the last part is through. */
  err?: Error;
}

interface SpoolRecord {
  r?: Reading[];
  d?: DeadLetter[];
}

export class DurableWriter {
  private pending: Pending[] = [];
  /** Readings in `pending` not taken yet. */
  private queued = 0;
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
  private readonly maxWrite: number;
  private readonly flushMs: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;

  constructor(
    private readonly store: WriterSink,
    private readonly spool: Journal,
    opts: WriterOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 1000;
    // Larger statements cost DuckDB less per row; the cap keeps one statement's text and the
    // wait for its settlement bounded.
    this.maxWrite = opts.maxWrite ?? 10 * this.batchSize;
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
    this.pending.push({ readings, taken: 0, durable });
    this.queued += readings.length;
    this.stats_.queued = this.queued;
    if (this.queued >= this.batchSize) void this.flush();
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
      while (this.pending.length || this.letters.length) {
        const { readings, parts, finished } = this.take();
        const letters = this.letters.splice(0, this.letters.length);
        const lettersWaiting = this.lettersWaiting.splice(0, this.lettersWaiting.length);
        // While the spool holds data, new data goes behind it so the store sees writes in order.
        let err = this.spooledEntries.length ? new StoreUnavailableError('the store is catching up') : await this.tryWrite(readings, letters);
        if (!err) {
          this.stats_.written += readings.length;
          this.stats_.lastError = undefined;
        } else if (err instanceof StoreUnavailableError) {
          err = this.toSpool({ r: readings.length ? readings : undefined, d: letters.length ? letters : undefined });
          if (!err) this.scheduleRetry(this.retryDelay);
        }
        if (err) for (const p of parts) p.err ??= err;
        for (const p of finished) p.durable(p.err);
        for (const d of lettersWaiting) d(err);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Up to maxWrite queued readings, the calls they come from, and the calls they complete. */
  private take(): { readings: Reading[]; parts: Pending[]; finished: Pending[] } {
    const readings: Reading[] = [];
    const parts: Pending[] = [];
    const finished: Pending[] = [];
    while (this.pending.length && (readings.length < this.maxWrite || this.pending[0].taken === this.pending[0].readings.length)) {
      const p = this.pending[0];
      const n = Math.min(p.readings.length - p.taken, this.maxWrite - readings.length);
      for (let i = p.taken; i < p.taken + n; i++) readings.push(p.readings[i]);
      p.taken += n;
      parts.push(p);
      if (p.taken === p.readings.length) finished.push(this.pending.shift()!);
    }
    this.queued -= readings.length;
    this.stats_.queued = this.queued;
    return { readings, parts, finished };
  }

  private async tryWrite(readings: Reading[], letters: DeadLetter[]): Promise<Error | undefined> {
    try {
      if (readings.length) await this.store.write(readings);
      if (letters.length) {
        if (!this.store.writeDeadLetters) throw new StoreFailedError(`a ${this.store.kind ?? 'store'} sink keeps no dead letters`);
        await this.store.writeDeadLetters(letters);
      }
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
    if (this.pending.length || this.letters.length) void this.flush();
  }
}
