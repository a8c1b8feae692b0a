/**
 * The `deadletters` table of the DuckDB store: its schema and migrations,
 * inserts, filtered and paged queries, and replay marks.
 *
 * Since version 2 a letter keeps what a replay needs beside the readable
 * excerpt: the whole message (its body, up to the size the caller kept), its
 * content type, format, the input's extra facts and the input node that
 * journaled it, plus an `id` for paging and `replayed_at`. Version 3 keeps the
 * bodies in files beside the database (deadletter-bodies.ts; why is there)
 * and in the table only where each lies (`body_seg`, `body_off`, `body_len`).
 * The bodies of letters not replayed yet are kept only up to a budget, and the
 * body files to twice it; beyond either a letter keeps its excerpt only, so a
 * flood of bad messages cannot fill the disk.
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { listValue, DuckDBTimestampValue } from '@duckdb/node-api';
import { BadParameterError, type QuotedValue } from '../errors';
import type { DeadLetter, DeadLetterQuery } from './types';
import type { BodyRef, DeadLetterBodies } from './deadletter-bodies';
import { MAX_TS } from './duckdb-encode';

import { dropUnusedBodies, EXCERPT } from './duckdb-deadletters-migrate';

export { DEADLETTERS_VERSION, migrateDeadLetters } from './duckdb-deadletters-migrate';
/** Default budget for the bodies of dead letters not yet replayed. */
export const DEFAULT_BODY_BUDGET = 256 * 1024 * 1024;
/** The body files may take this many times the budget (space of replayed bodies not freed yet included). */
const DISK_FACTOR = 2;
// One statement carries at most this much text (excerpts, reasons), so a flood of letters is not one huge JSON text.
const STATEMENT_BYTES = 2 * 1024 * 1024;
const LONE_SURROGATE = /\p{Cs}/gu;

type Params = Record<string, DuckDBValue>;

/** Bytes a budget has left, per connection (a reopened database counts again). */
const usage = new WeakMap<DuckDBConnection, { bodyBytes: number }>();

/** The whole message as a replay needs it, when the letter carries it or its excerpt is complete. */
function bodyOf(l: DeadLetter): Uint8Array | undefined {
  // Refused whatever the settings (an empty message, a content type its input never reads): a replay would be refused alike.
  if (l.replayable === false) return undefined;
  if (l.bytes !== undefined) return l.bytes;
  if (typeof l.body === 'string') return Buffer.from(l.body, 'base64');
  const p = l.payload;
  // An empty excerpt is a body not kept (an impostor's, one the store refused to hold), not an empty body.
  if (typeof p !== 'string' || p === '') return undefined;
  const bytes = p.startsWith('base64:') ? Buffer.from(p.slice(7), 'base64') : Buffer.from(p, 'utf8');
  return bytes.length < EXCERPT && !p.endsWith('…') ? bytes : undefined;
}

async function bodyBytes(conn: DuckDBConnection): Promise<{ bodyBytes: number }> {
  let u = usage.get(conn);
  if (!u) {
    const r = await conn.runAndReadAll('SELECT coalesce(sum(body_len), 0)::DOUBLE FROM deadletters WHERE replayed_at IS NULL');
    u = { bodyBytes: Number(r.getRows()[0][0]) };
    usage.set(conn, u);
  }
  return u;
}

const INSERT = `INSERT INTO deadletters (id, ts, device, source, code, reason, payload, content_type, format, meta, input, received_at, replayed_at, body_seg, body_off, body_len, quoted)
  SELECT nextval('deadletter_id'), make_timestamp(r.t * 1000), r.d, r.s, r.c, r.r, r.p, r.ct, r.f, r.m, r.i, make_timestamp(r.a * 1000), NULL, r.bs, r.bo, r.bl, r.q
  FROM (SELECT unnest(c.t) AS t, unnest(c.d) AS d, unnest(c.s) AS s, unnest(c.c) AS c, unnest(c.r) AS r, unnest(c.p) AS p,
               unnest(c.ct) AS ct, unnest(c.f) AS f, unnest(c.m) AS m, unnest(c.i) AS i, unnest(c.a) AS a,
               unnest(c.bs) AS bs, unnest(c.bo) AS bo, unnest(c.bl) AS bl, unnest(c.q) AS q
        FROM (SELECT json_transform($rows, '{"t":["BIGINT"],"d":["VARCHAR"],"s":["VARCHAR"],"c":["VARCHAR"],"r":["VARCHAR"],"p":["VARCHAR"],"ct":["VARCHAR"],"f":["VARCHAR"],"m":["VARCHAR"],"i":["VARCHAR"],"a":["BIGINT"],"bs":["INTEGER"],"bo":["BIGINT"],"bl":["INTEGER"],"q":["VARCHAR"]}') AS c)) AS r`;

