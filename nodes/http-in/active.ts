/** The deployed upperstack-http-in as its routes see it (one serves at a time: the one deployed last). */
import type { RateLimiterMemory } from '../lib/security/rate-limiter';
import type { Intake } from '../lib/ingest/intake';
import type { Received } from '../lib/ingest/record';
import type { DeviceLogin } from '../lib/inputs/auth';
import type { InputOptions, InputOutcome, InputRequest, InputRoute } from '../lib/inputs/request';
import type { StoreConfigNode } from '../store-config/options';
import type { HttpInNode, HttpInOptions } from './options';
import { KnownDatabases } from '../lib/inputs/influx-query';

/** The databases InfluxDB 1.x clients named (CREATE DATABASE, `/write?db=`), for SHOW DATABASES on /query. */
export const influxDatabases = new KnownDatabases();

export interface ActiveHttpIn {
  node: HttpInNode;
  config: HttpInOptions;
  intake: Intake;
  inputOptions: InputOptions;
  login?: DeviceLogin;
  bind?: string;
  /** `bind` is a loopback address (worked out once). */
  loopback: boolean;
  limiter?: RateLimiterMemory;
  /** How long a request body may take to arrive (ms; 0: no limit of the input's own). */
  bodyTimeoutMs: number;
  store?: StoreConfigNode;
  apiKey: string;
  count(): void;
}

/**
 * A journal record of this input, with the outcome worked out while answering
 * it, for the emit of the same record (one replayed after a restart has none).
 */
export interface HttpRecord extends Received {
  outcome: InputOutcome | undefined;
}

/** The outcome kept on an HttpRecord, for the input's emitter (nodes/shared/request-emit.ts). */
export const RECORD_OUTCOMES = {
  get: (rec: Received): InputOutcome | undefined => (rec as Partial<HttpRecord>).outcome,
  delete: (rec: Received): void => {
    (rec as Partial<HttpRecord>).outcome = undefined;
  },
};

/** The request a journaled record stands for (the route and its parameters travel in meta). */
export function toInputRequest(rec: Received): InputRequest {
  const meta = rec.meta;
  // meta goes as it is: the decoders read only the route's own parameters from it (`precision`).
  return { route: (meta?.route as InputRoute | undefined) ?? 'ingest', device: rec.device, contentType: rec.contentType, payload: rec.payload, receivedAt: rec.receivedAt, meta };
}
