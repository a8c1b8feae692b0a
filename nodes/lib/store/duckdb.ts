/**
 * TimeSeriesStore on an embedded DuckDB file. The tables are meant to be
 * queried by people with plain SQL, so the layout is long and boring: one row
 * per (device, ts, field), the value in the one column that matches its type.
 * Writes go through duckdb-write.ts, which keeps (device, ts, field) unique
 * without a primary key.
 */
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { StoreFailedError, StoreUnavailableError, UpperstackError } from '../errors';
import type { Reading } from '../reading';
import type {
  AggregatePoint,
  AggregateQuery,
  DeadLetter,
  DeadLetterQuery,
  DeviceQuery,
  DeviceSummary,
  ReadingsPage,
  ReadingsQuery,
  StoreHealth,
  TimeSeriesStore,
} from './types';
import { insertDeadLetters, markReplayed, migrateDeadLetters, queryDeadLetters, unmarkReplayed } from './duckdb-deadletters';
import { aggregateTier, rebuildAll, ROLLUP_SCHEMA, tierFor, TIERS, type Tier } from './duckdb-rollups';
import { BEHIND_KEY, PendingRollups, repairBehind } from './duckdb-rollup-pending';
import { Retention } from './duckdb-retention';
import { checkpointConfig, checkpointWalFromEnv, Checkpoints, DEFAULT_CHECKPOINT_WAL_BYTES, traceFromEnv, type StoreTraceEvent } from './duckdb-checkpoint';
import { duckDbConfig, dropReadingsKey, SCHEMA } from './duckdb-schema';
import { checkAggregate, planAggregateRaw, planDevices, planReadings } from './duckdb-query';
import { encodeBatch, raiseMarks, readMarks, writeBatch } from './duckdb-write';
import { DuckDbRegistry } from './duckdb-registry';
import type { RegistryBackend } from '../devices/types';

export { DEFAULT_THREADS, duckDbConfig, threadsFromEnv } from './duckdb-schema';
export type { StoreTraceEvent } from './duckdb-checkpoint';

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
   * (default 1000 ms), and before anything reads the tiers; duckdb-rollup-pending.ts.
   */
  rollupEveryMs?: number;
  /**
   * The store checkpoints after the write that takes the WAL past this many
   * bytes (default UPPERSTACK_DUCKDB_CHECKPOINT_WAL, else 0); 0 leaves it to
   * DuckDB (16 MB); duckdb-checkpoint.ts.
   */
  checkpointWalBytes?: number;
  /** Gets the time of every write and checkpoint (default: UPPERSTACK_DUCKDB_TRACE=1 prints them to stderr). */
  trace?: (e: StoreTraceEvent) => void;
}

/** Pending (device, field, minute) buckets past which they are applied at once rather than by the timer. */
const MAX_PENDING = 20_000;

/** An aggregate and the tier that answered it: the raw rows, or the 1-minute or 1-hour roll-ups. */
export interface TieredAggregate {
  points: AggregatePoint[];
  tier: Tier;
}

// DuckDB reports files it cannot open, lock, read or write as IO errors; a
// fatal error (e.g. a failed WAL write) invalidates the database until reopened.
// A missing table (someone dropped it) is the database's state, not the data's.
// Everything else a write statement raises (Out of Memory for one too-large
// batch, conversion, invalid input such as a lone surrogate, constraints) is
// the data's: StoreFailedError, and the writer isolates the readings.
const UNAVAILABLE = /IO Error|Could not set lock|Permission denied|No space left|read-only|Cannot open|not a valid DuckDB database|Catalog Error|Connection Error|Interrupt/i;
const INVALIDATED = /FATAL Error|invalidated/i;
const HEALTH_PROBE = `INSERT INTO readings VALUES ('upperstack health probe', TIMESTAMP '1970-01-01', 'probe', 0, NULL, NULL, '{}')`;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}



export class DuckDbStore implements TimeSeriesStore {
  readonly kind = 'duckdb';
  readonly path: string;
  private instance?: DuckDBInstance;
  private conn?: DuckDBConnection;
  private closed = false;
  private readonly options: DuckDbStoreOptions;
  // One connection serves writes and everything that must follow them in order
  // (roll-ups, retention, dead letters, the registry); the queue keeps its
  // statements and transactions from interleaving.
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Queries of the raw rows run on a second connection, in their own queue: a
   * committed write is visible to them, and they do not wait behind writes,
   * roll-up applies or checkpoints (a poll for fresh readings would otherwise
   * wait for all of those).
   */
  private reader?: DuckDBConnection;
  private readQueue: Promise<unknown> = Promise.resolve();
  /** Per device, the latest ts that may be in the table (duckdb-write.ts); read when the file is first opened. */
  private marks = new Map<string, number>();
  private marksRead = false;
  /** Retention and the seal horizon it leaves (duckdb-retention.ts). */
  private readonly retention: Retention;
  private retentionTimer?: NodeJS.Timeout;
  private readonly rollups: boolean;
  /** Aggregates of fresh readings written but not yet in the tiers. */
  private readonly pending = new PendingRollups();
  private rollupTimer?: NodeJS.Timeout;
  private readonly checkpoints: Checkpoints;
  private readonly trace?: (e: StoreTraceEvent) => void;
  private checkpointQueued = false;

