/**
 * DurableWriter sits between the nodes and one sink. It batches readings (one
 * sink write per batch, not per message; what queued while a write ran goes
 * into the next one, up to maxWrite readings or maxWriteRows field values, and
 * a larger message is written in parts; fewer than minWrite wait for flushMs). A caller's callback fires only once
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
 */
import type { Reading } from '../reading';
import type { DeadLetter, ReadingSink } from './types';
import { Journal } from '../journal/journal';
import { RetentionRefusedError, StoreRejectedError, StoreUnavailableError } from '../errors';
import { previewJson } from '../preview';

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
  /** Readings the sink refused were dead-lettered (STORE_REJECTED). */
  | { type: 'rejected'; count: number; devices: string[]; error: string }
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
  /** First retry delay after an outage; doubles up to maxRetryMs, each delay with up to `jitter` of it added at random. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Share of a retry delay added at random (default 0.2), so many writers do not retry in step after an outage. */
  jitter?: number;
  /** Where refused readings are dead-lettered; default the sink itself. */
  deadLetters?: DeadLetterTarget;
  /**
   * Disk the spool may take (default 1 GiB). At the budget new writes are held
   * in memory and not reported durable, so the inputs' journals keep them and
   * their backpressure slows the devices down; nothing is dropped.
   */
  spoolBudgetBytes?: number;
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
interface Pending {
  readings: Reading[];
  /** Readings already taken into a sink write. */
  taken: number;
  durable: Durable;
  /** The first failure of any of its parts; reported once the last part is through. */
  err?: Error;
  /** When it was handed to the writer (epoch ms). */
  at: number;
}

interface SpoolRecord {
  r?: Reading[];
  d?: DeadLetter[];
  /** When the oldest of its readings was handed to the writer (epoch ms). */
  t?: number;
}

/** How a batch ended: all of it handled (stored or dead-lettered), or an outage and what is left for the spool. */
type Outcome = { outage?: undefined } | { outage: Error; left: SpoolRecord };

