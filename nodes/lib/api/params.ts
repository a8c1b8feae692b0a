/**
 * Query-string parameters of the HTTP query API, turned into store queries.
 * Every rejection names the parameter and what it accepts, because the person
 * reading it is usually typing a URL by hand.
 */
import { BadParameterError } from '../errors';
import { MAX_DATE_MS, parseTimestamp } from '../reading-time';
import type { AggregateFn, AggregateQuery, ReadingsQuery } from '../store/types';

export type QueryParams = Record<string, string | undefined>;

export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10000;
/** The parameters each route takes; the query node's payload may carry more (its `kind`). */
export const READINGS_PARAMS: readonly string[] = ['device', 'from', 'to', 'fields', 'limit', 'cursor'];
export const AGGREGATE_PARAMS: readonly string[] = ['device', 'field', 'from', 'to', 'every', 'fn'];
export const AGGREGATE_FNS: readonly AggregateFn[] = ['mean', 'min', 'max', 'sum', 'count', 'last'];

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SPACE_FOR_PLUS = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)? \d{2}:?\d{2}$/i;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** A value as a message quotes it: JSON, cut at 60 characters. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** A parameter that is given, trimmed; an empty one is an error (leave it out instead). */
export function present(q: QueryParams, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t === '') throw new BadParameterError(name, `"${name}" is empty; leave it out or give a value`);
  return t;
}

export function required(q: QueryParams, name: string, what: string): string {
  const v = present(q, name);
  if (v === undefined) throw new BadParameterError(name, `"${name}" is required: ${what}`);
  return v;
}

/**
 * ISO 8601 date or date-time, or an epoch number whose unit is told by its size as the inputs tell a reading's
 * (seconds below 10^11, milliseconds below 10^14, then micro- and nanoseconds; negative before 1970), so
 * `date +%s` and `Date.now()` both name the moment meant. A time without an offset is UTC, whatever the server's zone.
 */
export function parseTime(name: string, value: string): number {
  const fail = () => {
    // A "+" typed into a URL arrives as a space, so "…T01:00:00+02:00" reads "…T01:00:00 02:00".
    if (SPACE_FOR_PLUS.test(value)) {
      const fixed = value.replace(/ (\d{2}:?\d{2})$/, '%2B$1');
      return new BadParameterError(name, `"${name}" has a space where its UTC offset's "+" belongs, got ${quote(value)}: a URL reads "+" as a space, so write it as %2B (${fixed})`);
    }
    return new BadParameterError(name, `"${name}" must be ISO 8601 or an epoch time (seconds, milliseconds, microseconds or nanoseconds), got ${quote(value)}`);
  };
  let ms: number;
  if (/^-?\d{1,40}(?:\.\d{1,20})?$/.test(value)) {
    try {
      ms = parseTimestamp(Number(value), `"${name}"`);
    } catch (err) {
      // Past the last date as nanoseconds: said in the unit it was read in.
      throw new BadParameterError(name, err instanceof Error ? err.message : String(err));
    }
  } else {
    const m = ISO.exec(value);
    if (!m) throw fail();
    const [, y, mo, d, h, mi, s] = m;
    // Date.parse rolls 2026-02-30 over to March; refuse it instead.
    if (+mo < 1 || +mo > 12 || +d < 1 || +d > new Date(Date.UTC(+y, +mo, 0)).getUTCDate() || +(h ?? 0) > 23 || +(mi ?? 0) > 59 || +(s ?? 0) > 59) {
      throw fail();
    }
    const text = value.replace(' ', 'T');
    ms = Date.parse(h !== undefined && m[7] === undefined ? `${text}Z` : text);
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) throw fail();
  return ms;
}

/** `500ms`, `30s`, `5m`, `1h`, `1d`: a positive whole number and a unit. */
export function parseEvery(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  if (!m || !(ms >= 1) || !Number.isSafeInteger(ms)) {
    throw new BadParameterError('every', `"every" must be a positive whole number with a unit ms, s, m, h or d (e.g. 30s, 5m, 1h), got ${quote(value)}`);
  }
  return ms;
}

export function parseRange(q: QueryParams): { from?: number; to?: number } {
  const fromText = present(q, 'from');
  const toText = present(q, 'to');
  const from = fromText === undefined ? undefined : parseTime('from', fromText);
  const to = toText === undefined ? undefined : parseTime('to', toText);
  if (from !== undefined && to !== undefined && from > to) {
    throw new BadParameterError('from', `"from" (${fromText}) is after "to" (${toText}); "from" must be earlier`);
  }
  return { from, to };
}

function parseLimit(q: QueryParams): number {
  const v = present(q, 'limit');
  if (v === undefined) return DEFAULT_LIMIT;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) {
    throw new BadParameterError('limit', `"limit" must be a whole number from 1 to ${MAX_LIMIT}, got ${quote(v)}`);
  }
  return n;
}

function parseFields(q: QueryParams): string[] | undefined {
  const v = present(q, 'fields');
  if (v === undefined) return undefined;
  const fields = v.split(',').map((f) => f.trim());
  if (fields.some((f) => f === '')) {
    throw new BadParameterError('fields', `"fields" must be field names separated by commas (e.g. temperature,humidity), got ${quote(v)}`);
  }
  return [...new Set(fields)];
}

export function parseReadingsParams(q: QueryParams): ReadingsQuery {
  const query: ReadingsQuery = {
    device: required(q, 'device', 'name the device whose readings you want'),
    ...parseRange(q),
    limit: parseLimit(q),
  };
  const fields = parseFields(q);
  if (fields) query.fields = fields;
  const cursor = present(q, 'cursor');
  if (cursor !== undefined) query.cursor = cursor;
  return dropUndefined(query);
}

export function parseAggregateParams(q: QueryParams): AggregateQuery {
  const device = required(q, 'device', 'name the device to aggregate');
  const field = required(q, 'field', 'name the one field to aggregate');
  const everyMs = parseEvery(required(q, 'every', 'give the bucket width, e.g. 30s, 5m, 1h, 1d or 500ms'));
  const fn = required(q, 'fn', `give one of ${AGGREGATE_FNS.join(', ')}`);
  if (!(AGGREGATE_FNS as readonly string[]).includes(fn)) {
    throw new BadParameterError('fn', `"fn" must be one of ${AGGREGATE_FNS.join(', ')}, got ${quote(fn)}`);
  }
  return dropUndefined({ device, field, ...parseRange(q), everyMs, fn: fn as AggregateFn });
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