  constructor(options: DuckDbStoreOptions) {
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
    this.path = options.path;
    this.options = options;
    this.rollups = options.rollups !== false;
    const walBytes = options.checkpointWalBytes ?? checkpointWalFromEnv(process.env.UPPERSTACK_DUCKDB_CHECKPOINT_WAL) ?? DEFAULT_CHECKPOINT_WAL_BYTES;
    if (!Number.isSafeInteger(walBytes) || walBytes < 0) {
      throw new StoreFailedError(`DuckDB checkpoint threshold must be a whole number of bytes (0 for DuckDB's own), got ${walBytes}`);
    }
    this.trace = options.trace ?? traceFromEnv();
    const trace = this.trace;
    this.checkpoints = new Checkpoints(options.path, walBytes, trace && ((e) => trace({ kind: 'checkpoint', ...e })));
    this.retention = new Retention(options.retentionMs ?? 0, this.rollups ? (options.rollupRetentionMs ?? 0) : 0, this.rollups);
  }

  async open(): Promise<void> {
    await this.serial(async () => {
      this.closed = false;
      await this.connection();
    });
    if (this.retention.enabled && !this.retentionTimer) {
      await this.applyRetention();
      this.retentionTimer = setInterval(() => void this.applyRetention().catch(() => undefined), this.options.retentionEveryMs ?? 600_000);
      this.retentionTimer.unref?.();
    }
  }

  write(readings: Reading[]): Promise<void> {
    if (readings.length === 0) return Promise.resolve();
    const done = this.enqueue('write', async (conn) => {
      const t0 = this.trace ? performance.now() : 0;
      await this.writeNow(conn, readings);
      if (this.trace) this.trace({ kind: 'write', ms: performance.now() - t0, readings: readings.length });
    });
    // Right after the write, before the next: the write is acknowledged without waiting for it.
    void done.then(() => this.checkpointIfDue(), () => undefined);
    return done;
  }

  private async writeNow(conn: DuckDBConnection, readings: Reading[]): Promise<void> {
    await this.retention.refuseSealed(conn, readings);
    // In queue order, so each batch is judged against the marks of every write before it.
    const batch = encodeBatch(readings, this.marks);
    raiseMarks(this.marks, batch);
    if (!this.rollups) return writeBatch(conn, batch, []);
    // Fresh readings at or after the seal horizon: the raw rows now, their roll-ups later
    // (the only readings a repair after a crash is sure to find; duckdb-rollup-pending.ts).
    if (batch.suspects === 0 && this.retention.after(batch.earliest)) {
      await writeBatch(conn, batch, []);
      this.pending.add(batch);
      if (this.pending.size >= MAX_PENDING) await this.applyPending(conn);
      else this.armRollups();
      return;
    }
    // Suspects' buckets are recomputed from the raw rows: what is pending goes first, or it would count twice.
    await this.pending.apply(conn);
    await writeBatch(conn, batch, TIERS);
  }

  /** Queues a checkpoint when the WAL is past the threshold (once: writes queued meanwhile do not add more). */
  private checkpointIfDue(): void {
    if (this.checkpointQueued || this.closed || !this.checkpoints.due()) return;
    this.checkpointQueued = true;
    void this.enqueue('checkpoint', async (conn) => {
      this.checkpointQueued = false;
      if (this.checkpoints.due()) await this.checkpoints.run(conn);
    }).catch(() => {
      // Left to the next write past the threshold, and to DuckDB's own threshold (duckdb-checkpoint.ts).
      this.checkpointQueued = false;
    });
  }

  /** Applies the pending roll-ups; the write before is durable whatever happens here, so a failure only keeps them pending. */
  private async applyPending(conn: DuckDBConnection): Promise<void> {
    try {
      await this.pending.apply(conn);
    } catch (err) {
      // A database DuckDB invalidated is reopened (and its tiers repaired) on next use.
      this.translate('apply roll-ups', err);
      this.armRollups();
    }
  }

  private armRollups(): void {
    if (this.rollupTimer || this.closed) return;
    this.rollupTimer = setTimeout(() => {
      this.rollupTimer = undefined;
      if (this.pending.size === 0) return;
      void this.enqueue('apply roll-ups', (conn) => this.applyPending(conn)).catch(() => undefined);
    }, this.options.rollupEveryMs ?? 1000);
    this.rollupTimer.unref?.();
  }

