/**
 * The write path of the DuckDB store.
 *
 * A batch goes to DuckDB as numbers: device, field, text value and tags as
 * indexes into a few short lists of strings (bound as parameters), time and
 * value as doubles. It is appended in data chunks to a temporary table and
 * turned into rows of `readings` by one INSERT ... SELECT that DuckDB runs on
 * its own threads. The event loop only fills typed arrays and copies them into
 * DuckDB's vectors: no JSON text to build and parse, no native call per value.
 *
 * Idempotent without a primary key. `readings` has none (the index was about
 * 40% of the insert's CPU and a good part of the memory). Instead the store
 * keeps, per device, a mark: the latest ts that may already be in the table
 * (read at open, raised before every write). A reading is *fresh* when its ts
 * is above its device's mark and above every earlier reading of that device in
 * the batch: nothing stored or in the batch can have its key, so it is simply
 * appended. Every other reading (a replay after a crash, a retransmission, late
 * or out-of-order data) is *suspect*: the rows with its keys are deleted first,
 * in the same transaction, and the batch's own duplicates are settled by the
 * last one winning, as an upsert would. Marks are raised before the write runs,
 * so a write that failed halfway (or whose outcome is unknown) leaves them too
 * high, never too low: its readings come back as suspects.
 *
 * Roll-ups (duckdb-rollups.ts): a batch of fresh readings is written alone and
 * its aggregates are applied afterwards (duckdb-rollup-pending.ts); a batch
 * with suspects keeps the tiers here, from the same batch table, in the
 * batch's transaction: fresh rows add their aggregates to their buckets, the
 * buckets suspects touch are recomputed from the raw rows.
 *
 * A small batch of fresh readings without tiers (most writes of single-reading
 * HTTP, CoAP and MQTT traffic) skips the batch table: its rows are appended to
 * `readings` as they are, in one data chunk and one commit. A statement costs
 * DuckDB about the same whether it carries 10 rows or 1,000 (parse, plan,
 * commit), and this path has a batch table, an appender and an INSERT fewer.
 */
import {
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  DuckDBTimestampValue,
  INTEGER,
  LIST,
  listValue,
  TIMESTAMP,
  UTINYINT,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBVector,
} from '@duckdb/node-api';
import type { EncodedBatch } from './duckdb-encode';
import { COLUMNS, MERGE_UPDATE, recomputeSql } from './duckdb-rollups';
import { inTransaction, preparedStatement } from './duckdb-prepared';
import { fillStrings, fillTimestamps, NullMask } from './duckdb-vectors';

/** The temporary table a batch passes through (per connection). */
export const BATCH_TABLE = 'upperstack_batch';
const BATCH = `temp.main.${BATCH_TABLE}`;
// d, f: 1-based indexes into $names; t: epoch ms; k: 0 number, 1 boolean (n 0/1), 2 text (n indexes $texts);
// g: index into $tags; x: 1 for a suspect reading's rows.
const CREATE_BATCH = `CREATE OR REPLACE TEMP TABLE ${BATCH_TABLE} (d INTEGER, t DOUBLE, f INTEGER, k UTINYINT, n DOUBLE, g INTEGER, x UTINYINT)`;
const TYPES = [INTEGER, DOUBLE, INTEGER, UTINYINT, DOUBLE, INTEGER, UTINYINT];
const STRINGS = LIST(VARCHAR);
/** Rows per data chunk: DuckDB's vector size. */
const CHUNK = 2048;

const EMPTY_TAGS = '{}';
/** The tag texts of a batch whose readings have none: index 0 is no tags. */
const NO_TAGS: readonly string[] = [EMPTY_TAGS];

/** The SELECT list that turns batch rows into `readings` rows; only the value columns a batch uses are computed. */
function selectList(shape: number): string {
  const onlyNumbers = (shape & 7) === 1;
  return [
    '$names[d]',
    'make_timestamp(t::BIGINT * 1000)',
    '$names[f]',
    onlyNumbers ? 'n' : shape & 1 ? 'CASE WHEN k = 0 THEN n END' : 'NULL::DOUBLE',
    shape & 2 ? 'CASE WHEN k = 1 THEN n <> 0 END' : 'NULL::BOOLEAN',
    shape & 4 ? 'CASE WHEN k = 2 THEN $texts[n::INTEGER] END' : 'NULL::VARCHAR',
    shape & 8 ? `CASE WHEN g > 0 THEN $tags[g] ELSE '${EMPTY_TAGS}' END` : `'${EMPTY_TAGS}'`,
  ].join(', ');
}

