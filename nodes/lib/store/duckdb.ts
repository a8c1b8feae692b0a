/**
 * TimeSeriesStore on an embedded DuckDB file. The tables are meant to be
 * queried by people with plain SQL, so the layout is long and boring: one row
 * per (device, ts, field), the value in the one column that matches its type.
 * Writes go through duckdb-write.ts, which keeps (device, ts, field) unique
 * without a primary key; what opening the file does is in duckdb-open.ts,
 * the health check in duckdb-health.ts.
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { StoreUnavailableError } from '../errors';
import type { Reading } from '../reading';
import type {
  AggregatePoint,
  AggregateQuery,
  DeadLetter,
  DeadLetterQuery,
  DeviceQuery,
  DeviceSummary,
  LatestAnswer,
  LatestQuery,
  ReadingsPage,
  ReadingsQuery,
  StoreHealth,
  TimeSeriesStore,
} from './types';
import { checkOptions, walBytesOf, type DuckDbStoreOptions } from './duckdb-options';
import { insertDeadLetters, markReplayed, queryDeadLetters, unmarkReplayed } from './duckdb-deadletters';
import { DeadLetterBodies } from './deadletter-bodies';
import { BEHIND_KEY, tierAt, TIERS, type Tier } from './duckdb-rollups';
import { RollupTimer } from './duckdb-rollup-timer';
import { manyBuckets } from './duckdb-rollup-pending';
import { Retention } from './duckdb-retention';
import { RetentionTimer } from './duckdb-retention-timer';
import { checkpointConfig, Checkpoints, traceFromEnv, type StoreTraceEvent } from './duckdb-checkpoint';
import { checkWritable, duckDbConfig } from './duckdb-schema';
import { openDatabase } from './duckdb-open';
import { checkAggregate } from './duckdb-query';
import { DuckDbReader } from './duckdb-reader';
import { message, translateError } from './duckdb-errors';
import { storeHealth } from './duckdb-health';
import { encodeBatch, raiseMarks } from './duckdb-encode';
import { writeBatch } from './duckdb-write';
import { DuckDbRegistry } from './duckdb-registry';
import { holdFile, releaseFile } from './duckdb-holders';
import type { RegistryBackend } from '../devices/types';

export { DEFAULT_THREADS, duckDbConfig, threadsFromEnv } from './duckdb-schema';
export type { StoreTraceEvent } from './duckdb-checkpoint';
export type { DuckDbStoreOptions } from './duckdb-options';

/** An aggregate and the tier that answered it: the raw rows, or the 1-minute or 1-hour roll-ups. */
export interface TieredAggregate {
  points: AggregatePoint[];
  tier: Tier;
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
  /** Queries of the raw rows: a second connection with its own queue (duckdb-reader.ts). */
  private readonly reader: DuckDbReader;
  /** Per device, the latest ts that may be in the table (duckdb-write.ts); read when the file is first opened. */
  private marks = new Map<string, number>();
  private marksRead = false;
  /** Retention and the seal horizon it leaves (duckdb-retention.ts). */
  private readonly retention: Retention;
  private readonly retentionTimer: RetentionTimer;
  private readonly rollups: boolean;
  /** Aggregates of fresh readings written but not yet in the tiers, and when they are applied. */
  private readonly rollupTimer: RollupTimer;
  private readonly checkpoints: Checkpoints;
  private readonly trace?: (e: StoreTraceEvent) => void;
  private checkpointQueued = false;
  /** When a write of readings last committed, and when any queued statement last failed (health()). */
  private committedAt = 0;
  private failedAt = 0;
  /** Dead letters' bodies, beside the database file (deadletter-bodies.ts). */
  private readonly bodies: DeadLetterBodies;

  constructor(options: DuckDbStoreOptions) {
    checkOptions(options);
    this.path = options.path;
    this.options = options;
    this.bodies = new DeadLetterBodies(options.path === ':memory:' ? undefined : `${options.path}.bodies`);
    this.rollups = options.rollups !== false;
    const walBytes = walBytesOf(options);
    this.trace = options.trace ?? traceFromEnv();
    const trace = this.trace;
    this.checkpoints = new Checkpoints(options.path, walBytes, trace && ((e) => trace({ kind: 'checkpoint', ...e })));
    this.reader = new DuckDbReader({
      path: this.path,
      isClosed: () => this.closed,
      database: async () => {
        // Opening (or reopening) the database is the write queue's job.
        if (!this.instance) await this.serial(() => this.connection());
        return this.instance;
      },
      translate: (op, err) => this.translate(op, err),
    });
    this.rollupTimer = new RollupTimer(
      {
        enqueue: (op, fn) => this.enqueue(op, fn),
        translate: (op, err) => this.translate(op, err),
        isClosed: () => this.closed,
        trace: this.trace,
      },
      options.rollupEveryMs ?? 1000,
      options.rollupChunkBuckets,
    );
    this.retention = new Retention(options.retentionMs ?? 0, this.rollups ? (options.rollupRetentionMs ?? 0) : 0, this.rollups);
    this.retentionTimer = new RetentionTimer(() => this.applyRetention(), options.retentionEveryMs ?? 600_000);
  }