  /**
   * Deletes what retention says is too old (raw rows, roll-up buckets); runs at
   * open and periodically. `now` is for tests.
   */
  applyRetention(now = Date.now()): Promise<void> {
    if (!this.retention.enabled) return Promise.resolve();
    return this.enqueue('apply retention', async (conn) => {
      // Raw rows about to go must be in the tiers first.
      await this.pending.apply(conn);
      await this.retention.apply(conn, now);
    });
  }

  /** The aggregate and which tier answered it: the coarsest roll-up whose buckets fit the query exactly, else the raw rows. */
  async aggregateWithTier(q: AggregateQuery): Promise<TieredAggregate> {
    checkAggregate(q);
    const tier = this.rollups ? tierFor(q) : undefined;
    if (!tier) return { points: await this.aggregateRaw(q), tier: 'raw' };
    const points = await this.enqueue('aggregate', async (conn) => {
      await this.pending.apply(conn);
      return aggregateTier(conn, tier.table, q, { device: q.device, field: q.field });
    });
    return { points, tier: tier.tier };
  }

  private async inTransaction(conn: DuckDBConnection, fn: () => Promise<void>): Promise<void> {
    await conn.run('BEGIN TRANSACTION');
    try {
      await fn();
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  writeDeadLetters(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return Promise.resolve();
    return this.enqueue('write dead letters', (conn) => insertDeadLetters(conn, letters, this.options.deadLetterBodyBudget));
  }

  async readings(q: ReadingsQuery): Promise<ReadingsPage> {
    const plan = planReadings(q);
    return typeof plan === 'function' ? this.read('query readings', plan) : plan;
  }

  async aggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    return (await this.aggregateWithTier(q)).points;
  }

  /** The aggregate over the raw rows (what the roll-ups must equal). */
  async aggregateRaw(q: AggregateQuery): Promise<AggregatePoint[]> {
    return this.read('aggregate', planAggregateRaw(q));
  }

  deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.enqueue('query dead letters', (conn) => queryDeadLetters(conn, q));
  }

  markDeadLettersReplayed(ids: number[], at: number): Promise<number[]> {
    return this.enqueue('mark dead letters replayed', (conn) => markReplayed(conn, ids, at));
  }

  unmarkDeadLettersReplayed(letters: Array<{ id: number; body?: string }>): Promise<void> {
    return this.enqueue('unmark dead letters', (conn) => unmarkReplayed(conn, letters));
  }

  /** The device registry's tables in this database (duckdb-registry.ts). */
  registry(): RegistryBackend {
    return (this.registryTables ??= new DuckDbRegistry((op, fn) => this.enqueue(op, fn)));
  }

  private registryTables?: DuckDbRegistry;

  devices(q: DeviceQuery = {}): Promise<DeviceSummary[]> {
    return this.read('list devices', planDevices(q));
  }

  async health(): Promise<StoreHealth> {
    const where = this.path === ':memory:' ? 'in-memory DuckDB' : `DuckDB file ${this.path}`;
    if (this.closed) return { ok: false, detail: `${where} is closed` };
    try {
      // A committed write, not just a read: a full disk or lost file shows here.
      const memory = await this.enqueue('health check', async (conn) => {
        await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('health_checked_at', $now)`, { now: new Date().toISOString() });
        // A row in the readings table too, rolled back: its index and the memory a write needs are
        // what readings depend on (the writer asks this before it blames a reading the store refused).
        await conn.run('BEGIN TRANSACTION');
        try {
          await conn.run(HEALTH_PROBE);
        } finally {
          await conn.run('ROLLBACK');
        }
        const r = await conn.runAndReadAll(`SELECT memory_usage, memory_limit FROM pragma_database_size() WHERE database_name = current_database()`);
        return r.getRowObjects()[0] as { memory_usage?: string; memory_limit?: string } | undefined;
      });
      return { ok: true, detail: `${where} is writable; memory ${memory?.memory_usage ?? '?'} of ${memory?.memory_limit ?? '?'}` };
    } catch (err) {
      return { ok: false, detail: message(err) };
    }
  }

  /** Lets calls already queued finish first. */
  close(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = undefined;
    if (this.rollupTimer) clearTimeout(this.rollupTimer);
    this.rollupTimer = undefined;
    return this.serial(async () => {
      const conn = this.conn;
      if (conn && this.rollups) {
        // Caught up: the next open need not repair. If this fails the marker stays and it does.
        try {
          await this.pending.apply(conn);
          await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('${BEHIND_KEY}', '0')`);
        } catch {
          // Left to the repair at the next open.
        }
      }
      // The file holds everything and the WAL is empty. DuckDB checkpoints at shutdown too, but
      // silently: this one is traced, and a failure leaves the WAL to be replayed at the next open.
      if (conn) await this.checkpoints.run(conn).catch(() => undefined);
      this.closed = true;
      // Queries already running finish on the reading connection; later ones find the store closed.
      await this.readQueue;
      this.shutdown();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs a query of committed rows on the reading connection (opened with the store's). */
  private read<T>(op: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.readQueue.then(async () => {
      const conn = await this.readConnection();
      try {
        return await fn(conn);
      } catch (err) {
        throw this.translate(op, err);
      }
    });
    this.readQueue = run.catch(() => undefined);
    return run;
  }

  private async readConnection(): Promise<DuckDBConnection> {
    if (this.closed) throw new StoreUnavailableError(`DuckDB store "${this.path}" is closed`);
    // Opening (or reopening) the database is the write queue's job.
    if (!this.instance) await this.serial(() => this.connection());
    const instance = this.instance;
    if (!instance) throw new StoreUnavailableError(`DuckDB store "${this.path}" is closed`);
    if (!this.reader) this.reader = await instance.connect();
    return this.reader;
  }

  private enqueue<T>(op: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const conn = await this.connection();
      try {
        return await fn(conn);
      } catch (err) {
        throw this.translate(op, err);
      }
    });
  }

