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

export interface TimeSeriesStore {
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
