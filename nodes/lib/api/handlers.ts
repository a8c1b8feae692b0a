/** The query API without a transport: parameters in, status and body out. */
import { BadParameterError, ForbiddenError, NotAcceptableError, StoreUnavailableError } from '../errors';
import { negotiate, type Offer } from './accept';
import type { TimeSeriesStore } from '../store/types';
import { AGGREGATE_PARAMS, parseAggregateParams, parseReadingsParams, READINGS_PARAMS, type QueryParams } from './params';
import { onlyParams } from './query-string';
import { aggregateCsv, aggregateJson, CSV_TYPE, errorJson, JSON_TYPE, readingsCsv, readingsJson } from './format';

export type QueryKind = 'readings' | 'aggregate';

export interface QueryResponse {
  status: number;
  contentType: string;
  body: string;
  /** Extra response headers (e.g. Next-Cursor, which CSV has no place for in its body). */
  headers?: Record<string, string>;
}

const OFFERS: readonly [Offer & { csv: boolean }, ...Array<Offer & { csv: boolean }>] = [
  { type: 'application/json', params: { charset: 'utf-8' }, csv: false },
  { type: 'text/csv', params: { charset: 'utf-8', header: 'present' }, csv: true },
];

/** Whether the answer is CSV (JSON is the default) as Accept and its q-values ask; NotAcceptableError when it takes neither. */
export function wantsCsv(accept: string | undefined): boolean {
  return negotiate(accept, OFFERS).csv;
}

/** The header of an answer whose type Accept chose, for caches. */
export const VARY_ACCEPT = { Vary: 'Accept' } as const;

export function statusOf(err: unknown): number {
  if (err instanceof BadParameterError) return 400;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotAcceptableError) return 406;
  if (err instanceof StoreUnavailableError) return 503;
  return 500;
}

/** The JSON error answer of a failure, with its status. */
export function errorResponse(err: unknown): QueryResponse {
  return { status: statusOf(err), contentType: JSON_TYPE, body: errorJson(err) };
}

/** Never rejects: every failure becomes an error body with its status. */
export async function handleQuery(store: TimeSeriesStore, kind: QueryKind, query: QueryParams, accept: string | undefined): Promise<QueryResponse> {
  try {
    const csv = wantsCsv(accept);
    if (kind === 'readings') {
      onlyParams(query, READINGS_PARAMS, '/api/v1/readings');
      const q = parseReadingsParams(query);
      const page = await store.readings(q);
      return csv
        ? { status: 200, contentType: CSV_TYPE, body: readingsCsv(q.device, page), headers: { ...VARY_ACCEPT, ...(page.nextCursor === undefined ? {} : { 'Next-Cursor': page.nextCursor }) } }
        : { status: 200, contentType: JSON_TYPE, body: readingsJson(q.device, page), headers: { ...VARY_ACCEPT } };
    }
    onlyParams(query, AGGREGATE_PARAMS, '/api/v1/readings/aggregate');
    const q = parseAggregateParams(query);
    // A store with roll-ups says which tier answered (raw, 1m, 1h): in the body, and in a header for CSV.
    const { points, tier } = store.aggregateWithTier ? await store.aggregateWithTier(q) : { points: await store.aggregate(q), tier: undefined };
    // parseAggregateParams accepted it, so `every` is present.
    const meta = { device: q.device, field: q.field, fn: q.fn, every: (query.every as string).trim(), tier };
    const headers = { ...VARY_ACCEPT, ...(tier ? { 'Upperstack-Tier': tier } : {}) };
    return csv ? { status: 200, contentType: CSV_TYPE, body: aggregateCsv(meta, points), headers } : { status: 200, contentType: JSON_TYPE, body: aggregateJson(meta, points), headers };
  } catch (err) {
    return errorResponse(err);
  }
}
