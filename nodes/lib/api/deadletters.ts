/**
 * GET /api/v1/deadletters without a transport: the query string in, status
 * and body (JSON or CSV) out. Filters are those of the replay route too.
 *
 *   ?device=D&code=A,B&from=T&to=T&limit=N&cursor=C&order=asc|desc&replayed=true|false
 *
 * Oldest first by default, like the readings API; `next` (and the Next-Cursor
 * header, for CSV) is the cursor of the following page.
 */
import { BadParameterError } from '../errors';
import type { DeadLetter, DeadLetterQuery, TimeSeriesStore } from '../store/types';
import { csvCell, CSV_TYPE, errorJson, isoTime, JSON_TYPE } from './format';
import { statusOf, VARY_ACCEPT, wantsCsv, type QueryResponse } from './handlers';
import { parseRange, present, quote, type QueryParams } from './params';

export const DEFAULT_DEADLETTER_LIMIT = 100;
export const MAX_DEADLETTER_LIMIT = 1000;

const CSV_HEADER = 'id,ts,device,source,code,reason,replayable,replayed_at,payload';
const EOL = '\r\n';

export function encodeDeadLetterCursor(l: { ts: number; id: number }): string {
  return Buffer.from(`${l.ts}:${l.id}`, 'utf8').toString('base64url');
}

export function decodeDeadLetterCursor(cursor: string): { ts: number; id: number } {
  const m = /^(-?\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const ts = m ? Number(m[1]) : NaN;
  const id = m ? Number(m[2]) : NaN;
  if (!Number.isSafeInteger(ts) || !Number.isSafeInteger(id)) {
    throw new BadParameterError('cursor', `"cursor" must be the "next" value of a previous page, got ${quote(cursor)}`);
  }
  return { ts, id };
}

const LIST_PARAMS = ['device', 'code', 'from', 'to', 'limit', 'cursor', 'order', 'replayed'];

/** The filters of the list and replay routes; `limit` is the page size (list) or how many to replay. */
export function parseDeadLetterParams(q: QueryParams, limits = { default: DEFAULT_DEADLETTER_LIMIT, max: MAX_DEADLETTER_LIMIT }): DeadLetterQuery {
  // A filter with a typo in its name would otherwise be no filter at all.
  for (const k of Object.keys(q)) {
    if (!LIST_PARAMS.includes(k)) throw new BadParameterError(k, `"${k}" is not a dead-letter parameter; give ${LIST_PARAMS.join(', ')}`);
  }
  const out: DeadLetterQuery = { limit: limits.default, order: 'asc', ...parseRange(q) };
  if (out.from === undefined) delete out.from;
  if (out.to === undefined) delete out.to;
  const device = present(q, 'device');
  if (device !== undefined) out.device = device;
  const code = present(q, 'code');
  if (code !== undefined) {
    const codes = code.split(',').map((c) => c.trim());
    if (codes.some((c) => !/^[A-Z][A-Z0-9_]{0,63}$/.test(c))) {
      throw new BadParameterError('code', `"code" must be error codes separated by commas (e.g. SCHEMA_VIOLATION,DECODE_FAILED), got ${quote(code)}`);
    }
    out.codes = [...new Set(codes)];
  }
  const limit = present(q, 'limit');
  if (limit !== undefined) {
    const n = /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= limits.max)) throw new BadParameterError('limit', `"limit" must be a whole number from 1 to ${limits.max}, got ${quote(limit)}`);
    out.limit = n;
  }
  const cursor = present(q, 'cursor');
  if (cursor !== undefined) out.after = decodeDeadLetterCursor(cursor);
  const order = present(q, 'order');
  if (order !== undefined) {
    if (order !== 'asc' && order !== 'desc') throw new BadParameterError('order', `"order" must be asc (oldest first) or desc (newest first), got ${quote(order)}`);
    out.order = order;
  }
  const replayed = present(q, 'replayed');
  if (replayed !== undefined) {
    if (replayed !== 'true' && replayed !== 'false') throw new BadParameterError('replayed', `"replayed" must be true or false, got ${quote(replayed)}`);
    out.replayed = replayed === 'true';
  }
  return out;
}

function letterJson(l: DeadLetter): Record<string, unknown> {
  const o: Record<string, unknown> = {
    id: l.id,
    ts: isoTime(l.ts),
    device: l.device,
    source: l.source,
    code: l.code,
    reason: l.reason,
    payload: l.payload,
    replayable: l.replayable === true && l.replayedAt === undefined,
    replayedAt: l.replayedAt === undefined ? null : isoTime(l.replayedAt),
  };
  if (l.contentType !== undefined) o.contentType = l.contentType;
  if (l.format !== undefined) o.format = l.format;
  if (l.receivedAt !== undefined) o.receivedAt = isoTime(l.receivedAt);
  return o;
}

export function deadLettersJson(letters: DeadLetter[], next: string | undefined): string {
  const body: { deadLetters: unknown[]; next?: string } = { deadLetters: letters.map(letterJson) };
  if (next !== undefined) body.next = next;
  return JSON.stringify(body);
}

export function deadLettersCsv(letters: DeadLetter[]): string {
  const rows = letters.map((l) => {
    const j = letterJson(l);
    return [l.id ?? '', j.ts, l.device, l.source, l.code, l.reason, j.replayable, j.replayedAt ?? '', l.payload].map((v) => csvCell(v as string | number | boolean)).join(',');
  });
  return [CSV_HEADER, ...rows].join(EOL) + EOL;
}

/** One page and the cursor of the next; never rejects. */
export async function handleDeadLetters(store: TimeSeriesStore, query: QueryParams, accept: string | undefined): Promise<QueryResponse> {
  try {
    const csv = wantsCsv(accept);
    const q = parseDeadLetterParams(query);
    const found = await store.deadLetters({ ...q, limit: q.limit + 1 });
    const page = found.slice(0, q.limit);
    const last = page[page.length - 1];
    const next = found.length > q.limit && last?.id !== undefined ? encodeDeadLetterCursor({ ts: last.ts, id: last.id }) : undefined;
    const headers = { ...VARY_ACCEPT, ...(next === undefined ? {} : { 'Next-Cursor': next }) };
    if (csv) return { status: 200, contentType: CSV_TYPE, body: deadLettersCsv(page), headers };
    return { status: 200, contentType: JSON_TYPE, body: deadLettersJson(page, next), headers };
  } catch (err) {
    return { status: statusOf(err), contentType: JSON_TYPE, body: errorJson(err) };
  }
}