  async open(): Promise<void> {
    await this.serial(async () => {
      this.closed = false;
      await this.connection();
    });
    // No retention pass at open (duckdb-retention-timer.ts).
    if (this.retention.enabled) this.retentionTimer.start();
  }

  /** Everything started with the store has registered its holds (holdRaw): the first retention pass may run now. */
  holdsRegistered(): void {
    this.retentionTimer.holdsRegistered();
  }

  write(readings: Reading[]): Promise<void> {
    if (readings.length === 0) return Promise.resolve();
    const queued = this.trace ? performance.now() : 0;
    const done = this.enqueue('write', async (conn) => {
      const t0 = this.trace ? performance.now() : 0;
      await this.writeNow(conn, readings);
      if (this.trace) this.trace({ kind: 'write', ms: performance.now() - t0, waitMs: t0 - queued, readings: readings.length });
    });
    return this.checkpointAfter(done);
  }

  /**
   * Queues the checkpoint a write has made due right after it, before the next
   * write; the write is acknowledged without waiting for it. Dead letters and
   * replay marks grow the WAL as readings do, so a flood of bad messages alone
   * checkpoints too.
   */
  private checkpointAfter<T>(done: Promise<T>): Promise<T> {
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
    // (the only readings a repair after a crash is sure to find; duckdb-rollup-open.ts).
    // Unless they open many new buckets (a fleet's first readings): those merge in the write.
    if (batch.suspects === 0 && this.retention.after(batch.earliest) && !manyBuckets(batch)) {
      await writeBatch(conn, batch, []);
      return this.rollupTimer.deferred(conn, batch);
    }
    // Suspects' buckets are recomputed from the raw rows: what is pending goes first, or it would count twice.
    // Fresh rows merged here go after what is pending too: a repair after a crash relies on write order.
    await this.rollupTimer.applyAll(conn);
    await writeBatch(conn, batch, TIERS);
  }

  /** Queues a checkpoint when the WAL is past the threshold (once: writes queued meanwhile do not add more). */
  private checkpointIfDue(retry = false): void {
    if (this.checkpointQueued || this.closed || !this.checkpoints.due()) return;
    this.checkpointQueued = true;
    void this.enqueue('checkpoint', async (conn) => {
      this.checkpointQueued = false;
      if (this.checkpoints.due()) await this.checkpoints.run(conn);
    }).catch((err: unknown) => {
      this.checkpointQueued = false;
      // DuckDB refuses while a query on the reading connection that began before the last commit
      // still runs (that commit is not cleaned up yet): tried again once those queries are done,
      // without holding the writes meanwhile. Otherwise left to the next write past the threshold,
      // and to DuckDB's own threshold (duckdb-checkpoint.ts).
      if (!retry && /other write transactions active/.test(message(err))) void this.reader.idle().then(() => this.checkpointIfDue(true));
    });
  }

  holdRaw(key: string, earliest: () => number | undefined): () => void {
    return this.retention.hold(key, earliest);
  }

  /** Read at open (meta `raw_cutoff`) and raised by each retention pass. */
  async rawSince(): Promise<number | undefined> {
    return this.retention.rawCutoff;
  }

  /**
   * Deletes what retention says is too old (raw rows, roll-up buckets); runs
   * once the holds are registered and periodically. `now` is for tests.
   */
  applyRetention(now = Date.now()): Promise<void> {
    if (!this.retention.enabled) return Promise.resolve();
    return this.enqueue('apply retention', async (conn) => {
      // Raw rows about to go must be in the tiers first.
      await this.rollupTimer.applyAll(conn);
      await this.retention.apply(conn, now);
    });
  }

  /**
   * The aggregate and which tier answered it (tierAt: a roll-up that fits the query exactly, the 1-minute one before the raw cutoff, else raw).
   * A tier is read on the reading connection with the roll-ups still pending merged in (duckdb-rollup-read.ts): an
   * aggregate neither waits behind writes nor makes them wait for an apply.
   */
  async aggregateWithTier(q: AggregateQuery): Promise<TieredAggregate> {
    checkAggregate(q);
    const { tier, q: tq } = this.rollups ? tierAt(q, this.retention.rawCutoff) : { tier: undefined, q };
    if (!tier) return { points: await this.aggregateRaw(q), tier: 'raw' };
    // Captured now, before the read's snapshot: the argument is at PendingRollups.capture.
    const pending = this.rollupTimer.pending.capture(tq.device, tq.field, tq.from, tq.to);
    return { points: await this.reader.aggregateTier(tier.table, tq, pending), tier: tier.tier };
  }

