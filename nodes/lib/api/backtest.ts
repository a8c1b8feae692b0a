/**
 * POST /api/v1/anomaly/backtest without a transport: a JSON body in, status
 * and body out. The body names the series and the range like the readings API
 * and carries the detector settings in the shape of the CLI's --config
 * ({detector, threshold, warmup}, plus units for the reasons).
 */
import { BadParameterError, DetectorConfigError, ForbiddenError, PayloadTooLargeError, StoreUnavailableError } from '../errors';
import { backtestHistory, MAX_LISTED, type HistoryBacktestQuery, type HistoryBacktestResult } from '../anomaly/history';
import type { DetectorConfig } from '../anomaly/types';
import { ScopedStore } from '../security/scoped-store';
import type { TimeSeriesStore } from '../store/types';
import { errorJson, isoTime, JSON_TYPE } from './format';
import type { QueryResponse } from './handlers';
import { parseRange, required, type QueryParams } from './params';

/** Bodies are a detector config and a few names; anything near this size is a mistake. */
export const MAX_BODY_BYTES = 64 * 1024;

const BODY_KEYS = ['device', 'field', 'from', 'to', 'detector', 'threshold', 'warmup', 'units', 'limit'] as const;

type Body = Record<string, unknown>;

export interface SeriesRange {
  device: string;
  field: string;
  from?: number;
  to?: number;
}

/** A JSON object, or a 400 naming "body". Accepts text (an unparsed body) or what a JSON body parser produced. */
export function bodyObject(body: unknown): Body {
  let value = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = body.toString();
    if (text.trim() === '') throw new BadParameterError('body', 'the request needs a JSON body, e.g. {"device": "dev1", "field": "temperature"}');
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new BadParameterError('body', `the body is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadParameterError('body', 'the body must be a JSON object, e.g. {"device": "dev1", "field": "temperature"}');
  }
  return value as Body;
}

/** Text for the readings-API parameter parsers: times may be epoch numbers in JSON. */
function asParam(body: Body, name: string, numbers: boolean): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (numbers && typeof v === 'number') return String(v);
  throw new BadParameterError(name, `"${name}" must be ${numbers ? 'ISO 8601 text or an epoch time' : 'text'}, got ${JSON.stringify(v)}`);
}

/** device, field and the from/to range of a backtest body; the rules and messages of the readings API. */
export function seriesRangeOf(body: Body): SeriesRange {
  const q: QueryParams = {
    device: asParam(body, 'device', false),
    field: asParam(body, 'field', false),
    from: asParam(body, 'from', true),
    to: asParam(body, 'to', true),
  };
  const device = required(q, 'device', 'name the device whose history to replay');
  const field = required(q, 'field', 'name the one numeric field to replay');
  const range = parseRange(q);
  const out: SeriesRange = { device, field };
  if (range.from !== undefined) out.from = range.from;
  if (range.to !== undefined) out.to = range.to;
  return out;
}

export function parseBacktestBody(raw: unknown): HistoryBacktestQuery {
  const body = bodyObject(raw);
  for (const k of Object.keys(body)) {
    if (!(BODY_KEYS as readonly string[]).includes(k)) {
      throw new BadParameterError(k, `"${k}" is not a backtest parameter; give ${BODY_KEYS.join(', ')}`);
    }
  }
  const q: HistoryBacktestQuery = { ...seriesRangeOf(body), engine: {} };
  const engine = q.engine!;
  const { detector, threshold, warmup, units, limit } = body;
  if (detector !== undefined && detector !== null) {
    // Its contents are checked by the engine, which names the detector parameter at fault.
    if (typeof detector !== 'object' || Array.isArray(detector)) {
      throw new DetectorConfigError('"detector" must be a detector config object such as {"type": "zscore"}; leave it out for the default ensemble', { parameter: 'detector' });
    }
    engine.detector = detector as DetectorConfig;
  }
  if (threshold !== undefined && threshold !== null) {
    if (typeof threshold !== 'number') throw new BadParameterError('threshold', `"threshold" must be a number above 0 and at most 1, got ${JSON.stringify(threshold)}`);
    engine.threshold = threshold;
  }
  if (warmup !== undefined && warmup !== null) {
    if (typeof warmup !== 'number') throw new BadParameterError('warmup', `"warmup" must be a whole number of readings, got ${JSON.stringify(warmup)}`);
    engine.warmup = warmup;
  }
  if (units !== undefined && units !== null) {
    if (typeof units !== 'object' || Array.isArray(units) || Object.values(units).some((u) => typeof u !== 'string')) {
      throw new BadParameterError('units', '"units" must map field names to unit text, e.g. {"temperature": "°C"}');
    }
    engine.units = units as Record<string, string>;
  }
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_LISTED) {
      throw new BadParameterError('limit', `"limit" (flagged readings listed) must be a whole number from 0 to ${MAX_LISTED}, got ${JSON.stringify(limit)}`);
    }
    q.listed = limit;
  }
  return q;
}

/** Times as ISO 8601 UTC like the readings API; `truncated` says the list stops short of the count. */
export function backtestJson(r: HistoryBacktestResult): string {
  return JSON.stringify({
    device: r.device,
    field: r.field,
    from: r.from === undefined ? null : isoTime(r.from),
    to: r.to === undefined ? null : isoTime(r.to),
    threshold: r.threshold,
    scanned: r.scanned,
    skipped: r.skipped,
    warmingUp: r.warmingUp,
    firstVerdict: r.firstVerdict === undefined ? null : isoTime(r.firstVerdict),
    flagged: r.flagged,
    truncated: r.flagged > r.anomalies.length,
    anomalies: r.anomalies.map((a) => ({ ...a, ts: isoTime(a.ts) })),
  });
}

export function backtestStatusOf(err: unknown): number {
  if (err instanceof BadParameterError || err instanceof DetectorConfigError) return 400;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof StoreUnavailableError) return 503;
  // A key's view of the store refuses a device it may not read.
  if (err instanceof ForbiddenError) return 403;
  return 500;
}

export function backtestErrorResponse(err: unknown): QueryResponse {
  return { status: backtestStatusOf(err), contentType: JSON_TYPE, body: errorJson(err) };
}

/** Runs what `prepare` makes of a request (which may throw a 400); never rejects. */
export async function runBacktest(prepare: () => { store: TimeSeriesStore; query: HistoryBacktestQuery }): Promise<QueryResponse> {
  try {
    const { store, query } = prepare();
    const result = await backtestHistory(store, query);
    return { status: 200, contentType: JSON_TYPE, body: backtestJson(result) };
  } catch (err) {
    return backtestErrorResponse(err);
  }
}

/**
 * The HTTP API's handler: body as text or as parsed JSON. A key's view of the store refuses a field it may not
 * aggregate as the aggregate route does (403): replayed through readings, its values would be left out or
 * masked, and the backtest would answer as if the series were empty.
 */
export function handleBacktest(store: TimeSeriesStore, body: unknown): Promise<QueryResponse> {
  return runBacktest(() => {
    const query = parseBacktestBody(body);
    if (store instanceof ScopedStore) store.seriesMask(query.device, query.field);
    return { store, query };
  });
}