/** Appends fresh rows as they are. */
const appendSql = (shape: number) => `INSERT INTO readings SELECT ${selectList(shape)} FROM ${BATCH}`;
/** With suspects: the later of two rows with one key wins, as an upsert would. */
const replaceSql = (shape: number) =>
  `INSERT INTO readings SELECT ${selectList(shape)} FROM ${BATCH} QUALIFY row_number() OVER (PARTITION BY d, t, f ORDER BY rowid DESC) = 1`;
/** Stored rows with a suspect's key; the time range lets DuckDB skip row groups by their min/max. */
const DELETE_SQL = `DELETE FROM readings WHERE ts BETWEEN make_timestamp($lo::BIGINT * 1000) AND make_timestamp($hi::BIGINT * 1000)
  AND (device, ts, field) IN (SELECT $names[d], make_timestamp(t::BIGINT * 1000), $names[f] FROM ${BATCH} WHERE x >= 1)`;
/** Before the delete: a suspect whose row is stored already becomes x = 2 (a replay), so only new rows (x <= 1) reach a sealed bucket. */
const MARK_STORED_SQL = `UPDATE ${BATCH} SET x = 2 WHERE x = 1 AND ($names[d], make_timestamp(t::BIGINT * 1000), $names[f]) IN
  (SELECT device, ts, field FROM readings WHERE ts BETWEEN make_timestamp($lo::BIGINT * 1000) AND make_timestamp($hi::BIGINT * 1000))`;

/** A roll-up tier the write keeps: its table and bucket width (ms). */
export interface RollupTier {
  table: string;
  width: number;
}

const bucketOf = (col: string, width: number) => `(floor(${col} / ${width}) * ${width})::BIGINT`;

/** The last value of each kind, by time; fresh rows never share a time within a bucket. */
function lastValues(shape: number): string {
  if ((shape & 7) === 1) return 'arg_max(n, t), NULL::BOOLEAN, NULL::VARCHAR';
  return [
    shape & 1 ? 'arg_max_null(CASE WHEN k = 0 THEN n END, t)' : 'NULL::DOUBLE',
    shape & 2 ? 'arg_max_null(CASE WHEN k = 1 THEN n <> 0 END, t)' : 'NULL::BOOLEAN',
    shape & 4 ? 'arg_max_null(CASE WHEN k = 2 THEN $texts[n::INTEGER] END, t)' : 'NULL::VARCHAR',
  ].join(', ');
}

/** Whether the tier's row for a batch row's bucket is sealed (retention removed raw rows of it). */
const sealedIn = (tier: RollupTier, alias: string) =>
  `EXISTS (SELECT 1 FROM ${tier.table} z WHERE z.sealed AND z.device = $names[${alias}.d] AND z.field = $names[${alias}.f] AND z.bucket = ${bucketOf(`${alias}.t`, tier.width)})`;

/**
 * Adds the aggregates of the batch's fresh rows to a tier. With suspects in the
 * batch, buckets a suspect touches are recomputed whole from the raw rows,
 * except sealed ones: retention removed raw rows of those, so a recompute
 * would lose them. A sealed bucket gets the fresh rows and the suspects whose
 * row was not stored yet (x = 1, the last of a key in the batch): a replay
 * (x = 2) is not counted twice. A replay with a changed value keeps the
 * bucket's aggregates of the stored one (they cannot be taken out of min/max).
 */
export function mergeSql(tier: RollupTier, shape: number, suspects: boolean): string {
  const numeric = (shape & 7) === 1 ? '' : ' FILTER (WHERE k = 0)';
  const bucket = bucketOf('t', tier.width);
  // Joins, not a correlated EXISTS per row under an OR: DuckDB ran that as a nested loop, and a
  // retransmitted batch of 20,000 rows of one device took 11 s and 1.3 GB (50,000 rows: 2 min, 4 GB).
  const from = suspects
    ? `(SELECT b.d, b.f, b.t, b.k, b.n, b.bucket FROM (SELECT d, f, t, k, n, x, rowid AS r, ${bucket} AS bucket FROM ${BATCH}) b
  LEFT JOIN (SELECT DISTINCT d, f, ${bucket} AS bucket FROM ${BATCH} WHERE x >= 1) s ON s.d = b.d AND s.f = b.f AND s.bucket = b.bucket
  LEFT JOIN (SELECT device, field, bucket FROM ${tier.table} WHERE sealed) z ON z.device = $names[b.d] AND z.field = $names[b.f] AND z.bucket = b.bucket
  WHERE b.x <= 1 AND (z.bucket IS NOT NULL OR (b.x = 0 AND s.bucket IS NULL))
  QUALIFY row_number() OVER (PARTITION BY b.d, b.t, b.f ORDER BY b.r DESC) = 1)`
    : `(SELECT d, f, t, k, n, ${bucket} AS bucket FROM ${BATCH})`;
  return `INSERT INTO ${tier.table} (${COLUMNS})
SELECT $names[d], $names[f], bucket, count(*), count(*)${numeric}, sum(n)${numeric}, min(n)${numeric}, max(n)${numeric}, max(t)::BIGINT, ${lastValues(shape)}
FROM ${from}
GROUP BY d, f, bucket
${MERGE_UPDATE}`;
}