  /**
   * Applies the roll-ups pending now, rather than at the timer's next turn (a write waits behind it);
   * `chunks` stops after that many of them, oldest first, as the timer's turns would (tests, the crash child).
   */
  applyRollups(chunks = Infinity): Promise<void> {
    if (!this.rollups) return Promise.resolve();
    return this.enqueue('apply roll-ups', (conn) => this.rollupTimer.applyAll(conn, chunks));
  }

  writeDeadLetters(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return Promise.resolve();
    return this.checkpointAfter(this.enqueue('write dead letters', (conn) => insertDeadLetters(conn, this.bodies, letters, this.options.deadLetterBodyBudget)));
  }

  readings(q: ReadingsQuery): Promise<ReadingsPage> {
    return this.reader.readings(q);
  }

  async aggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    return (await this.aggregateWithTier(q)).points;
  }

  /** The aggregate over the raw rows (what the roll-ups must equal). */
  aggregateRaw(q: AggregateQuery): Promise<AggregatePoint[]> {
    return this.reader.aggregateRaw(q);
  }

  deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.enqueue('query dead letters', (conn) => queryDeadLetters(conn, this.bodies, q));
  }

  markDeadLettersReplayed(ids: number[], at: number): Promise<number[]> {
    return this.checkpointAfter(this.enqueue('mark dead letters replayed', (conn) => markReplayed(conn, this.bodies, ids, at)));
  }

  unmarkDeadLettersReplayed(letters: Array<{ id: number; body?: string }>): Promise<void> {
    return this.checkpointAfter(this.enqueue('unmark dead letters', (conn) => unmarkReplayed(conn, this.bodies, letters)));
  }

  /** The device registry's tables in this database (duckdb-registry.ts). */
  registry(): RegistryBackend {
    return (this.registryTables ??= new DuckDbRegistry((op, fn) => this.enqueue(op, fn)));
  }

  private registryTables?: DuckDbRegistry;

  devices(q: DeviceQuery = {}): Promise<DeviceSummary[]> {
    return this.reader.devices(q);
  }

  latest(q: LatestQuery): Promise<LatestAnswer> {
    return this.reader.latest(q);
  }

  health(): Promise<StoreHealth> {
    return storeHealth({
      path: this.path,
      closed: this.closed,
      committedAt: this.committedAt,
      failedAt: this.failedAt,
      memory: () => this.reader.memory(),
      probe: () => this.enqueue('health check', checkWritable),
    });
  }

  /** Lets calls already queued finish first. */
  close(): Promise<void> {
    this.retentionTimer.stop();
    this.rollupTimer.stop();
    return this.serial(async () => {
      const conn = this.conn;
      if (conn && this.rollups) {
        // Caught up: the next open need not repair. If this fails the marker stays and it does.
        try {
          await this.rollupTimer.applyAll(conn);
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
      await this.reader.idle();
      try {
        this.shutdown();
      } finally {
        releaseFile(this.path, this);
        await this.bodies.close();
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private enqueue<T>(op: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    // Writes trace themselves; any other turn is traced too, since a write may wait behind it.
    const trace = op === 'write' ? undefined : this.trace;
    const queued = trace ? performance.now() : 0;
    return this.serial(async () => {
      const t0 = trace ? performance.now() : 0;
      const conn = await this.connection();
      try {
        const result = await fn(conn);
        if (op === 'write') this.committedAt = Date.now();
        return result;
      } catch (err) {
        this.failedAt = Date.now();
        throw this.translate(op, err);
      } finally {
        if (trace) trace({ kind: 'op', op, ms: performance.now() - t0, waitMs: t0 - queued });
      }
    });
  }

  /** Opens on first use, and again after DuckDB invalidated the database. */
  private async connection(): Promise<DuckDBConnection> {
    if (this.closed) throw new StoreUnavailableError(`DuckDB store "${this.path}" is closed`);
    if (this.conn) return this.conn;
    holdFile(this.path, this, this.options.owner ?? 'another store');
    try {
      const opened = await openDatabase({
        path: this.path,
        config: { ...duckDbConfig(this.options), ...checkpointConfig(this.checkpoints.walBytes) },
        retention: this.retention,
        bodies: this.bodies,
        rollups: this.rollups ? this.rollupTimer.pending : undefined,
        marks: !this.marksRead,
      });
      // Kept across a reopen: marks may be too high (a write that failed), never too low.
      if (opened.marks) {
        this.marks = opened.marks;
        this.marksRead = true;
      }
      this.instance = opened.instance;
      this.conn = opened.conn;
      return opened.conn;
    } catch (err) {
      releaseFile(this.path, this);
      throw new StoreUnavailableError(`cannot open DuckDB database "${this.path}": ${message(err)}`, { cause: err });
    }
  }

  private translate(op: string, err: unknown): Error {
    return translateError(this.path, op, err, () => this.shutdown());
  }

  private shutdown(): void {
    const { conn, instance } = this;
    const reader = this.reader.detach();
    this.conn = undefined;
    this.instance = undefined;
    try {
      reader?.closeSync();
      conn?.closeSync();
    } finally {
      instance?.closeSync();
    }
  }
}
