/**
 * The `deadletters` table of the DuckDB store: its schema and migration,
 * inserts, filtered and paged queries, and replay marks.
 *
 * Version 2 of the table keeps what a replay needs beside the readable excerpt:
 * the whole message (`body`, up to the size the caller kept), its content type,
 * format, the input's extra facts and the input node that journaled it, plus an
 * `id` for paging and `replayed_at`. The bodies of letters not replayed yet are
 * kept only up to a disk budget; beyond it a letter keeps its excerpt only, so
 * a flood of bad messages cannot fill the disk through this table.
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { listValue, DuckDBTimestampValue } from '@duckdb/node-api';
import { BadParameterError } from '../errors';
import type { DeadLetter, DeadLetterQuery } from './types';

export const DEADLETTERS_VERSION = 2;
/** Default budget for the bodies of dead letters not yet replayed. */
export const DEFAULT_BODY_BUDGET = 256 * 1024 * 1024;
/** The excerpt of version 1 (and of the readable `payload`): shorter than this, it is the whole message. */
const EXCERPT = 4096;
// One statement carries at most this much body text, so a flood of letters is not one huge JSON text.
const STATEMENT_BYTES = 8 * 1024 * 1024;
// The range of a JS Date; also keeps ts * 1000 inside DuckDB's int64 micros.
const MAX_TS = 8.64e15;
const LONE_SURROGATE = /\p{Cs}/gu;

const COLUMNS = `
  id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  device VARCHAR,
  source VARCHAR,
  code VARCHAR,
  reason VARCHAR,
  payload VARCHAR,
  body BLOB,
  content_type VARCHAR,
  format VARCHAR,
  meta VARCHAR,
  input VARCHAR,
  received_at TIMESTAMP,
  replayed_at TIMESTAMP`;

type Params = Record<string, DuckDBValue>;

/** Bytes a budget has left, per connection (a reopened database counts again). */
const usage = new WeakMap<DuckDBConnection, { bodyBytes: number }>();

async function columnsOf(conn: DuckDBConnection): Promise<string[]> {
  const r = await conn.runAndReadAll(`SELECT column_name FROM information_schema.columns WHERE table_name = 'deadletters' AND table_schema = 'main'`);
  return r.getRows().map((row) => String(row[0]));
}

/**
 * Creates the table, or brings a version 1 table (ts, device, source, code,
 * reason, payload) to version 2 in one transaction: ids in time order, and as
 * body the old excerpt where it was the whole message.
 */