/** Recomputes from the raw rows the unsealed buckets of a tier the suspects fall in ($lo, $hi: those buckets' time range). */
const recomputeSuspectsSql = (tier: RollupTier) =>
  recomputeSql(
    tier.table,
    tier.width,
    `SELECT DISTINCT $names[d] AS device, $names[f] AS field, ${bucketOf('t', tier.width)} AS bucket FROM ${BATCH} s WHERE x >= 1 AND NOT ${sealedIn(tier, 's')}`,
    'r.ts >= make_timestamp($lo::BIGINT * 1000) AND r.ts < make_timestamp($hi::BIGINT * 1000)',
  );

/**
 * A new vector's own typed array, when the installed @duckdb/node-api keeps one
 * (it does as of 1.5) and no validity mask is allocated (every value valid, as
 * in a new chunk); otherwise undefined and values go through setItem.
 */
function itemsOf(vector: DuckDBVector<number>): Int32Array | Float64Array | Uint8Array | undefined {
  const v = vector as unknown as { items?: unknown; validity?: { data?: unknown } };
  if (!v.validity || v.validity.data !== null) return undefined;
  const items = v.items;
  return items instanceof Int32Array || items instanceof Float64Array || items instanceof Uint8Array ? items : undefined;
}

/**
 * The full data chunk stage() fills, kept from write to write. A new chunk's
 * vectors each start with a copy of DuckDB's memory into JavaScript (how
 * @duckdb/node-api reads a vector, though staging only writes it): about a third
 * of the main thread's staging time for a batch. An appender copies the rows it
 * is given, so the chunk is free again once appendDataChunk returns, and stage()
 * fills and appends it without an await in between: no other write can find it
 * half filled. Every value of it is overwritten before each append.
 */
let fullChunk: DuckDBDataChunk | undefined;

/** Fills the batch table with the encoded rows, a data chunk at a time. */
async function stage(conn: DuckDBConnection, b: EncodedBatch): Promise<void> {
  // Text, not prepared: DuckDB 1.5.6 re-runs a prepared CREATE TABLE as a table without
  // columns. Nor emptied with DELETE or TRUNCATE: a temp table keeps the deleted row groups
  // (~370 MB after 1,000 writes of 20,000 rows).
  await conn.run(CREATE_BATCH);
  const ap = await conn.createAppender(BATCH_TABLE, 'main', 'temp');
  try {
    const c = b.cols;
    const cols = [c.d, c.t, c.f, c.k, c.n, c.g, c.x];
    for (let start = 0; start < b.rows; start += CHUNK) {
      const size = Math.min(CHUNK, b.rows - start);
      const chunk = size === CHUNK ? (fullChunk ??= DuckDBDataChunk.create(TYPES, CHUNK)) : DuckDBDataChunk.create(TYPES, size);
      for (let col = 0; col < cols.length; col++) {
        const values = cols[col];
        const vector = chunk.getColumnVector(col) as DuckDBVector<number>;
        const items = itemsOf(vector);
        // Same element type (TYPES matches the columns): one copy, no call or boxed double per value.
        if (items && items.constructor === values.constructor && items.length >= size) items.set(values.subarray(start, start + size));
        else for (let i = 0; i < size; i++) vector.setItem(i, values[start + i]);
        vector.flush();
      }
      ap.appendDataChunk(chunk);
    }
    ap.closeSync();
  } catch (err) {
    ap.clear();
    throw err;
  }
}

/** The columns of `readings`, in table order, as a data chunk appends them. */
const ROW_TYPES = [VARCHAR, TIMESTAMP, VARCHAR, DOUBLE, BOOLEAN, VARCHAR, VARCHAR];

/**
 * Appends fresh rows (at most one data chunk) to `readings` directly: what
 * appendSql computes, done here. One transaction, so all of them or none.
 */