/**
 * Appends letters, each statement atomic, their bodies made durable in the
 * body files first; bodies beyond the budget (or the files' cap) are left out
 * (the excerpt stays).
 */
export async function insertDeadLetters(conn: DuckDBConnection, bodies: DeadLetterBodies, letters: DeadLetter[], budget = DEFAULT_BODY_BUDGET): Promise<void> {
  const u = await bodyBytes(conn);
  let cols = empty();
  let kept: Array<{ row: number; bytes: Uint8Array }> = [];
  /** Bytes of `kept`, not in the body files yet. */
  let keptBytes = 0;
  let size = 0;
  const flush = async () => {
    if (cols.t.length === 0) return;
    const refs = await bodies.append(kept.map((k) => k.bytes));
    kept.forEach((k, i) => {
      cols.bs[k.row] = refs[i].seg;
      cols.bo[k.row] = refs[i].off;
      cols.bl[k.row] = refs[i].len;
    });
    await conn.run(INSERT, { rows: JSON.stringify(cols) });
    cols = empty();
    kept = [];
    keptBytes = 0;
    size = 0;
  };
  // DuckDB keeps UTF-8: a lone surrogate (valid in a JS string) would make the row invalid.
  const text = (v: unknown) => (v === undefined || v === null ? null : String(v).replace(LONE_SURROGATE, '\uFFFD'));
  for (const l of letters) {
    const body = bodyOf(l);
    const keep = body !== undefined && u.bodyBytes + body.length <= budget && bodies.diskBytes() + keptBytes + body.length <= DISK_FACTOR * budget;
    const row = { p: text(l.payload), r: text(l.reason), q: l.quoted?.length ? text(JSON.stringify(l.quoted)) : null };
    const rowBytes = (row.p?.length ?? 0) + (row.r?.length ?? 0) + (row.q?.length ?? 0) + 256;
    if (size + rowBytes > STATEMENT_BYTES) await flush();
    if (keep) {
      u.bodyBytes += body.length;
      kept.push({ row: cols.t.length, bytes: body });
      keptBytes += body.length;
    }
    cols.t.push(Number.isFinite(l.ts) && Math.abs(l.ts) <= MAX_TS ? Math.round(l.ts) : Date.now());
    cols.d.push(text(l.device));
    cols.s.push(text(l.source));
    cols.c.push(text(l.code));
    cols.r.push(row.r);
    cols.p.push(row.p);
    cols.ct.push(text(l.contentType));
    cols.f.push(text(l.format));
    cols.m.push(l.meta && typeof l.meta === 'object' ? text(JSON.stringify(l.meta)) : null);
    cols.i.push(text(l.input));
    cols.a.push(typeof l.receivedAt === 'number' && Number.isFinite(l.receivedAt) && Math.abs(l.receivedAt) <= MAX_TS ? Math.round(l.receivedAt) : null);
    cols.bs.push(null);
    cols.bo.push(null);
    cols.bl.push(null);
    cols.q.push(row.q);
    size += rowBytes;
  }
  await flush();
}

function empty() {
  const texts = () => [] as Array<string | null>;
  const ints = () => [] as Array<number | null>;
  return { t: [] as number[], d: texts(), s: texts(), c: texts(), r: texts(), p: texts(), ct: texts(), f: texts(), m: texts(), i: texts(), a: ints(), bs: ints(), bo: ints(), bl: ints(), q: texts() };
}

function tsValue(ms: number): DuckDBTimestampValue {
  return new DuckDBTimestampValue(BigInt(Math.round(ms)) * 1000n);
}

