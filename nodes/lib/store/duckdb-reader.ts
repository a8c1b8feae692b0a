/**
 * The DuckDB store's read side: queries of the raw rows (a page of readings,
 * an aggregate over them, the devices) and of the roll-up tiers on a second connection of the store's
 * database, in their own queue. A committed write is visible to them, and they
 * do not wait behind writes, roll-up applies or checkpoints (a poll for fresh
 * readings would otherwise wait for all of those).
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { StoreUnavailableError } from '../errors';
import type { AggregatePoint, AggregateQuery, DeviceQuery, DeviceSummary, LatestAnswer, LatestQuery, ReadingsPage, ReadingsQuery } from './types';
import { planAggregateRaw, planDevices, planLatest, planReadings } from './duckdb-query';
import { readMemory, type StoreMemory } from './duckdb-schema';
import { planAggregateTier } from './duckdb-rollup-read';
import type { PendingView } from './duckdb-rollup-pending';

/** What the reader needs of its store: the database (opened by the store's write queue) and its error wording. */
export interface ReaderHost {
  readonly path: string;
  /** Whether the store is closed (later queries find it so). */
  isClosed(): boolean;
  /** The open database, opening (or reopening) it first. */
  database(): Promise<DuckDBInstance | undefined>;
  translate(op: string, err: unknown): Error;
}

export class DuckDbReader {
  private conn?: DuckDBConnection;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: ReaderHost) {}

  async readings(q: ReadingsQuery): Promise<ReadingsPage> {
    const plan = planReadings(q);
    return typeof plan === 'function' ? this.read('query readings', plan) : plan;
  }

  /** The aggregate over the raw rows (what the roll-ups must equal). */
  aggregateRaw(q: AggregateQuery): Promise<AggregatePoint[]> {
    return this.read('aggregate', planAggregateRaw(q));
  }

  /** The aggregate from a roll-up tier, with the pending deltas its snapshot lacks (duckdb-rollup-read.ts). */
  aggregateTier(table: string, q: AggregateQuery, pending: PendingView): Promise<AggregatePoint[]> {
    return this.read('aggregate', planAggregateTier(table, q, pending));
  }

  devices(q: DeviceQuery): Promise<DeviceSummary[]> {
    return this.read('list devices', planDevices(q));
  }

  latest(q: LatestQuery): Promise<LatestAnswer> {
    return this.read('read the latest values', planLatest(q));
  }

  /** The database's memory use and limit, read beside the writes. */
  memory(): Promise<StoreMemory | undefined> {
    return this.read('read memory use', readMemory);
  }

  /** Settles when the queries queued so far have finished. */
  idle(): Promise<unknown> {
    return this.queue;
  }

  /** Drops the connection (the store closes the database right after). */
  detach(): DuckDBConnection | undefined {
    const conn = this.conn;
    this.conn = undefined;
    return conn;
  }

  /** Runs a query of committed rows on the reading connection (opened with the store's). */
  private read<T>(op: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const conn = await this.connection();
      try {
        return await fn(conn);
      } catch (err) {
        throw this.host.translate(op, err);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async connection(): Promise<DuckDBConnection> {
    const closed = () => new StoreUnavailableError(`DuckDB store "${this.host.path}" is closed`);
    if (this.host.isClosed()) throw closed();
    const instance = await this.host.database();
    if (!instance) throw closed();
    if (!this.conn) this.conn = await instance.connect();
    return this.conn;
  }
}