async function appendRows(conn: DuckDBConnection, b: EncodedBatch): Promise<void> {
  const { d, t, f, k, n, g } = b.cols;
  const { names, texts, tags } = b;
  const chunk = DuckDBDataChunk.create(ROW_TYPES, b.rows);
  // Device, field and tags: every row has them, from a few distinct strings.
  fillStrings(chunk, 0, b.rows, names, d, 1);
  fillStrings(chunk, 2, b.rows, names, f, 1);
  fillStrings(chunk, 6, b.rows, tags.length ? [EMPTY_TAGS, ...tags] : NO_TAGS, g, 0);
  const ts = chunk.getColumnVector(1) as DuckDBVector<DuckDBTimestampValue | null>;
  const num = chunk.getColumnVector(3) as DuckDBVector<number | null>;
  const bool = chunk.getColumnVector(4) as DuckDBVector<boolean | null>;
  const text = chunk.getColumnVector(5) as DuckDBVector<string | null>;
  // Each value column is null where a row holds another kind: only values are set, the nulls by one mask.
  const numMask = new NullMask(b.rows);
  const boolMask = new NullMask(b.rows);
  const textMask = new NullMask(b.rows);
  fillTimestamps(ts, t, b.rows);
  for (let i = 0; i < b.rows; i++) {
    const kind = k[i];
    if (kind === 0) {
      num.setItem(i, n[i]);
      numMask.valid(i);
    } else numMask.null();
    if (kind === 1) {
      bool.setItem(i, n[i] !== 0);
      boolMask.valid(i);
    } else boolMask.null();
    if (kind === 2) {
      text.setItem(i, texts[n[i] - 1]);
      textMask.valid(i);
    } else textMask.null();
  }
  numMask.apply(num);
  boolMask.apply(bool);
  textMask.apply(text);
  for (const v of [ts, num, bool, text]) v.flush();
  // The appender only has a synchronous close: inside a transaction it appends, and the
  // commit (the WAL write and its fsync) runs off the event loop like any statement.
  await inTransaction(conn, async () => {
    const ap = await conn.createAppender('readings');
    try {
      ap.appendDataChunk(chunk);
      ap.closeSync();
    } catch (err) {
      ap.clear();
      throw err;
    }
  });
}

async function run(conn: DuckDBConnection, sql: string, b: EncodedBatch, extra: Record<string, number> = {}): Promise<void> {
  const p = await preparedStatement(conn, sql);
  const values: Record<string, ReturnType<typeof listValue> | number> = { names: listValue(b.names), ...extra };
  const types: Record<string, typeof STRINGS | undefined> = { names: STRINGS };
  if (sql.includes('$texts')) {
    values.texts = listValue(b.texts);
    types.texts = STRINGS;
  }
  if (sql.includes('$tags')) {
    values.tags = listValue(b.tags);
    types.tags = STRINGS;
  }
  p.bind(values, types);
  await p.run();
}

/**
 * Writes an encoded batch and keeps the roll-up `tiers`: an INSERT (and a
 * merge per tier) when every reading is fresh, else delete, insert and
 * recompute. One transaction either way: all of it is written or none.
 */
export async function writeBatch(conn: DuckDBConnection, b: EncodedBatch, tiers: readonly RollupTier[] = []): Promise<void> {
  if (b.rows === 0) return;
  if (b.suspects === 0 && tiers.length === 0 && b.rows <= CHUNK) return appendRows(conn, b);
  // The batch table stays until the next batch replaces it: dropping it would cost a statement per batch.
  await stage(conn, b);
  if (b.suspects === 0 && tiers.length === 0) {
    await run(conn, appendSql(b.shape), b);
    return;
  }
  await inTransaction(conn, async () => {
    if (b.suspects === 0) {
      await run(conn, appendSql(b.shape), b);
      for (const tier of tiers) await run(conn, mergeSql(tier, b.shape, false), b);
    } else {
      if (tiers.length > 0) await run(conn, MARK_STORED_SQL, b, { lo: b.lo, hi: b.hi });
      await run(conn, DELETE_SQL, b, { lo: b.lo, hi: b.hi });
      await run(conn, replaceSql(b.shape), b);
      for (const tier of tiers) {
        const lo = Math.floor(b.lo / tier.width) * tier.width;
        await run(conn, recomputeSuspectsSql(tier), b, { lo, hi: Math.floor(b.hi / tier.width) * tier.width + tier.width });
        await run(conn, mergeSql(tier, b.shape, true), b);
      }
    }
  });
}

/** The latest ts of every device in the table: the marks a store starts from. */
export async function readMarks(conn: DuckDBConnection): Promise<Map<string, number>> {
  const rows = (await conn.runAndReadAll('SELECT device, epoch_ms(max(ts))::DOUBLE FROM readings GROUP BY device')).getRows();
  const marks = new Map<string, number>();
  for (const [device, ts] of rows) marks.set(device as string, ts as number);
  return marks;
}
