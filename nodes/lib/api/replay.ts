/**
 * POST /api/v1/deadletters/replay without a transport: the chosen dead letters
 * go back in through the input that first received them (its intake: journal,
 * then the current flow), e.g. once a schema has been fixed. A letter that
 * fails again becomes a new dead letter; the replayed one is marked and never
 * replayed again.
 *
 * Each letter is submitted first and marked once its message is durable in the
 * input's journal: if the process stops in between, the letter is offered
 * again, and since stores are idempotent on (device, ts, field) the readings do
 * not double. Within a process a letter being replayed is held, so concurrent
 * calls never submit it twice.
 */
import { BadParameterError } from '../errors';
import type { Received } from '../ingest/record';
import type { SubmitResult } from '../ingest/intake';
import type { DeadLetter, DeadLetterQuery, TimeSeriesStore } from '../store/types';
import { errorJson, JSON_TYPE } from './format';
import { statusOf, type QueryResponse } from './handlers';
import { parseDeadLetterParams } from './deadletters';
import type { QueryParams } from './params';

export const DEFAULT_REPLAY_LIMIT = 1000;
export const MAX_REPLAY_LIMIT = 10_000;
/** Letters read (bodies included) per round: bounds the memory of one replay. */
const PAGE = 50;
const LISTED = 1000;

/** Where a letter goes back in: an open input's intake. */
export interface ReplayTarget {
  id: string;
  submit(recs: Received[]): Promise<SubmitResult>;
}

export interface ReplayRequest {
  query: DeadLetterQuery;
  /** An input node id that takes every letter, instead of each letter's own input. */
  input?: string;
}

export interface ReplayResult {
  /** Letters submitted and marked. */
  replayed: number;
  ids: number[];
  /** Letters that could not go back in, and why (e.g. no input of their protocol is deployed); each stays as it is. */
  skipped: Skipped[];
  /** Matching letters that keep no message to replay (too large, or kept beyond the body budget). */
  notReplayable: number;
  /** Set when an input refused (backpressure): the rest waits for the next call. */
  incomplete?: { reason: string; retryAfterMs: number };
}

/**
 * Why a letter was not replayed, as a code a client can act on: `BODY_MISSING` (its message is listed as kept
 * but cannot be read back, e.g. a body file lost), `IN_PROGRESS` (another call is taking it), `NO_INPUT` (no input
 * to take it), and for ids asked by name `NOT_FOUND`, `ALREADY_REPLAYED`, `NOT_KEPT`, `NOT_MATCHED`.
 */
export type SkipCode = 'BODY_MISSING' | 'IN_PROGRESS' | 'NO_INPUT' | 'NOT_FOUND' | 'ALREADY_REPLAYED' | 'NOT_KEPT' | 'NOT_MATCHED';

export interface Skipped {
  id: number;
  code: SkipCode;
  reason: string;
}

type ReplayStore = Pick<TimeSeriesStore, 'deadLetters' | 'markDeadLettersReplayed'>;

const inFlight = new WeakMap<object, Set<number>>();

/** The record an input journals for a letter: the message as it came, from where it came, when it came. */
export function recordOf(l: DeadLetter): Received {
  const rec: Received = {
    source: l.source,
    payload: Buffer.from(l.body ?? '', 'base64'),
    receivedAt: l.receivedAt ?? l.ts,
    meta: { ...(l.meta ?? {}), replayOf: String(l.id) },
  };
  if (l.contentType) rec.contentType = l.contentType;
  if (l.device && l.device !== 'unknown') rec.device = l.device;
  return rec;
}

const REPLAY_PARAMS = ['device', 'code', 'from', 'to', 'limit', 'ids', 'input'];
/** Listing parameters a replay refuses with a reason of its own. */
const LIST_ONLY_PARAMS = ['cursor', 'order', 'replayed'];

/** Dead-letter ids from a JSON list or the query string's comma-separated `ids`. */
function idList(items: readonly unknown[], given: unknown): number[] {
  const ids = items.map((x) => (typeof x === 'string' && /^\d{1,15}$/.test(x.trim()) ? Number(x) : x));
  if (ids.length > MAX_REPLAY_LIMIT || !ids.every((x) => Number.isSafeInteger(x) && (x as number) > 0)) {
    throw new BadParameterError('ids', `"ids" must be a list of at most ${MAX_REPLAY_LIMIT} dead-letter ids (whole numbers), got ${JSON.stringify(given)}`);
  }
  return ids as number[];
}