/** Letters matching the query, by recording time then id; `withBody` adds the replay bytes (read from the body files). */
export async function queryDeadLetters(conn: DuckDBConnection, bodies: DeadLetterBodies, q: DeadLetterQuery): Promise<DeadLetter[]> {
  if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw new BadParameterError('limit', `"limit" must be a whole number of at least 1, got ${q.limit}`);
  const where: string[] = [];
  const params: Params = { lim: q.limit };
  const desc = q.order !== 'asc';
  if (q.device !== undefined) {
    where.push('device = $device');
    params.device = q.device;
  }
  if (q.codes?.length) {
    where.push('list_contains($codes, code)');
    params.codes = listValue(q.codes);
  }
  for (const [name, op] of [['from', '>='], ['to', '<']] as const) {
    const ms = q[name];
    if (ms === undefined) continue;
    if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TS) throw new BadParameterError(name, `"${name}" must be epoch milliseconds within the range of a date, got ${ms}`);
    where.push(`ts ${op} $${name}`);
    params[name] = tsValue(ms);
  }
  if (q.after !== undefined) {
    const op = desc ? '<' : '>';
    where.push(`(ts ${op} $afterTs OR (ts = $afterTs AND id ${op} $afterId))`);
    params.afterTs = tsValue(q.after.ts);
    params.afterId = BigInt(q.after.id);
  }
  if (q.replayed !== undefined) where.push(q.replayed ? 'replayed_at IS NOT NULL' : 'replayed_at IS NULL');
  if (q.replayable !== undefined) where.push(q.replayable ? 'body_seg IS NOT NULL' : 'body_seg IS NULL');
  if (q.ids !== undefined) {
    where.push('list_contains($ids, id)');
    params.ids = listValue(q.ids.map((i) => BigInt(i)));
  }
  const sql = `SELECT id, epoch_ms(ts)::DOUBLE, device, source, code, reason, payload, body_seg, body_off::DOUBLE, body_len,
      content_type, format, meta, input, epoch_ms(received_at)::DOUBLE, epoch_ms(replayed_at)::DOUBLE, quoted
    FROM deadletters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${desc ? 'DESC' : 'ASC'}, id ${desc ? 'DESC' : 'ASC'} LIMIT $lim`;
  const rows = (await conn.runAndReadAll(sql, params)).getRows();
  const out: DeadLetter[] = [];
  for (const [id, ts, device, source, code, reason, payload, seg, off, len, contentType, format, meta, input, receivedAt, replayedAt, quoted] of rows) {
    const ref: BodyRef | undefined = typeof seg === 'number' ? { seg, off: off as number, len: len as number } : undefined;
    const l: DeadLetter = {
      id: Number(id),
      ts: ts as number,
      device: (device ?? '') as string,
      source: (source ?? '') as string,
      code: (code ?? '') as string,
      reason: (reason ?? '') as string,
      payload: (payload ?? '') as string,
      replayable: ref !== undefined,
    };
    if (ref && q.withBody) {
      const bytes = await bodies.read(ref);
      // A body file lost outside the runtime (a folder not copied with the database): listed, not replayable.
      if (bytes) l.body = bytes.toString('base64');
      else l.replayable = false;
    }
    if (typeof contentType === 'string') l.contentType = contentType;
    if (typeof format === 'string') l.format = format;
    if (typeof meta === 'string') l.meta = JSON.parse(meta) as Record<string, string>;
    if (typeof input === 'string') l.input = input;
    if (typeof receivedAt === 'number') l.receivedAt = receivedAt;
    if (typeof replayedAt === 'number') l.replayedAt = replayedAt;
    if (typeof quoted === 'string') l.quoted = JSON.parse(quoted) as QuotedValue[];
    out.push(l);
  }
  return out;
}

/**
 * Marks letters replayed unless they already are, and drops their bodies (a
 * replayed letter is never replayed again; if the replay fails, the new dead
 * letter keeps the body). Resolves the ids this call marked.
 */
export async function markReplayed(conn: DuckDBConnection, bodies: DeadLetterBodies, ids: number[], at: number): Promise<number[]> {
  if (ids.length === 0) return [];
  const r = await conn.runAndReadAll(
    `UPDATE deadletters SET replayed_at = $at, body_seg = NULL, body_off = NULL, body_len = NULL WHERE list_contains($ids, id) AND replayed_at IS NULL RETURNING id`,
    { at: tsValue(at), ids: listValue(ids.map((i) => BigInt(i))) },
  );
  usage.delete(conn);
  await dropUnusedBodies(conn, bodies);
  return r.getRows().map((row) => Number(row[0])).sort((a, b) => a - b);
}

/** Undoes the mark of letters whose replay could not be submitted, bodies included. */
export async function unmarkReplayed(conn: DuckDBConnection, bodies: DeadLetterBodies, letters: Array<{ id: number; body?: string }>): Promise<void> {
  for (const l of letters) {
    const [ref] = typeof l.body === 'string' ? await bodies.append([Buffer.from(l.body, 'base64')]) : [];
    await conn.run(`UPDATE deadletters SET replayed_at = NULL, body_seg = $seg, body_off = $off, body_len = $len WHERE id = $id`, {
      id: BigInt(l.id),
      seg: ref?.seg ?? null,
      off: ref === undefined ? null : BigInt(ref.off),
      len: ref?.len ?? null,
    });
  }
  usage.delete(conn);
}