  /** Opens on first use, and again after DuckDB invalidated the database. */
  private async connection(): Promise<DuckDBConnection> {
    if (this.closed) throw new StoreUnavailableError(`DuckDB store "${this.path}" is closed`);
    if (this.conn) return this.conn;
    let instance: DuckDBInstance | undefined;
    try {
      instance = await DuckDBInstance.create(this.path, { ...duckDbConfig(this.options), ...checkpointConfig(this.checkpoints.walBytes) });
      const conn = await instance.connect();
      await conn.run(SCHEMA);
      await dropReadingsKey(conn);
      await migrateDeadLetters(conn);
      if (this.rollups) await this.prepareRollups(conn);
      // Writes from now on leave the roll-ups behind: the next open with them rebuilds them.
      else await conn.run(`DELETE FROM upperstack_meta WHERE key = 'rollups'`);
      // Kept across a reopen: marks may be too high (a write that failed), never too low.
      if (!this.marksRead) {
        this.marks = await readMarks(conn);
        this.marksRead = true;
      }
      this.instance = instance;
      this.conn = conn;
      return conn;
    } catch (err) {
      instance?.closeSync();
      throw new StoreUnavailableError(`cannot open DuckDB database "${this.path}": ${message(err)}`, { cause: err });
    }
  }

  /**
   * Creates the roll-up tables; a store whose roll-ups are not (or no longer) current gets them rebuilt
   * from its raw rows once, and one that did not close cleanly gets the buckets its last run may not
   * have applied recomputed (duckdb-rollup-pending.ts).
   */
  private async prepareRollups(conn: DuckDBConnection): Promise<void> {
    await conn.run(ROLLUP_SCHEMA);
    const meta = (await conn.runAndReadAll(`SELECT key, value FROM upperstack_meta WHERE key IN ('rollups', 'sealed_before', '${BEHIND_KEY}')`)).getRows();
    const get = (k: string) => meta.find((r) => r[0] === k)?.[1] as string | undefined;
    await this.retention.read(conn, get('sealed_before'));
    if (get('rollups') !== '1') {
      // Written while roll-ups were off (or before they existed): built once from the raw rows.
      await this.inTransaction(conn, async () => {
        await rebuildAll(conn);
        await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('rollups', '1')`);
      });
    } else if (get(BEHIND_KEY) === '1') {
      await repairBehind(conn, this.retention.sealedBefore);
    }
    // Whatever was pending is in the tiers now (this also runs when DuckDB invalidated the database and it is reopened).
    this.pending.clear();
    // Set before any write can defer its roll-ups; a clean close clears it.
    await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('${BEHIND_KEY}', '1')`);
  }

  private translate(op: string, err: unknown): Error {
    if (err instanceof UpperstackError) return err;
    const text = message(err);
    if (INVALIDATED.test(text)) {
      this.shutdown();
      return new StoreUnavailableError(`DuckDB database "${this.path}" failed and will be reopened (${op}): ${text}`, { cause: err });
    }
    if (UNAVAILABLE.test(text)) {
      return new StoreUnavailableError(`DuckDB database "${this.path}" cannot be used (${op}): ${text}`, { cause: err });
    }
    return new StoreFailedError(`DuckDB ${op} failed: ${text}`, { cause: err });
  }

  private shutdown(): void {
    const { conn, reader, instance } = this;
    this.conn = undefined;
    this.reader = undefined;
    this.instance = undefined;
    try {
      reader?.closeSync();
      conn?.closeSync();
    } finally {
      instance?.closeSync();
    }
  }
}
