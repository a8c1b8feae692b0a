/** What every time-series store offers the nodes and the query API. */
import type { Reading } from '../reading';

export type AggregateFn = 'mean' | 'min' | 'max' | 'sum' | 'count' | 'last';

export interface ReadingsQuery {
  device: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Only these fields; all when absent. */
  fields?: string[];
  /** At most this many readings (distinct timestamps). */
  limit: number;
  /** Opaque cursor from a previous page; continues strictly after it. */
  cursor?: string;
}

export interface ReadingsPage {
  readings: Array<Pick<Reading, 'ts' | 'fields' | 'tags'>>;
  /** Present when more readings follow. */
  nextCursor?: string;
}

export interface AggregateQuery {
  device: string;
  field: string;
  from?: number;
  to?: number;
  /** Bucket width in ms. */
  everyMs: number;
  fn: AggregateFn;
}

export interface AggregatePoint {
  /** Bucket start, epoch ms. */
  ts: number;
  value: number | boolean | string | null;
}

export interface DeadLetter {
  /** When it was recorded, epoch ms. */
  ts: number;
  device: string;
  /** Where it came from: 'mqtt:<topic>', 'http:<path>', 'coap:<path>'. */
  source: string;
  code: string;
  reason: string;
  /** The offending payload, possibly truncated, base64 when not UTF-8 text. */
  payload: string;
}

export interface DeviceQuery {
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

export interface DeviceSummary {
  device: string;
  /** Tags of the device's latest reading in the range. */
  tags: Record<string, string>;
  /** Field names seen in the range, sorted. */
  fields: string[];
}

export interface StoreHealth {
  ok: boolean;
  detail: string;
}

/**
 * Where readings are written durably: an embedded database, a time-series
 * server. One DurableWriter (nodes/lib/store/writer.ts) per sink, each with its
 * own spool; a store config can hold several (nodes/lib/store/sinks.ts).
 *
 * `write` is durable once it resolves and idempotent on (device, ts, field). A
 * failure must say which of two kinds it is, because the writer acts on it:
 *
 * - StoreUnavailableError: the sink cannot be reached or written *now*, whatever
 *   the data (file cannot be opened or written, disk full, lock held, server
 *   down or timing out, 5xx, credentials refused). The writer spools the batch,
 *   reports it durable and retries with backoff, in order.
 * - StoreFailedError ("rejected data"): this statement fails for what is in it
 *   (memory for one too-large batch, a value that cannot be converted, a
 *   constraint, a 400 naming a bad point, a 413). The writer splits the batch
 *   in halves until the readings the sink refuses are isolated, stores the
 *   rest and dead-letters each refused reading (STORE_REJECTED) with the
 *   sink's message. It blames a lone reading only while `health()` passes, so
 *   an error misclassified as rejected while the sink is really down still
 *   ends in the spool. Anything else thrown is treated as rejected data.
 *
 * A batch is never retried forever for a data reason: classify an error as
 * unavailable only when retrying the same data later can succeed.
 */
export interface ReadingSink {
  /** The sink kind in the registry (nodes/lib/store/sinks.ts), e.g. 'duckdb'. */
  readonly kind: string;
  open(): Promise<void>;
  write(readings: Reading[]): Promise<void>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/**
 * A sink that also answers queries and keeps dead letters (the query API,
 * anomaly backtests, reports). `kind` is optional here only so that stores
 * written before sinks had kinds still type-check.
 */
export interface TimeSeriesStore extends Omit<ReadingSink, 'kind'> {
  readonly kind?: string;
  open(): Promise<void>;
  /** Idempotent on (device, ts, field): writing the same reading twice keeps one row. */
  write(readings: Reading[]): Promise<void>;
  writeDeadLetters(letters: DeadLetter[]): Promise<void>;
  readings(q: ReadingsQuery): Promise<ReadingsPage>;
  aggregate(q: AggregateQuery): Promise<AggregatePoint[]>;
  deadLetters(opts: { device?: string; limit: number }): Promise<DeadLetter[]>;
  /** Devices with readings in the range (reports and invoices pick devices by name or tag). */
  devices?(q: DeviceQuery): Promise<DeviceSummary[]>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
