/** The deployed upperstack-http-in as its routes see it (one serves at a time: the one deployed last). */
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Intake } from '../lib/ingest/intake';
import type { Received } from '../lib/ingest/record';
import type { DeviceLogin } from '../lib/inputs/auth';
import type { InputOptions, InputOutcome, InputRequest, InputRoute } from '../lib/inputs/request';
import type { StoreConfigNode } from '../store-config/options';
import type { HttpInNode, HttpInOptions } from './options';

export interface ActiveHttpIn {
  node: HttpInNode;
  config: HttpInOptions;
  intake: Intake;
  inputOptions: InputOptions;
  login?: DeviceLogin;
  bind?: string;
  limiter?: RateLimiterMemory;
  /** Outcomes computed while answering, used when the same records are emitted. */
  outcomes: WeakMap<Received, InputOutcome>;
  store?: StoreConfigNode;
  apiKey: string;
  count(): void;
}

/** The request a journaled record stands for (the route and its parameters travel in meta). */
export function toInputRequest(rec: Received): InputRequest {
  const meta = rec.meta;
  // The route's other parameters, copied by hand: an object rest pattern costs a call into the runtime per request.
  const rest: Record<string, string> = {};
  if (meta) for (const k in meta) if (k !== 'route') rest[k] = meta[k];
  return { route: (meta?.route as InputRoute | undefined) ?? 'ingest', device: rec.device, contentType: rec.contentType, payload: rec.payload, receivedAt: rec.receivedAt, meta: rest };
}

