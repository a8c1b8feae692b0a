/**
 * GET /api/v1/audit without a transport: the audit log (nodes/lib/audit/audit.ts),
 * newest first, filtered and paged.
 *
 *   ?from=T&to=T&actor=key:ab12&action=auth&target=D&outcome=denied&limit=N&cursor=C
 *
 * `action` matches the action or a family of them (`auth` gives `auth.failed`,
 * `query` every query); the other filters match exactly. `next` is the cursor
 * of the following (older) page.
 */
import { BadParameterError } from '../errors';
import type { AuditEntry, AuditLog, AuditQuery } from '../audit/audit';
import { errorJson, isoTime, JSON_TYPE } from './format';
import { statusOf, type QueryResponse } from './handlers';
import { parseRange, type QueryParams } from './params';
import { onlyParams } from './query-string';

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;
const OUTCOMES = ['ok', 'denied', 'failed'];
export const AUDIT_PARAMS: readonly string[] = ['from', 'to', 'actor', 'action', 'target', 'outcome', 'limit', 'cursor'];

function present(q: QueryParams, name: string, max = 200): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t === '') throw new BadParameterError(name, `"${name}" is empty; leave it out or give a value`);
  if (t.length > max) throw new BadParameterError(name, `"${name}" is longer than ${max} characters`);
  return t;
}

/** The cursor: the time of the last entry of a page and how many entries of that millisecond it held. */
export function encodeAuditCursor(ts: number, seen: number): string {
  return Buffer.from(`${ts}:${seen}`, 'utf8').toString('base64url');
}

export function decodeAuditCursor(cursor: string): { ts: number; seen: number } {
  const m = /^(\d{1,16}):(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadParameterError('cursor', '"cursor" must be the "next" value of a previous page');
  return { ts: Number(m[1]), seen: Number(m[2]) };
}

export function parseAuditParams(q: QueryParams): { query: AuditQuery; cursor?: { ts: number; seen: number } } {
  const range = parseRange(q);
  const query: AuditQuery = { limit: DEFAULT_AUDIT_LIMIT };
  if (range.from !== undefined) query.from = range.from;
  if (range.to !== undefined) query.to = range.to;
  const actor = present(q, 'actor');
  if (actor !== undefined) query.actor = actor;
  const action = present(q, 'action');
  if (action !== undefined) query.action = action;
  const target = present(q, 'target', 300);
  if (target !== undefined) query.target = target;
  const outcome = present(q, 'outcome');
  if (outcome !== undefined) {
    if (!OUTCOMES.includes(outcome)) throw new BadParameterError('outcome', `"outcome" must be one of ${OUTCOMES.join(', ')}`);
    query.outcome = outcome;
  }
  const limit = present(q, 'limit');
  if (limit !== undefined) {
    const n = /^\d+$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_AUDIT_LIMIT)) throw new BadParameterError('limit', `"limit" must be a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
    query.limit = n;
  }
  const c = present(q, 'cursor');
  return c === undefined ? { query } : { query, cursor: decodeAuditCursor(c) };
}

function entryJson(e: AuditEntry): Record<string, unknown> {
  return { ...e, ts: isoTime(e.ts) };
}

/** One page, newest first, and the cursor of the next; never rejects. */
export function handleAudit(log: AuditLog, params: QueryParams): QueryResponse {
  try {
    onlyParams(params, AUDIT_PARAMS, '/api/v1/audit');
    const { query, cursor } = parseAuditParams(params);
    let skip = 0;
    const q = { ...query, limit: query.limit + 1 };
    if (cursor) {
      // Continue with the entries of the last page's millisecond it did not show yet, then older ones.
      q.to = Math.min(q.to ?? Infinity, cursor.ts + 1);
      q.limit += cursor.seen;
      skip = cursor.seen;
    }
    const found = log.query(q);
    let start = 0;
    while (start < skip && start < found.length && found[start].ts === cursor?.ts) start++;
    const rest = found.slice(start);
    const page = rest.slice(0, query.limit);
    const body: { entries: unknown[]; next?: string } = { entries: page.map(entryJson) };
    if (rest.length > query.limit) {
      const last = page[page.length - 1];
      // Entries of that millisecond shown so far: on this page and, if it started there, the earlier pages.
      const seen = found.slice(0, start + page.length).filter((e) => e.ts === last.ts).length;
      body.next = encodeAuditCursor(last.ts, seen);
    }
    return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(body) };
  } catch (err) {
    return { status: statusOf(err), contentType: JSON_TYPE, body: errorJson(err) };
  }
}
