/** The DuckDB store's options, and the checks a constructor makes of them before anything opens. */
import { StoreFailedError } from '../errors';
import { checkpointWalFromEnv, DEFAULT_CHECKPOINT_WAL_BYTES, type StoreTraceEvent } from './duckdb-checkpoint';

export interface DuckDbStoreOptions {
  /** Database file, or ':memory:'. Its directory must already exist. */
  path: string;
  /**
   * DuckDB's memory limit in MB; 0 or absent leaves DuckDB's default (80% of
   * RAM). Its buffer pool keeps table and index blocks cached up to the limit, so
   * without one a long-running store grows with the data it holds.
   */
  memoryLimitMb?: number;
  /**
   * DuckDB's worker threads (default 1, DEFAULT_THREADS); 0 leaves DuckDB's
   * default of one per CPU core.
   */
  threads?: number;
  /** Bytes of dead-letter bodies kept for replay (default 256 MiB); see duckdb-deadletters.ts. */
  deadLetterBodyBudget?: number;
  /** Raw readings older than this (ms) are deleted; 0 or absent keeps them forever. */
  retentionMs?: number;
  /** Roll-up buckets older than this (ms) are deleted; 0 or absent keeps them forever. */
  rollupRetentionMs?: number;
  /** Keep the 1-minute and 1-hour roll-ups (default true); duckdb-rollups.ts. */
  rollups?: boolean;
  /** How often retention runs (default every 10 minutes; also once at open). */
  retentionEveryMs?: number;
  /**
   * Roll-ups of fresh readings are applied at most this long after their write
   * (default 1000 ms); a tier read merges in what is still pending; duckdb-rollup-pending.ts.
   */
  rollupEveryMs?: number;
  /**
   * Pending roll-up buckets applied per turn of the write queue (default 64,
   * DEFAULT_CHUNK_BUCKETS): a write waits behind at most one such apply; duckdb-rollup-timer.ts.
   */
  rollupChunkBuckets?: number;
  /**
   * The store checkpoints after the write that takes the WAL past this many
   * bytes (default UPPERSTACK_DUCKDB_CHECKPOINT_WAL, else 2 MiB); 0 leaves it to
   * DuckDB (16 MB, inside a write's commit); duckdb-checkpoint.ts.
   */
  checkpointWalBytes?: number;
  /** Who holds the file, for people: named when another store in this process is refused it (duckdb-holders.ts). */
  owner?: string;
  /** Gets the time of every write and checkpoint (default: UPPERSTACK_DUCKDB_TRACE, 1 for stderr or a file's absolute path). */
  trace?: (e: StoreTraceEvent) => void;
}

/** Throws StoreFailedError naming the first option that cannot be used. */
export function checkOptions(options: DuckDbStoreOptions): void {
  if (!options || typeof options.path !== 'string' || options.path.length === 0) {
    throw new StoreFailedError('DuckDbStore needs a path: a database file or ":memory:"');
  }
  const limit = options.memoryLimitMb;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new StoreFailedError(`DuckDB memory limit must be a whole number of MB (0 for DuckDB's default), got ${limit}`);
  }
  const threads = options.threads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0)) {
    throw new StoreFailedError(`DuckDB threads must be a whole number (0 for DuckDB's default), got ${threads}`);
  }
  const chunk = options.rollupChunkBuckets;
  if (chunk !== undefined && (!Number.isSafeInteger(chunk) || chunk < 1)) {
    throw new StoreFailedError(`roll-up buckets per apply must be a whole number of at least 1, got ${chunk}`);
  }
}

/** The WAL size past which the store checkpoints (option, else UPPERSTACK_DUCKDB_CHECKPOINT_WAL, else the default). */
export function walBytesOf(options: DuckDbStoreOptions): number {
  const walBytes = options.checkpointWalBytes ?? checkpointWalFromEnv(process.env.UPPERSTACK_DUCKDB_CHECKPOINT_WAL) ?? DEFAULT_CHECKPOINT_WAL_BYTES;
  if (!Number.isSafeInteger(walBytes) || walBytes < 0) {
    throw new StoreFailedError(`DuckDB checkpoint threshold must be a whole number of bytes (0 for DuckDB's own), got ${walBytes}`);
  }
  return walBytes;
}