/** Filters as for GET /api/v1/deadletters, from the query string and an optional JSON body, plus `ids` and `input`. */
export function parseReplayParams(query: QueryParams, body: unknown): ReplayRequest {
  const q: QueryParams = { ...query };
  // A replay acts on what its filters match: one it does not know (a typo) would widen it to every letter.
  for (const k of Object.keys(query)) {
    if (!REPLAY_PARAMS.includes(k) && !LIST_ONLY_PARAMS.includes(k)) throw new BadParameterError(k, `"${k}" is not a replay parameter; give ${REPLAY_PARAMS.join(', ')}`);
  }
  let ids = query.ids === undefined ? undefined : idList(query.ids.split(','), query.ids);
  delete q.ids;
  let input: string | undefined = query.input;
  if (body !== undefined && body !== null) {
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new BadParameterError('body', 'the body, when given, must be a JSON object of filters, e.g. {"device": "dev1", "code": "SCHEMA_VIOLATION"}');
    }
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (k === 'ids') {
        if (!Array.isArray(v)) throw new BadParameterError('ids', `"ids" must be a list of at most ${MAX_REPLAY_LIMIT} dead-letter ids (whole numbers)`);
        ids = idList(v, v);
      } else if (k === 'input') {
        if (typeof v !== 'string' || v === '') throw new BadParameterError('input', '"input" must be the id of an input node');
        input = v;
      } else if (['device', 'code', 'from', 'to', 'limit'].includes(k)) {
        if (k === 'code' && Array.isArray(v) && v.every((x) => typeof x === 'string')) q.code = v.join(',');
        else if (typeof v === 'string' || (typeof v === 'number' && k !== 'device' && k !== 'code')) q[k] = String(v);
        else throw new BadParameterError(k, `"${k}" must be ${k === 'code' ? 'a code or a list of codes' : k === 'device' ? 'text' : 'text or a number'}`);
      } else {
        throw new BadParameterError(k, `"${k}" is not a replay parameter; give ${REPLAY_PARAMS.join(', ')}`);
      }
    }
  }
  for (const k of LIST_ONLY_PARAMS) {
    if (q[k] !== undefined) throw new BadParameterError(k, `"${k}" does not apply to a replay: it takes the letters not replayed yet, oldest first`);
  }
  delete q.input;
  const parsed = parseDeadLetterParams(q, { default: DEFAULT_REPLAY_LIMIT, max: MAX_REPLAY_LIMIT });
  if (ids) parsed.ids = ids;
  return input === undefined ? { query: parsed } : { query: parsed, input };
}

/**
 * Replays up to `query.limit` letters not replayed yet, oldest first. `targetFor`
 * names the input a letter goes back in through, or says why there is none.
 */