export async function migrateDeadLetters(conn: DuckDBConnection): Promise<void> {
  const cols = await columnsOf(conn);
  if (cols.includes('id')) {
    await conn.run(`CREATE SEQUENCE IF NOT EXISTS deadletter_id`);
    return;
  }
  if (cols.length === 0) {
    await conn.run(`CREATE SEQUENCE IF NOT EXISTS deadletter_id; CREATE TABLE IF NOT EXISTS deadletters (${COLUMNS});`);
    return;
  }
  await conn.run('BEGIN TRANSACTION');
  try {
    const count = Number((await conn.runAndReadAll('SELECT count(*) FROM deadletters')).getRows()[0][0]);
    await conn.run(`CREATE TABLE deadletters_v2 (${COLUMNS})`);
    // An excerpt shorter than the cut is the message itself: text as UTF-8, 'base64:' as the bytes it stands for.
    await conn.run(`INSERT INTO deadletters_v2
      SELECT row_number() OVER (ORDER BY ts, rowid), ts, device, source, code, reason, payload,
        CASE WHEN payload LIKE 'base64:%' THEN
               CASE WHEN octet_length(from_base64(substr(payload, 8))) < ${EXCERPT} THEN from_base64(substr(payload, 8)) END
             WHEN payload IS NOT NULL AND octet_length(encode(payload)) < ${EXCERPT} AND NOT ends_with(payload, '…') THEN encode(payload)
        END,
        NULL, NULL, NULL, NULL, NULL, NULL
      FROM deadletters`);
    await conn.run('DROP TABLE deadletters');
    await conn.run('ALTER TABLE deadletters_v2 RENAME TO deadletters');
    await conn.run(`DROP SEQUENCE IF EXISTS deadletter_id`);
    await conn.run(`CREATE SEQUENCE deadletter_id START ${count + 1}`);
    await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('deadletters_version', '${DEADLETTERS_VERSION}')`);
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The whole message as a replay needs it, when the letter carries it or its excerpt is complete. */
function bodyOf(l: DeadLetter): Buffer | undefined {
  if (typeof l.body === 'string') return Buffer.from(l.body, 'base64');
  const p = l.payload;
  if (typeof p !== 'string') return undefined;
  const bytes = p.startsWith('base64:') ? Buffer.from(p.slice(7), 'base64') : Buffer.from(p, 'utf8');
  return bytes.length < EXCERPT && !p.endsWith('…') ? bytes : undefined;
}

async function bodyBytes(conn: DuckDBConnection): Promise<{ bodyBytes: number }> {
  let u = usage.get(conn);
  if (!u) {
    const r = await conn.runAndReadAll('SELECT coalesce(sum(octet_length(body)), 0)::DOUBLE FROM deadletters WHERE replayed_at IS NULL');
    u = { bodyBytes: Number(r.getRows()[0][0]) };
    usage.set(conn, u);
  }
  return u;
}

const INSERT = `INSERT INTO deadletters
  SELECT nextval('deadletter_id'), make_timestamp(r.t * 1000), r.d, r.s, r.c, r.r, r.p, from_base64(r.b), r.ct, r.f, r.m, r.i,
    make_timestamp(r.a * 1000), NULL
  FROM (SELECT unnest(c.t) AS t, unnest(c.d) AS d, unnest(c.s) AS s, unnest(c.c) AS c, unnest(c.r) AS r, unnest(c.p) AS p,
               unnest(c.b) AS b, unnest(c.ct) AS ct, unnest(c.f) AS f, unnest(c.m) AS m, unnest(c.i) AS i, unnest(c.a) AS a
        FROM (SELECT json_transform($rows, '{"t":["BIGINT"],"d":["VARCHAR"],"s":["VARCHAR"],"c":["VARCHAR"],"r":["VARCHAR"],"p":["VARCHAR"],"b":["VARCHAR"],"ct":["VARCHAR"],"f":["VARCHAR"],"m":["VARCHAR"],"i":["VARCHAR"],"a":["BIGINT"]}') AS c)) AS r`;

/** Appends letters, each statement atomic; bodies beyond the budget are left out (the excerpt stays). */
export async function insertDeadLetters(conn: DuckDBConnection, letters: DeadLetter[], budget = DEFAULT_BODY_BUDGET): Promise<void> {
  const u = await bodyBytes(conn);
  let cols = empty();
  let size = 0;
  const flush = async () => {
    if (cols.t.length === 0) return;
    await conn.run(INSERT, { rows: JSON.stringify(cols) });
    cols = empty();
    size = 0;
  };
  for (const l of letters) {
    // DuckDB keeps UTF-8: a lone surrogate (valid in a JS string) would make the row invalid.
    const text = (v: unknown) => (v === undefined || v === null ? null : String(v).replace(LONE_SURROGATE, '\uFFFD'));
    const body = bodyOf(l);
    const keep = body !== undefined && u.bodyBytes + body.length <= budget;
    if (keep) u.bodyBytes += body.length;
    const b64 = keep ? body.toString('base64') : null;
    if (b64 && size + b64.length > STATEMENT_BYTES) await flush();
    cols.t.push(Number.isFinite(l.ts) && Math.abs(l.ts) <= MAX_TS ? Math.round(l.ts) : Date.now());
    cols.d.push(text(l.device));
    cols.s.push(text(l.source));
    cols.c.push(text(l.code));
    cols.r.push(text(l.reason));
    cols.p.push(text(l.payload));
    cols.b.push(b64);
    cols.ct.push(text(l.contentType));
    cols.f.push(text(l.format));
    cols.m.push(l.meta && typeof l.meta === 'object' ? text(JSON.stringify(l.meta)) : null);
    cols.i.push(text(l.input));
    cols.a.push(typeof l.receivedAt === 'number' && Number.isFinite(l.receivedAt) && Math.abs(l.receivedAt) <= MAX_TS ? Math.round(l.receivedAt) : null);
    size += b64?.length ?? 0;
  }
  await flush();
}

function empty() {
  return { t: [] as number[], d: [] as Array<string | null>, s: [] as Array<string | null>, c: [] as Array<string | null>, r: [] as Array<string | null>, p: [] as Array<string | null>, b: [] as Array<string | null>, ct: [] as Array<string | null>, f: [] as Array<string | null>, m: [] as Array<string | null>, i: [] as Array<string | null>, a: [] as Array<number | null> };
}

function tsValue(ms: number): DuckDBTimestampValue {
  return new DuckDBTimestampValue(BigInt(Math.round(ms)) * 1000n);
}

/** Letters matching the query, by recording time then id; `withBody` adds the replay bytes. */
export async function queryDeadLetters(conn: DuckDBConnection, q: DeadLetterQuery): Promise<DeadLetter[]> {
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
  if (q.replayable !== undefined) where.push(q.replayable ? 'body IS NOT NULL' : 'body IS NULL');
  if (q.ids !== undefined) {
    where.push('list_contains($ids, id)');
    params.ids = listValue(q.ids.map((i) => BigInt(i)));
  }
  const sql = `SELECT id, epoch_ms(ts)::DOUBLE, device, source, code, reason, payload, ${q.withBody ? 'to_base64(body)' : 'NULL'}, body IS NOT NULL,
      content_type, format, meta, input, epoch_ms(received_at)::DOUBLE, epoch_ms(replayed_at)::DOUBLE
    FROM deadletters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${desc ? 'DESC' : 'ASC'}, id ${desc ? 'DESC' : 'ASC'} LIMIT $lim`;
  const rows = (await conn.runAndReadAll(sql, params)).getRows();
  return rows.map(([id, ts, device, source, code, reason, payload, body, hasBody, contentType, format, meta, input, receivedAt, replayedAt]) => {
    const l: DeadLetter = {
      id: Number(id),
      ts: ts as number,
      device: (device ?? '') as string,
      source: (source ?? '') as string,
      code: (code ?? '') as string,
      reason: (reason ?? '') as string,
      payload: (payload ?? '') as string,
      replayable: hasBody === true,
    };
    if (typeof body === 'string') l.body = body;
    if (typeof contentType === 'string') l.contentType = contentType;
    if (typeof format === 'string') l.format = format;
    if (typeof meta === 'string') l.meta = JSON.parse(meta) as Record<string, string>;
    if (typeof input === 'string') l.input = input;
    if (typeof receivedAt === 'number') l.receivedAt = receivedAt;
    if (typeof replayedAt === 'number') l.replayedAt = replayedAt;
    return l;
  });
}

/**
 * Marks letters replayed unless they already are, and drops their bodies (a
 * replayed letter is never replayed again; if the replay fails, the new dead
 * letter keeps the body). Resolves the ids this call marked.
 */
export async function markReplayed(conn: DuckDBConnection, ids: number[], at: number): Promise<number[]> {
  if (ids.length === 0) return [];
  const r = await conn.runAndReadAll(
    `UPDATE deadletters SET replayed_at = $at, body = NULL WHERE list_contains($ids, id) AND replayed_at IS NULL RETURNING id`,
    { at: tsValue(at), ids: listValue(ids.map((i) => BigInt(i))) },
  );
  usage.delete(conn);
  return r.getRows().map((row) => Number(row[0])).sort((a, b) => a - b);
}

/** Undoes the mark of letters whose replay could not be submitted, bodies included. */
export async function unmarkReplayed(conn: DuckDBConnection, letters: Array<{ id: number; body?: string }>): Promise<void> {
  for (const l of letters) {
    await conn.run(`UPDATE deadletters SET replayed_at = NULL, body = from_base64($body) WHERE id = $id`, { id: BigInt(l.id), body: l.body ?? null });
  }
  usage.delete(conn);
}
