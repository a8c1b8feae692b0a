/**
 * When the DuckDB store checkpoints (moves what its write-ahead log holds into
 * the database file), and what a checkpoint costs.
 *
 * Left to itself DuckDB checkpoints inside a commit: at the commit of any
 * transaction that wrote (a store write, a roll-up apply, the health check's
 * meta row) whose WAL plus its own changes pass `checkpoint_threshold` (16 MB by
 * default), when no other write transaction holds the checkpoint lock. That
 * commit returns only after the checkpoint (a large transaction skips its WAL
 * write and goes straight into the checkpoint). About every 15 s at 10,000
 * readings/s, that one write stalls for the whole checkpoint (190–500 ms
 * here), and every write queued behind it waits too. Two things made it long:
 *
 * - its size: 16 MB of WAL is ~450,000 rows to compress and write at once;
 * - vacuuming: each checkpoint leaves the rows it wrote as a row group of their
 *   own, and the next checkpoints merge adjacent small row groups into full
 *   ones (122,880 rows), rewriting rows already in the file. With small,
 *   frequent checkpoints that merge came every few seconds and cost 7–10× a
 *   plain one, which is why a lower threshold alone gave more stalls, not
 *   shorter ones.
 *
 * So the store can checkpoint itself: in its queue right after the write that
 * took the WAL past `walBytes` (2 MiB by default, ~60,000 rows, see below), without
 * vacuuming, which keeps every checkpoint small and of the same size. DuckDB's
 * own threshold stays as a backstop (BACKSTOP), should the store's checkpoints
 * fail. Row groups stay as small as the checkpoints that wrote them: the file
 * is ~10% larger at 2 MiB (and ~75% at 1 MiB, which is why not less); row
 * groups retention empties are still dropped, so the file stays bounded.
 * `close` checkpoints too.
 *
 * A checkpoint on a second connection, next to the writes, was measured too
 * (bench/duckdb-checkpoint-side.ts): in DuckDB 1.5 a write into the file being
 * checkpointed waits for the checkpoint whatever its shape (the store's appender,
 * an INSERT, a catalog change, an update), since its first write takes the
 * checkpoint lock the checkpoint holds; with the appender that wait would even
 * fall on the event loop (its close is synchronous). So it removes nothing.
 */
import { statSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ConfigError } from '../errors';
import { traceOut } from '../trace-out';

/**
 * 2 MiB (~60,000 rows) unless UPPERSTACK_DUCKDB_CHECKPOINT_WAL says otherwise (0: DuckDB's own). On the
 * latency row (10,000 readings/s) DuckDB's own checkpoint held the write queue 181–232 ms inside a write;
 * the store's 2 MiB checkpoints, ~10 per 15 s, took 24–153 ms each, and the queue's longest turn was
 * shorter in every alternating pair; 512 KiB and 1 MiB gave 19–38 checkpoints for no shorter longest turn
 * (docs/performance.md, "The latency row: warm publishers, and the store's 2 MiB checkpoints by default").
 */
export const DEFAULT_CHECKPOINT_WAL_BYTES = 2 << 20;
/** DuckDB's own threshold while the store checkpoints itself: only reached if its checkpoints fail. */
const BACKSTOP = '64MB';

/** UPPERSTACK_DUCKDB_CHECKPOINT_WAL: bytes of WAL after which the store checkpoints; 0 leaves it to DuckDB; empty or absent is the default. */
export function checkpointWalFromEnv(value: string | undefined): number | undefined {
  const text = (value ?? '').trim();
  if (text === '') return undefined;
  if (!/^\d{1,12}$/.test(text)) {
    throw new ConfigError(`UPPERSTACK_DUCKDB_CHECKPOINT_WAL must be a whole number of bytes (0 leaves checkpoints to DuckDB), got "${text.slice(0, 40)}"`, { setting: 'UPPERSTACK_DUCKDB_CHECKPOINT_WAL' });
  }
  return Number(text);
}

/** DuckDB settings at open: `walBytes` 0 leaves checkpoints to DuckDB (16 MB, with vacuuming). */
export function checkpointConfig(walBytes: number): Record<string, string> {
  return walBytes > 0 ? { checkpoint_threshold: BACKSTOP, max_vacuum_tasks: '0' } : {};
}

/** One checkpoint as the trace reports it. */
export interface CheckpointEvent {
  /** Wall time of the CHECKPOINT statement. */
  ms: number;
  /** WAL size before it. */
  walBytes: number;
  error?: string;
}

/**
 * Decides when a store checkpoints and runs it. `trace` (UPPERSTACK_DUCKDB_TRACE)
 * gets every checkpoint, for benches and for finding stalls in a running store.
 */
export class Checkpoints {
  private readonly wal: string | undefined;
  /** Checkpoints run since open, and the last one's outcome. */
  count = 0;
  last?: CheckpointEvent;

  constructor(
    path: string,
    readonly walBytes: number,
    private readonly trace?: (e: CheckpointEvent) => void,
  ) {
    this.wal = walBytes > 0 && path !== ':memory:' ? `${path}.wal` : undefined;
  }

  /** Size of the WAL now (0 when there is none). */
  walSize(): number {
    if (!this.wal) return 0;
    try {
      return statSync(this.wal).size;
    } catch {
      return 0;
    }
  }

  /** Whether the WAL is past the threshold (after a write). */
  due(): boolean {
    return this.wal !== undefined && this.walSize() >= this.walBytes;
  }

  /** Runs a checkpoint; throws what DuckDB throws (the store decides what a failure means). */
  async run(conn: DuckDBConnection): Promise<void> {
    const walBytes = this.walSize();
    const t0 = performance.now();
    try {
      await conn.run('CHECKPOINT');
      this.note({ ms: performance.now() - t0, walBytes });
    } catch (err) {
      this.note({ ms: performance.now() - t0, walBytes, error: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  }

  private note(e: CheckpointEvent): void {
    this.count++;
    this.last = e;
    this.trace?.(e);
  }
}

/**
 * For finding stalls: a write (its rows, its time in the queue's turn, and how long it waited in the
 * queue for that turn), a checkpoint, a roll-up apply (its time in the queue's turn, its buckets), or
 * any other turn of the queue (`op`: a health check, an aggregate, dead letters, the registry, the
 * timer's roll-up apply; its time and wait), since a write may wait behind it.
 */
export type StoreTraceEvent =
  | { kind: 'write'; ms: number; waitMs: number; readings: number }
  | ({ kind: 'checkpoint' } & CheckpointEvent)
  | { kind: 'rollups'; ms: number; buckets: number }
  | { kind: 'op'; op: string; ms: number; waitMs: number };

/** UPPERSTACK_DUCKDB_TRACE: 1 prints every write, checkpoint, roll-up apply and other queue turn to stderr; an absolute path appends them to that file. */
export function traceFromEnv(): ((e: StoreTraceEvent) => void) | undefined {
  const out = traceOut(process.env.UPPERSTACK_DUCKDB_TRACE);
  if (!out) return undefined;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return (e) =>
    out(`duckdb ${JSON.stringify({ at: Date.now(), ...e, ms: round(e.ms), ...(e.kind === 'write' || e.kind === 'op' ? { waitMs: round(e.waitMs) } : {}) })}\n`);
}
