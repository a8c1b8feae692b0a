/** Options of upperstack-http-in, shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { inputReadingsMark } from '../lib/inputs/marks';

export interface HttpInOptions {
  name: string;
  /** Store the /fetch and /api/v1/devices routes read from. */
  store: string;
  /** POST /ingest/{device}. */
  ingest: boolean;
  /** POST /insert/{device} and GET /fetch/{device} (CroMFlaG2). */
  cromflag: boolean;
  /** POST /write, POST /api/v2/write, /ping, POST /query (InfluxDB write API). */
  influx: boolean;
  /** Line protocol tag that names the device (default `device`; Telegraf: `host`). */
  deviceTag: string;
  /** Request bodies larger than this (after inflating) are refused with 413. */
  maxBytes: number;
  /**
   * Seconds a request body may take to arrive once its headers are in; then 408 and the connection is
   * closed. 0: no limit of the input's own (the server's request timeout, 300 s by default, still holds).
   * Absent in flows saved before it existed: DEFAULT_BODY_TIMEOUT_S.
   */
  bodyTimeout?: number;
  /** Requests a second per client address and device; 0 turns rate limiting off. */
  rateLimit: number;
  /** 'default': the shipped reading schema; 'inline': `schema`; 'file': `schemaFile`. */
  schemaSource: 'default' | 'inline' | 'file';
  schema: string;
  schemaFile: string;
  /** Message type of application/x-protobuf bodies. */
  protoType: string;
  /** Unsettled requests at which the input answers 503 with Retry-After (0: no mark). */
  highWater: number;
  /**
   * Unsettled readings at which the input answers 503 with Retry-After as well, resuming at
   * half (0: no such mark); a request counts the readings it holds.
   */
  highWaterReadings: number;
  configVersion: number;
}

export interface HttpInCredentials {
  /** Device login; without one, only a runtime bound to loopback takes anonymous requests. */
  username?: string;
  password?: string;
}

export interface HttpInNodeDef extends NodeDef, HttpInOptions {}

export type HttpInNode = Node<HttpInCredentials>;

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_BODY_TIMEOUT_S = 30;

const num = (v: unknown, fallback: number) => (v === undefined || v === null || v === '' || !Number.isFinite(Number(v)) || Number(v) < 0 ? fallback : Number(v));

/** The body timeout in milliseconds: a number of seconds, the default when absent or not a number. */
export function bodyTimeoutMs(config: Pick<HttpInOptions, 'bodyTimeout'>): number {
  return Math.round(num(config.bodyTimeout, DEFAULT_BODY_TIMEOUT_S) * 1000);
}

export const httpInMigrations: ReadonlyArray<Migration<HttpInOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => ({
    store: '',
    ingest: true,
    cromflag: true,
    influx: true,
    deviceTag: 'device',
    schemaSource: 'default',
    schema: '',
    schemaFile: '',
    protoType: 'upperstack.Reading',
    ...old,
    maxBytes: num(old.maxBytes, DEFAULT_MAX_BYTES) || DEFAULT_MAX_BYTES,
    rateLimit: num(old.rateLimit, 0),
    highWater: num(old.highWater, 5000),
  }),
  // v1 → v2: a pause mark in readings too (a 100-reading request weighs 100).
  (old) => ({ ...old, highWaterReadings: inputReadingsMark(old.highWaterReadings, old.highWater) }),
  // v2 → v3: a body timeout, so a request that stalls mid-body does not hold its connection for minutes.
  (old) => ({ ...old, bodyTimeout: num(old.bodyTimeout, DEFAULT_BODY_TIMEOUT_S) }),
];