const DEFAULT_SPOOL_BUDGET = 1024 * 1024 * 1024;

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function fieldCount(r: Reading): number {
  let n = 0;
  const f = r?.fields;
  if (typeof f === 'object' && f !== null) for (const k in f) if (Object.prototype.hasOwnProperty.call(f, k)) n++;
  return n;
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
  /** Readings written in each of the last 10 seconds (by second % 10), for writtenPerSec. */
  private readonly rate = { counts: new Array<number>(10).fill(0), seconds: new Array<number>(10).fill(-1) };
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private stats_: Omit<WriterStats, 'spoolBytes' | 'spoolBudget' | 'overBudget' | 'oldestAt' | 'writtenPerSec'> = { written: 0, queued: 0, spooled: 0, rejected: 0, retries: 0 };
  private holding = false;
  private startedAt = Date.now();
  /** When the last sink write started (see arm()). */
  private lastWriteAt = Date.now();
  private closed = false;
  private readonly batchSize: number;
  private readonly minWrite: number;
  private readonly maxWrite: number;
  private readonly maxWriteRows: number;
  private readonly flushMs: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly kind: string;
  private readonly spoolBudget: number;

  constructor(
    private readonly store: WriterSink,
    private readonly spool: Journal,
    private readonly opts: WriterOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 1000;
    this.minWrite = Math.max(1, Math.min(this.batchSize, opts.minWrite ?? Math.ceil(this.batchSize / 4)));
    // Larger statements cost DuckDB less per row; the caps keep one statement's text and the
    // wait for its settlement bounded.
    this.maxWrite = opts.maxWrite ?? 10 * this.batchSize;
    this.maxWriteRows = opts.maxWriteRows ?? 100_000;
    this.flushMs = opts.flushMs ?? 100;
    this.retryMs = opts.retryMs ?? 500;
    this.maxRetryMs = opts.maxRetryMs ?? 15_000;
    this.retryDelay = this.retryMs;
    this.kind = store.kind ?? 'store';
    this.spoolBudget = opts.spoolBudgetBytes ?? DEFAULT_SPOOL_BUDGET;
  }

  /** Opens the spool; whatever an earlier run spooled is retried first. */
  start(): void {
    this.startedAt = Date.now();
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
    this.pending.push({ readings, taken: 0, durable, at: Date.now() });
    this.queued += readings.length;
    this.stats_.queued = this.queued;
    if (this.queued >= this.minWrite) void this.flush();
    else this.arm();
  }

  writeDeadLetters(letters: DeadLetter[], durable: Durable): void {
    if (this.closed) return durable(new StoreUnavailableError('the store is closing'));
    for (const l of letters) this.letters.push(l);
    this.lettersWaiting.push(durable);
    this.arm();
  }

  stats(): WriterStats {
    const s: WriterStats = { ...this.stats_, spoolBytes: this.spoolBytes(), spoolBudget: this.spoolBudget, overBudget: this.holding, writtenPerSec: this.writtenPerSec() };
    // Spool records of older versions carry no time: they count from when this run read them.
    const spooledAt = this.spooledEntries.length ? (this.spooledEntries[0].rec.t ?? this.startedAt) : undefined;
    const queuedAt = this.pending.find((p) => p.taken < p.readings.length)?.at;
    const oldest = Math.min(spooledAt ?? Infinity, queuedAt ?? Infinity);
    if (Number.isFinite(oldest)) s.oldestAt = oldest;
    return s;
  }

  private countWritten(n: number): void {
    this.stats_.written += n;
    const sec = Math.floor(Date.now() / 1000);
    const i = sec % 10;
    if (this.rate.seconds[i] !== sec) {
      this.rate.seconds[i] = sec;
      this.rate.counts[i] = 0;
    }
    this.rate.counts[i] += n;
  }

  private writtenPerSec(): number {
    const now = Math.floor(Date.now() / 1000);
    let n = 0;
    // The current second is still filling: the 10 seconds before it.
    for (let i = 0; i < 10; i++) if (this.rate.seconds[i] < now && this.rate.seconds[i] >= now - 10) n += this.rate.counts[i];
    return n / 10;
  }

  /** Flushes what is queued (into the sink or the spool) and stops retrying. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    await this.flush();
    this.spool.close();
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
    if (!this.timer && !this.flushing) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          void this.flush();
        },
        Math.max(0, this.lastWriteAt + this.flushMs - Date.now()),
      );
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = true;
    let wait = false;
    try {
      while (this.pending.length || this.letters.length) {
        // New data would go behind a spool that is at its budget: it waits in memory, unreported,
        // until the spool drains (the callers' journals hold it meanwhile).
        if (this.spooledEntries.length && this.spoolFull()) {
          this.hold(true);
          break;
        }
        this.hold(false);
        this.lastWriteAt = Date.now();
        const { readings, parts, finished } = this.take();
        const since = parts.length ? Math.min(...parts.map((p) => p.at)) : Date.now();
        const letters = this.letters.splice(0, this.letters.length);
        const lettersWaiting = this.lettersWaiting.splice(0, this.lettersWaiting.length);
        let err: Error | undefined;
        // While the spool holds data, new data goes behind it so the sink sees writes in order.
        const outcome: Outcome = this.spooledEntries.length
          ? { outage: new StoreUnavailableError('the store is catching up'), left: { r: readings, d: letters } }
          : await this.deliver(readings, letters);
        if (outcome.outage) {
          err = this.toSpool({ ...outcome.left, t: since });
          if (!err) this.scheduleRetry(this.withJitter(this.retryDelay));
        } else if (this.stats_.failingSince !== undefined && !this.spooledEntries.length) {
          this.recovered();
        }
        if (err) for (const p of parts) p.err ??= err;
        for (const p of finished) p.durable(p.err);
        for (const d of lettersWaiting) d(err);
        // Too little for a write of its own yet: it waits for more, or for flushMs after this write started.
        if (this.queued < this.minWrite && !this.closed && (this.pending.length || this.letters.length)) {
          wait = true;
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
    if (wait) this.arm();
  }

  /** Up to maxWrite queued readings (and maxWriteRows values), the calls they come from, and the calls they complete. */
  private take(): { readings: Reading[]; parts: Pending[]; finished: Pending[] } {
    const readings: Reading[] = [];
    const parts: Pending[] = [];
    const finished: Pending[] = [];
    let rows = 0;
    while (this.pending.length) {
      const p = this.pending[0];
      if (p.taken === p.readings.length) {
        // An empty call (or one fully taken) completes with this write.
        finished.push(this.pending.shift()!);
        parts.push(p);
        continue;
      }
      if (readings.length >= this.maxWrite || rows >= this.maxWriteRows) break;
      let i = p.taken;
      while (i < p.readings.length && readings.length < this.maxWrite && (rows < this.maxWriteRows || readings.length === 0)) {
        readings.push(p.readings[i]);
        rows += fieldCount(p.readings[i]);
        i++;
      }
      p.taken = i;
      parts.push(p);
      if (p.taken === p.readings.length) finished.push(this.pending.shift()!);
    }
    this.queued -= readings.length;
    this.stats_.queued = this.queued;
    return { readings, parts, finished };
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
      const outage = await this.isolate(readings, refused);
      if (outage) {
        this.failing(outage);
        return { outage, left: { r: readings, d: letters } };
      }
    }
    const all = refused.length ? letters.concat(refused) : letters;
    if (all.length) {
      const outage = await this.deliverLetters(all);
      if (outage) {
        this.failing(outage);
        // The readings are in the sink: only the dead letters wait.
        return { outage, left: { d: all } };
      }
    }
    if (refused.length) {
      this.stats_.rejected += refused.length;
      this.stats_.lastRejected = refused[refused.length - 1].reason;
      this.opts.onEvent?.({ type: 'rejected', count: refused.length, devices: [...new Set(refused.map((l) => l.device))].slice(0, 10), error: refused[0].reason });
    }
    return {};
  }

  /** Bisects until every reading is stored or refused (collected in `refused`); returns the outage that stopped it, if any. */
  private async isolate(readings: Reading[], refused: DeadLetter[]): Promise<Error | undefined> {
    // A stack of slices, left half on top, so the sink still sees the readings in order.
    const stack: Reading[][] = [readings];
    while (stack.length) {
      const part = stack.pop()!;
      let err: Error | undefined;
      try {
        await this.store.write(part);
      } catch (e) {
        err = asError(e);
      }
      if (!err) {
        this.countWritten(part.length);
        continue;
      }
      if (err instanceof StoreUnavailableError) return err;
      // Readings the sink names as too old for it: dead-lettered together, the rest written at once.
      const kept = err instanceof RetentionRefusedError ? this.tooOld(part, err, refused) : undefined;
      if (kept) {
        if (kept.length) stack.push(kept);
        continue;
      }
      if (part.length > 1) {
        const mid = part.length >> 1;
        stack.push(part.slice(mid), part.slice(0, mid));
        continue;
      }
      // One reading is refused. Only a sink that is otherwise fine can blame the reading.
      const health = await this.store.health().catch((e: unknown) => ({ ok: false, detail: asError(e).message }));
      if (!health.ok) return new StoreUnavailableError(`the ${this.kind} store refused a write and fails its health check: ${health.detail}`, { cause: err });
      refused.push(this.rejectedLetter(part[0], err));
    }
    return undefined;
  }

  /**
   * Dead letters (BEYOND_RETENTION) for the readings a retention refusal names,
   * and the readings left to write; undefined when the refusal names none of
   * `part` (then the part is bisected like any refusal).
   */
  private tooOld(part: Reading[], err: RetentionRefusedError, refused: DeadLetter[]): Reading[] | undefined {
    const named = new Set(err.indexes.filter((i) => Number.isInteger(i) && i >= 0 && i < part.length));
    if (!named.size) return undefined;
    const kept: Reading[] = [];
    for (let i = 0; i < part.length; i++) {
      const r = part[i];
      if (!named.has(i)) {
        kept.push(r);
        continue;
      }
      const device = typeof r?.device === 'string' && r.device ? r.device : 'unknown';
      refused.push({ ts: Date.now(), device, source: `store:${this.kind}`, code: err.code, reason: err.reasonFor(device, r?.ts), payload: previewJson(r, 4096) });
    }
    return kept;
  }

  private rejectedLetter(r: Reading, err: Error): DeadLetter {
    const device = typeof r?.device === 'string' && r.device ? r.device : 'unknown';
    const e = new StoreRejectedError(this.kind, device, err.message);
    return { ts: Date.now(), device, source: `store:${this.kind}`, code: e.code, reason: e.message, payload: previewJson(r, 4096) };
  }

  /** Dead letters to the target, or to the sink itself; returns the outage that stopped them, if any. */
  private deliverLetters(letters: DeadLetter[]): Promise<Error | undefined> {
    const target = this.opts.deadLetters;
    if (target) return new Promise((resolve) => target.writeDeadLetters(letters, (err) => resolve(err)));
    return this.storeLetters(letters);
  }

  private async storeLetters(letters: DeadLetter[]): Promise<Error | undefined> {
    const write = this.store.writeDeadLetters?.bind(this.store);
    if (!write) return new StoreUnavailableError(`the ${this.kind} store keeps no dead letters and no other store was given for them`);
    const stack: DeadLetter[][] = [letters];
    while (stack.length) {
      const part = stack.pop()!;
      try {
        await write(part);
        continue;
      } catch (e) {
        const err = asError(e);
        if (err instanceof StoreUnavailableError) return err;
        if (part.length > 1) {
          const mid = part.length >> 1;
          stack.push(part.slice(mid), part.slice(0, mid));
          continue;
        }
        // A dead letter refused for its text: kept without the payload, which is what a store cannot take.
        const bare = { ...part[0], payload: '', reason: `${part[0].reason} (payload not kept: ${err.message})`.slice(0, 4096) };
        try {
          await write([bare]);
        } catch (e2) {
          if (e2 instanceof StoreUnavailableError) return e2;
          // Nothing of it can be stored; reporting it is all that is left.
          this.opts.onEvent?.({ type: 'rejected', count: 0, devices: [part[0].device], error: `a dead letter could not be stored: ${asError(e2).message}` });
        }
      }
    }
    return undefined;
  }

  private spoolBytes(): number {
    try {
      return this.spool.stats().bytes;
    } catch {
      return 0;
    }
  }

  /** At the budget, counted only while something is waiting in it (settled bytes go with their segment). */
  private spoolFull(): boolean {
    return this.spooledEntries.length > 0 && this.spoolBytes() >= this.spoolBudget;
  }

  private hold(full: boolean): void {
    if (full === this.holding) return;
    this.holding = full;
    this.opts.onEvent?.({ type: 'budget', full, bytes: this.spoolBytes(), budget: this.spoolBudget });
  }

  private failing(err: Error): void {
    this.stats_.lastError = err.message;
    if (this.stats_.failingSince === undefined) {
      this.stats_.failingSince = Date.now();
      this.opts.onEvent?.({ type: 'spooling', error: err.message });
    }
  }

  private recovered(): void {
    const since = this.stats_.failingSince;
    this.stats_.failingSince = undefined;
    this.stats_.lastError = undefined;
    if (since !== undefined) this.opts.onEvent?.({ type: 'recovered', downMs: Date.now() - since });
  }

  private toSpool(rec: SpoolRecord): Error | undefined {
    const r = rec.r?.length ? rec.r : undefined;
    const d = rec.d?.length ? rec.d : undefined;
    const count = (r?.length ?? 0) + (d?.length ?? 0);
    if (count === 0) return undefined;
    const clean: SpoolRecord = {};
    if (r) clean.r = r;
    if (d) clean.d = d;
    clean.t = rec.t ?? Date.now();
    try {
      const seq = this.spool.append(Buffer.from(JSON.stringify(clean)));
      this.spooledEntries.push({ seq, rec: clean, count });
      this.stats_.spooled += count;
      return undefined;
    } catch (err) {
      return asError(err);
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

  private withJitter(delay: number): number {
    return delay + Math.random() * delay * (this.opts.jitter ?? 0.2);
  }

  private async drainSpool(): Promise<void> {
    this.stats_.retries++;
    while (this.spooledEntries.length && !this.closed) {
      const entry = this.spooledEntries[0];
      const outcome = await this.deliver(entry.rec.r ?? [], entry.rec.d ?? []);
      if (outcome.outage) {
        const left = outcome.left;
        if (!left.r?.length && (entry.rec.r?.length ?? 0) > 0) {
          // The readings are stored now; only dead letters wait. They replace the entry, so its
          // readings are not written (nor their refusals recorded) again.
          const err = this.toSpool({ ...left, t: entry.rec.t });
          if (!err) {
            const moved = this.spooledEntries.pop()!;
            this.spooledEntries[0] = moved;
            this.spool.settle(entry.seq);
            this.stats_.spooled -= entry.count;
          }
        }
        this.retryDelay = Math.min(this.retryDelay * 2, this.maxRetryMs);
        this.scheduleRetry(this.withJitter(this.retryDelay));
        return;
      }
      this.spooledEntries.shift();
      this.spool.settle(entry.seq);
      this.stats_.spooled -= entry.count;
      // Held writes may go now if the spool has room again.
      if (this.holding && !this.spoolFull()) void this.flush();
    }
    if (this.closed) return;
    this.retryDelay = this.retryMs;
    this.recovered();
    if (this.pending.length || this.letters.length) void this.flush();
  }
}