export async function replayDeadLetters(store: ReplayStore, req: ReplayRequest, targetFor: (l: DeadLetter) => ReplayTarget | string, now = Date.now): Promise<ReplayResult> {
  if (!store.markDeadLettersReplayed) throw new BadParameterError('store', 'this store cannot mark dead letters replayed');
  const held = inFlight.get(store) ?? new Set<number>();
  inFlight.set(store, held);
  const result: ReplayResult = { replayed: 0, ids: [], skipped: [], notReplayable: 0 };
  const base: DeadLetterQuery = { ...req.query, replayed: false, order: 'asc' };
  const limit = req.query.limit;
  let after: DeadLetterQuery['after'];
  let taken = 0;
  const skip = (id: number, code: SkipCode, reason: string) => {
    if (result.skipped.length < LISTED) result.skipped.push({ id, code, reason });
  };
  // Only the letters there were when the call began: one that fails again while
  // this call pages on is a new letter after the cursor, and taking it too would
  // replay (and dead-letter) the same message over and over within one call.
  const newest = (await store.deadLetters({ order: 'desc', limit: 1 }))[0]?.id ?? 0;
  let reachedNew = false;
  while (taken < limit && !result.incomplete && !reachedNew) {
    const fetched = await store.deadLetters({ ...base, replayable: true, withBody: true, limit: Math.min(PAGE, limit - taken), after });
    if (fetched.length === 0) break;
    const last = fetched[fetched.length - 1];
    after = { ts: last.ts, id: last.id! };
    const page = fetched.filter((l) => l.id! <= newest);
    reachedNew = page.length < fetched.length;
    taken += page.length;
    const groups = new Map<string, { target: ReplayTarget; letters: DeadLetter[] }>();
    for (const l of page) {
      if (held.has(l.id!)) {
        skip(l.id!, 'IN_PROGRESS', 'another replay is taking it now');
        continue;
      }
      // Listed as kept, but the store could not read its message back (a body file lost outside the runtime):
      // replaying it would send an empty message in its place and mark it done.
      if (l.body === undefined) {
        skip(l.id!, 'BODY_MISSING', 'its message could not be read back from the store');
        continue;
      }
      const target = targetFor(l);
      if (typeof target === 'string') {
        skip(l.id!, 'NO_INPUT', target);
        continue;
      }
      const g = groups.get(target.id) ?? { target, letters: [] };
      g.letters.push(l);
      groups.set(target.id, g);
    }
    for (const { target, letters } of groups.values()) {
      const ids = letters.map((l) => l.id!);
      for (const id of ids) held.add(id);
      try {
        const r = await target.submit(letters.map(recordOf));
        if ('refused' in r) {
          result.incomplete = { reason: r.error.message, retryAfterMs: r.retryAfterMs };
          break;
        }
        const marked = await store.markDeadLettersReplayed(ids, now());
        result.replayed += marked.length;
        for (const id of marked) if (result.ids.length < LISTED) result.ids.push(id);
      } finally {
        for (const id of ids) held.delete(id);
      }
    }
  }
  const without = await store.deadLetters({ ...base, replayable: false, limit: LISTED + 1 });
  result.notReplayable = without.length;
  if (req.query.ids && !result.incomplete) await explainNamed(store, req.query, result);
  return result;
}

/** Ids asked for by name that were not replayed get a reason each, instead of vanishing from the answer. */
async function explainNamed(store: ReplayStore, query: DeadLetterQuery, result: ReplayResult): Promise<void> {
  const done = new Set([...result.ids, ...result.skipped.map((s) => s.id)]);
  const missing = query.ids!.filter((id) => !done.has(id));
  if (missing.length === 0) return;
  const found = new Map((await store.deadLetters({ ids: missing, order: 'asc', limit: missing.length })).map((l) => [l.id!, l]));
  for (const id of missing) {
    if (result.skipped.length >= LISTED) break;
    const l = found.get(id);
    const [code, reason]: [SkipCode, string] =
      l === undefined
        ? ['NOT_FOUND', 'no dead letter has this id']
        : l.replayedAt !== undefined
          ? ['ALREADY_REPLAYED', `it was replayed already, at ${new Date(l.replayedAt).toISOString()}`]
          : l.replayable === false
            ? ['NOT_KEPT', `its message was not kept (${l.code}: a replay would be refused the same way, or the message was an impostor's or too large to keep), so it cannot be replayed`]
            : ['NOT_MATCHED', 'it does not match the other filters of this call'];
    result.skipped.push({ id, code, reason });
  }
}

/** The handler: 200 with what happened; 503 with Retry-After when an input refused before anything went in. */
export async function handleReplay(store: TimeSeriesStore, query: QueryParams, body: unknown, targetFor: (l: DeadLetter, input?: string) => ReplayTarget | string): Promise<QueryResponse> {
  try {
    const req = parseReplayParams(query, body);
    const r = await replayDeadLetters(store, req, (l) => targetFor(l, req.input));
    const out: Record<string, unknown> = { replayed: r.replayed, ids: r.ids, skipped: r.skipped, notReplayable: r.notReplayable };
    if (r.incomplete) {
      const retryAfter = Math.max(1, Math.ceil(r.incomplete.retryAfterMs / 1000));
      out.incomplete = { reason: r.incomplete.reason, retryAfter };
      if (r.replayed === 0) {
        return {
          status: 503,
          contentType: JSON_TYPE,
          body: JSON.stringify({ error: { code: 'BACKPRESSURE', message: r.incomplete.reason, retryAfter } }),
          headers: { 'Retry-After': String(retryAfter) },
        };
      }
    }
    return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(out) };
  } catch (err) {
    return { status: statusOf(err), contentType: JSON_TYPE, body: errorJson(err) };
  }
}
