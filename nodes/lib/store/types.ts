/** What every time-series store offers the nodes and the query API. */
import type { Reading } from '../reading';
import type { RegistryBackend } from '../devices/types';
import type { QuotedValue } from '../errors';

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
  /** Assigned by the store when it keeps the letter; increases with each letter. */
  id?: number;
  /** When it was recorded, epoch ms. */
  ts: number;
  device: string;
  /** Where it came from: 'mqtt:<topic>', 'http:<path>', 'coap:<path>'. */
  source: string;
  code: string;
  reason: string;
  /** The offending payload, possibly truncated, base64 when not UTF-8 text. */
  payload: string;
  /** The sender's values the reason quotes, and where: a reader who may not see them gets their kinds instead. */
  quoted?: QuotedValue[];
  /**
   * What a replay needs (all optional, and JSON-safe so a spool can hold them): the whole message as it
   * arrived (base64), its content type, the format it was decoded as, the input's extra facts (e.g. a
   * line-protocol precision), the node id of the input that journaled it and when it arrived.
   */
  body?: string;
  /**
   * The body as bytes, inside the process only: the dead-letter node gives the message's own bytes here
   * instead of `body`, so a large message is not copied into base64 text on its way to the store, which
   * takes `bytes` before `body`. Not JSON-safe: the writer's spool turns it into `body` (spoolSafe).
   */
  bytes?: Uint8Array;
  contentType?: string;
  format?: string;
  meta?: Record<string, string>;
  input?: string;
  /** When the input received the message, epoch ms: a replay keeps it, so readings without a time keep theirs. */
  receivedAt?: number;
  /** Epoch ms when it was replayed; a replayed letter is never replayed again. */
  replayedAt?: number;
  /**
   * Set by a store's query: it keeps the body, so the letter can be replayed. Given as false to a store's write, the
   * letter keeps no message whatever its excerpt: the dead-letter node says so of a message a replay would refuse the
   * same way (keepsForReplay).
   */
  replayable?: boolean;
}

/** Dead letters to list or replay; every filter is optional. */
export interface DeadLetterQuery {
  device?: string;
  /** Any of these codes. */
  codes?: string[];
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  limit: number;
  /** Continue after this letter (in the order asked for): the `ts` and `id` of the last one seen. */
  after?: { ts: number; id: number };
  /** By the time they were recorded, then id. 'asc': oldest first; 'desc' (default): newest first. */
  order?: 'asc' | 'desc';
  /** true: only replayed ones; false: only those not replayed yet. */
  replayed?: boolean;
  /** true: only those that keep their message (a replay can take them); false: only those that do not. */
  replayable?: boolean;
  /** Only these ids. */
  ids?: number[];
  /** Include `body` (the bytes a replay needs); listings leave it out. */
  withBody?: boolean;
}

export interface DeviceQuery {
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

/**
 * Field prefix of the alert transitions the alert node keeps in the store beside the readings
 * (`alert.<rule>` = state, the alert's details as tags): rows about a device, not measurements of it.
 */
export const ALERT_FIELD_PREFIX = 'alert.';

/** What a dashboard shows at start: the devices heard from last and their newest values, and recent chart points. */
export interface LatestQuery {
  /** At most this many devices, those heard from most recently. */
  devices: number;
  /** Fields whose values since `since` are wanted as chart points. */
  chartFields: readonly string[];
  /** Epoch ms: chart points from this time on. */
  since: number;
  /** At most this many chart points per field, the newest. */
  points: number;
}

export interface LatestAnswer {
  /** The newest value of each field per device, one entry per (device, field) at the time of that value; devices heard from least recently first. */
  latest: Reading[];
  /** Chart points of the asked fields since `since`, oldest first. */
  points: Reading[];
}

export interface DeviceSummary {
  device: string;
  /** Tags of the device's latest reading in the range (alert transition rows carry the alert's details, not the device's tags). */
  tags: Record<string, string>;
  /** Field names seen in the range, sorted; alert transitions are not fields of the device (see `alerts`). */
  fields: string[];
  /** The alert fields (`alert.<rule>`) of transitions in the range, sorted; absent when there are none or the store does not keep them apart. */
  alerts?: string[];
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
  /**
   * For sinks with a retention pass of their own: the nodes started with it have registered their holds
   * (holdRaw), so its first pass may run (before, it would not know what they still need).
   */
  holdsRegistered?(): void;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/**
 * Where the query API, reports and the Grafana routes read readings from when
 * that is not the store that keeps dead letters: a time-series server the
 * instances of a cluster share (nodes/lib/influx/query.ts), chosen in the store
 * config (`querySink`).
 */
export interface ReadingSource {
  readonly kind: string;
  readings(q: ReadingsQuery): Promise<ReadingsPage>;
  aggregate(q: AggregateQuery): Promise<AggregatePoint[]>;
  devices?(q: DeviceQuery): Promise<DeviceSummary[]>;
  health(): Promise<StoreHealth>;
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
  /** The aggregate and which tier answered it ('raw', or a roll-up such as '1m', '1h'), for stores that keep roll-ups. */
  aggregateWithTier?(q: AggregateQuery): Promise<{ points: AggregatePoint[]; tier: string }>;
  deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]>;
  /**
   * Marks these letters replayed at `at` (dropping their bodies), unless they already are; resolves the ids
   * this call marked, so two replays never take the same letter. `unmark` undoes it, bodies included, for a
   * replay that could not be submitted.
   */
  markDeadLettersReplayed?(ids: number[], at: number): Promise<number[]>;
  unmarkDeadLettersReplayed?(letters: Array<{ id: number; body?: string }>): Promise<void>;
  /** Devices with readings in the range (reports and invoices pick devices by name or tag). */
  devices?(q: DeviceQuery): Promise<DeviceSummary[]>;
  /**
   * For stores whose retention deletes raw readings: keeps them from `earliest()` (epoch ms, asked at each
   * retention pass) on, within a bound the store sets; reports and invoices hold the period they produce next.
   * Returns the release.
   */
  holdRaw?(key: string, earliest: () => number | undefined): () => void;
  /** Epoch ms from which raw readings are complete (retention deleted older ones); undefined when none were deleted. */
  rawSince?(): Promise<number | undefined>;
  /** The newest values per device and recent chart points, for a dashboard's first look (the live node at start). */
  latest?(q: LatestQuery): Promise<LatestAnswer>;
  /** Where the device registry is kept, for stores with tables of their own (DuckDB). */
  registry?(): RegistryBackend;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
