/**
 * The SQL of a roll-up apply: per (device, field, minute) deltas of fresh
 * readings merged into both tiers in one transaction, with the generation of
 * the apply written in the same transaction (a tier read takes it from its
 * snapshot to tell which pending deltas the tier rows already hold:
 * PendingRollups.capture). The statements of the usual small apply are
 * prepared once per connection, at open (prepareApply), so the first apply of
 * a run does not plan them while writes wait behind it; a large one (STAGED_FROM)
 * plans its own, which its size dwarfs.
 */
import { BOOLEAN, DOUBLE, LIST, listValue, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import { COLUMNS, GEN_KEY, HOUR, MERGE_UPDATE, MINUTE, TIERS } from './duckdb-rollups';
import { inTransaction, preparedStatement } from './duckdb-prepared';

/** The aggregates of one (device, field, bucket) for the rows folded in so far. */
export interface Delta {
  device: string;
  field: string;
  bucket: number;
  n: number;
  nNum: number;
  sum: number;
  min: number;
  max: number;
  lastTs: number;
  /** 0 number, 1 boolean, 2 text: which last_* column holds the last value. */
  lastKind: number;
  last: number | boolean | string;
}

export function emptyDelta(device: string, field: string, bucket: number): Delta {
  return { device, field, bucket, n: 0, nNum: 0, sum: 0, min: 0, max: 0, lastTs: -Infinity, lastKind: 0, last: 0 };
}

/** Adds `from` to `into`, as MERGE_UPDATE adds a delta to a tier row. */
export function fold(into: Delta, from: Delta): void {
  into.n += from.n;
  if (from.nNum > 0) {
    if (into.nNum === 0) {
      into.sum = from.sum;
      into.min = from.min;
      into.max = from.max;
    } else {
      into.sum += from.sum;
      if (from.min < into.min) into.min = from.min;
      if (from.max > into.max) into.max = from.max;
    }
    into.nNum += from.nNum;
  }
  if (from.lastTs >= into.lastTs) {
    into.lastTs = from.lastTs;
    into.lastKind = from.lastKind;
    into.last = from.last;
  }
}

/**
 * One upsert per tier with the deltas bound as lists (unnested side by side):
 * no batch table to create and fill first. A table's CREATE OR REPLACE is a
 * catalog change, which waits for a running checkpoint and costs a statement
 * of its own; a handful of deltas a second need neither.
 */
const upsertSql = (table: string) => `INSERT INTO ${table} (${COLUMNS})
SELECT device, field, bucket::BIGINT, n::BIGINT, n_num::BIGINT, v_sum, v_min, v_max, last_ts::BIGINT, last_double, last_bool, last_text
FROM (SELECT unnest($device) AS device, unnest($field) AS field, unnest($bucket) AS bucket, unnest($n) AS n, unnest($n_num) AS n_num,
  unnest($v_sum) AS v_sum, unnest($v_min) AS v_min, unnest($v_max) AS v_max, unnest($last_ts) AS last_ts,
  unnest($last_double) AS last_double, unnest($last_bool) AS last_bool, unnest($last_text) AS last_text)
${MERGE_UPDATE}`;
const GEN_SQL = `UPDATE upperstack_meta SET value = $gen WHERE key = '${GEN_KEY}'`;
const TEXTS = LIST(VARCHAR);
const NUMBERS = LIST(DOUBLE);
const BOOLS = LIST(BOOLEAN);
const TYPES = {
  device: TEXTS,
  field: TEXTS,
  bucket: NUMBERS,
  n: NUMBERS,
  n_num: NUMBERS,
  v_sum: NUMBERS,
  v_min: NUMBERS,
  v_max: NUMBERS,
  last_ts: NUMBERS,
  last_double: NUMBERS,
  last_bool: BOOLS,
  last_text: TEXTS,
};

/** Prepares the apply's statements on `conn` (the tables and the meta row must exist). */
export async function prepareApply(conn: DuckDBConnection): Promise<void> {
  for (const tier of TIERS) await preparedStatement(conn, upsertSql(tier.table));
  await preparedStatement(conn, GEN_SQL);
}

async function upsert(conn: DuckDBConnection, table: string, deltas: Iterable<Delta>): Promise<void> {
  const p = await preparedStatement(conn, upsertSql(table));
  const c = { device: [] as string[], field: [] as string[], bucket: [] as number[], n: [] as number[], n_num: [] as number[] };
  const v = { v_sum: [] as Array<number | null>, v_min: [] as Array<number | null>, v_max: [] as Array<number | null>, last_ts: [] as number[] };
  const last = { last_double: [] as Array<number | null>, last_bool: [] as Array<boolean | null>, last_text: [] as Array<string | null> };
  for (const x of deltas) {
    c.device.push(x.device);
    c.field.push(x.field);
    c.bucket.push(x.bucket);
    c.n.push(x.n);
    c.n_num.push(x.nNum);
    const numeric = x.nNum > 0;
    v.v_sum.push(numeric ? x.sum : null);
    v.v_min.push(numeric ? x.min : null);
    v.v_max.push(numeric ? x.max : null);
    v.last_ts.push(x.lastTs);
    last.last_double.push(x.lastKind === 0 ? (x.last as number) : null);
    last.last_bool.push(x.lastKind === 1 ? (x.last as boolean) : null);
    last.last_text.push(x.lastKind === 2 ? (x.last as string) : null);
  }
  const values: Record<string, ReturnType<typeof listValue>> = {};
  for (const [k, list] of Object.entries({ ...c, ...v, ...last })) values[k] = listValue(list);
  p.bind(values, TYPES);
  await p.run();
}

/**
 * Minute deltas past which an apply goes through a staging table filled by an
 * appender instead of bound lists. A bound list costs DuckDB a value object per
 * element, and unnesting twelve of them side by side is slow: 200,000 buckets
 * from 200 writes of 100 new devices took 25 s of applies (and left ~290 MB)
 * that way. The table's CREATE OR REPLACE is a statement and a catalog change
 * of its own, which the few buckets of a usual apply do not pay for.
 */
export const STAGED_FROM = 256;
const DELTAS = 'upperstack_deltas';
const CREATE_DELTAS = `CREATE OR REPLACE TEMP TABLE ${DELTAS} (tier UTINYINT, device VARCHAR, field VARCHAR, bucket DOUBLE, n DOUBLE, n_num DOUBLE,
  v_sum DOUBLE, v_min DOUBLE, v_max DOUBLE, last_ts DOUBLE, last_double DOUBLE, last_bool BOOLEAN, last_text VARCHAR)`;
const stagedSql = (table: string, tier: number) => `INSERT INTO ${table} (${COLUMNS})
SELECT device, field, bucket::BIGINT, n::BIGINT, n_num::BIGINT, v_sum, v_min, v_max, last_ts::BIGINT, last_double, last_bool, last_text
FROM temp.main.${DELTAS} WHERE tier = ${tier}
${MERGE_UPDATE}`;

/** Appends each tier's deltas (tagged with the tier's index in TIERS) to a fresh staging table. */
async function stageDeltas(conn: DuckDBConnection, byTier: ReadonlyArray<Iterable<Delta>>): Promise<void> {
  // Text, not prepared, as the write's batch table (duckdb-write.ts stage()).
  await conn.run(CREATE_DELTAS);
  const ap = await conn.createAppender(DELTAS, 'main', 'temp');
  const double = (ok: boolean, v: number) => (ok ? ap.appendDouble(v) : ap.appendNull());
  try {
    byTier.forEach((deltas, tier) => {
      for (const x of deltas) {
        const numeric = x.nNum > 0;
        ap.appendUTinyInt(tier);
        ap.appendVarchar(x.device);
        ap.appendVarchar(x.field);
        ap.appendDouble(x.bucket);
        ap.appendDouble(x.n);
        ap.appendDouble(x.nNum);
        double(numeric, x.sum);
        double(numeric, x.min);
        double(numeric, x.max);
        ap.appendDouble(x.lastTs);
        double(x.lastKind === 0, x.last as number);
        if (x.lastKind === 1) ap.appendBoolean(x.last as boolean);
        else ap.appendNull();
        if (x.lastKind === 2) ap.appendVarchar(x.last as string);
        else ap.appendNull();
        ap.endRow();
      }
    });
    ap.closeSync();
  } catch (err) {
    ap.clear();
    throw err;
  }
}

/** Merges minute deltas into both tiers (the hour tier's folded from them) and records `gen`, in one transaction. */
export async function applyDeltas(conn: DuckDBConnection, minutes: Delta[], gen: number): Promise<void> {
  const hours = new Map<string, Delta>();
  for (const m of minutes) {
    const bucket = Math.floor(m.bucket / HOUR) * HOUR;
    const key = `${m.device}\u0000${m.field}\u0000${bucket}`;
    const h = hours.get(key);
    if (h === undefined) hours.set(key, { ...m, bucket });
    else fold(h, m);
  }
  const byTier = TIERS.map((tier) => (tier.width === MINUTE ? minutes : [...hours.values()]));
  const staged = minutes.length >= STAGED_FROM;
  if (staged) await stageDeltas(conn, byTier);
  await inTransaction(conn, async () => {
    for (let i = 0; i < TIERS.length; i++) {
      if (staged) await conn.run(stagedSql(TIERS[i].table, i));
      else await upsert(conn, TIERS[i].table, byTier[i]);
    }
    const p = await preparedStatement(conn, GEN_SQL);
    p.bind({ gen: String(gen) });
    await p.run();
  });
}
