/**
 * When the DuckDB store applies its pending roll-ups (duckdb-rollup-pending.ts).
 *
 * A timer applies them at most `everyMs` after a write deferred them. It does so
 * one chunk (about DEFAULT_CHUNK_BUCKETS buckets) per turn of the store's write
 * queue: a turn for the oldest chunk, then a fresh turn for the next, queued
 * behind the writes that came meanwhile. One apply of everything pending held
 * the writes behind it for as long as its upserts took (125–205 ms for the first
 * apply of the latency row's phase; docs/performance.md); a chunk per turn bounds
 * that wait. What must see the tiers whole (a write with suspects, retention,
 * close, applyRollups) applies everything in its own turn.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EncodedBatch } from './duckdb-encode';
import type { StoreTraceEvent } from './duckdb-checkpoint';
import { PendingRollups } from './duckdb-rollup-pending';

/** Pending buckets past which a write applies them at once in its own turn (memory stays bounded if the timer's turns fall behind). */
const MAX_PENDING = 20_000;

/** What the scheduler needs of its store. */
export interface RollupHost {
  /** Runs `fn` in a turn of the store's write queue. */
  enqueue(op: string, fn: (conn: DuckDBConnection) => Promise<void>): Promise<void>;
  /** The store's reading of an error (it may close a database DuckDB invalidated). */
  translate(op: string, err: unknown): Error;
  isClosed(): boolean;
  trace?: (e: StoreTraceEvent) => void;
}

export class RollupTimer {
  readonly pending: PendingRollups;
  private timer?: NodeJS.Timeout;
  /** Chunks the timer found due and not yet applied: each gets a queue turn of its own. */
  private due = 0;
  private turnQueued = false;

  constructor(
    private readonly host: RollupHost,
    private readonly everyMs: number,
    chunkBuckets?: number,
  ) {
    this.pending = new PendingRollups(chunkBuckets);
  }

  /** In a write's turn, after its raw rows committed: folds their roll-ups in and sees that they are applied. */
  async deferred(conn: DuckDBConnection, batch: EncodedBatch): Promise<void> {
    this.pending.add(batch);
    if (this.pending.size < MAX_PENDING) return this.arm();
    try {
      await this.applyAll(conn);
    } catch (err) {
      // The write before is durable whatever happens here: the roll-ups stay pending.
      this.host.translate('apply roll-ups', err);
      this.arm();
    }
  }

  /** Applies everything pending (or its `chunks` oldest chunks) in the caller's turn of the queue, oldest first. */
  async applyAll(conn: DuckDBConnection, chunks = Infinity): Promise<void> {
    for (let i = 0; i < chunks && (await this.applyNext(conn)) > 0; i++);
    if (this.pending.size === 0) this.due = 0;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One chunk, traced (an apply holds the queue, and a write waiting behind it is the latency row's tail). */
  private async applyNext(conn: DuckDBConnection): Promise<number> {
    const trace = this.host.trace;
    const t0 = trace ? performance.now() : 0;
    const buckets = await this.pending.applyNext(conn);
    if (trace && buckets > 0) trace({ kind: 'rollups', ms: performance.now() - t0, buckets });
    return buckets;
  }

  private arm(): void {
    if (this.timer || this.due > 0 || this.host.isClosed()) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = this.pending.chunkCount;
      this.queueTurn();
    }, this.everyMs);
    this.timer.unref?.();
  }

  private queueTurn(): void {
    if (this.turnQueued || this.due === 0) return;
    this.turnQueued = true;
    void this.host
      .enqueue('apply roll-ups', async (conn) => {
        this.turnQueued = false;
        try {
          if (this.due > 0) this.due--;
          await this.applyNext(conn);
        } catch (err) {
          this.due = 0;
          this.host.translate('apply roll-ups', err);
        }
        if (this.due > 0 && this.pending.chunkCount > 0) this.queueTurn();
        else {
          this.due = 0;
          if (this.pending.size > 0) this.arm();
        }
      })
      .catch(() => {
        // The store is closed or could not be opened: a later write arms the timer again.
        this.turnQueued = false;
        this.due = 0;
      });
  }
}
