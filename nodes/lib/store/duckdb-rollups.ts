/**
 * Roll-ups and retention of the embedded DuckDB store.
 *
 * Two tiers, `rollup_1m` and `rollup_1h`: per device, field and bucket the
 * count of values (any type), the count, sum, min and max of the numeric ones
 * and the last value (by time, any type). They are kept up to date with each
 * write (duckdb-write.ts), in DuckDB from the batch's staging table:
 *
 * - fresh readings (later than anything their device has stored: the usual
 *   case) add their own aggregates to the buckets they touch, merged with one
 *   upsert per tier. Nothing is rescanned.
 * - suspect readings (a replay after a crash, a dead letter replayed, a reading
 *   sent twice, late data) replace their rows, and the buckets they touch are
 *   recomputed from the raw rows in the same transaction, so a replayed
 *   reading is never counted twice. A bucket retention sealed (it lost raw
 *   rows) is not recomputed: only suspects whose raw row is new are added.
 *
 * Fresh readings' aggregates are applied after the write (duckdb-rollup-pending.ts);
 * an aggregate from a tier merges in what is still pending (duckdb-rollup-read.ts).
 * Retention and the seal horizon: duckdb-retention.ts.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { BadParameterError } from '../errors';
import type { AggregateQuery } from './types';

export const MINUTE = 60_000;
/** The meta key that says the tiers may be behind the raw rows (a crash would leave it set; duckdb-rollup-open.ts). */
export const BEHIND_KEY = 'rollups_behind';
/** The meta key holding the generation of the last apply committed to the tiers (a tier read reads it in the same snapshot). */
export const GEN_KEY = 'rollups_gen';
export const HOUR = 3_600_000;

export type Tier = 'raw' | '1m' | '1h';
export const TIERS: ReadonlyArray<{ tier: Exclude<Tier, 'raw'>; table: string; width: number }> = [
  { tier: '1h', table: 'rollup_1h', width: HOUR },
  { tier: '1m', table: 'rollup_1m', width: MINUTE },
];

const tableSql = (t: string) => `CREATE TABLE IF NOT EXISTS ${t} (
  device VARCHAR NOT NULL, field VARCHAR NOT NULL, bucket BIGINT NOT NULL,
  n BIGINT NOT NULL, n_num BIGINT NOT NULL, v_sum DOUBLE, v_min DOUBLE, v_max DOUBLE,
  last_ts BIGINT NOT NULL, last_double DOUBLE, last_bool BOOLEAN, last_text VARCHAR,
  sealed BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (device, field, bucket))`;

export const COLUMNS = 'device, field, bucket, n, n_num, v_sum, v_min, v_max, last_ts, last_double, last_bool, last_text';

export const ROLLUP_SCHEMA = TIERS.map((t) => tableSql(t.table)).join(';\n');

/** Adds a batch's aggregates (the row being inserted) to what a bucket holds; nulls (no numeric value yet) are kept apart from zeros. */
export const MERGE_UPDATE = `ON CONFLICT (device, field, bucket) DO UPDATE SET
  n = n + excluded.n,
  n_num = n_num + excluded.n_num,
  v_sum = CASE WHEN excluded.n_num = 0 THEN v_sum WHEN n_num = 0 THEN excluded.v_sum ELSE v_sum + excluded.v_sum END,
  v_min = CASE WHEN excluded.n_num = 0 THEN v_min WHEN n_num = 0 THEN excluded.v_min ELSE least(v_min, excluded.v_min) END,
  v_max = CASE WHEN excluded.n_num = 0 THEN v_max WHEN n_num = 0 THEN excluded.v_max ELSE greatest(v_max, excluded.v_max) END,
  last_double = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_double ELSE last_double END,
  last_bool = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_bool ELSE last_bool END,
  last_text = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_text ELSE last_text END,
  last_ts = greatest(last_ts, excluded.last_ts)`;

/**
 * The aggregates of a tier's buckets straight from the raw rows, for the rows of `keys` (device, field, bucket).
 * `where` may bound the raw rows' ts, which lets DuckDB skip row groups by their min/max.
 */
export const recomputeSql = (t: string, width: number, keys: string, where = '') => `INSERT OR REPLACE INTO ${t} (${COLUMNS})
SELECT r.device, r.field, k.bucket, count(*), count(r.value_double), sum(r.value_double), min(r.value_double), max(r.value_double),
  max(epoch_ms(r.ts)), arg_max_null(r.value_double, r.ts), arg_max_null(r.value_bool, r.ts), arg_max_null(r.value_text, r.ts)
FROM (${keys}) k
JOIN readings r ON r.device = k.device AND r.field = k.field
  AND r.ts >= make_timestamp(k.bucket * 1000) AND r.ts < make_timestamp((k.bucket + ${width}) * 1000)${where ? `\nWHERE ${where}` : ''}
GROUP BY r.device, r.field, k.bucket`;

export function bucketOf(ts: number, width: number): number {
  return Math.floor(ts / width) * width;
}

/** Builds both tiers from all raw rows (a store from before roll-ups, once). */
export async function rebuildAll(conn: DuckDBConnection): Promise<void> {
  for (const t of TIERS) {
    await conn.run(`DELETE FROM ${t.table}`);
    const keys = `SELECT DISTINCT device, field, (floor(epoch_ms(ts) / ${t.width}) * ${t.width})::BIGINT AS bucket FROM readings`;
    await conn.run(recomputeSql(t.table, t.width, keys));
  }
}

/**
 * The coarsest tier whose buckets answer the query exactly: `every` a multiple
 * of its width, `from` and `to` on its bucket boundaries. Otherwise the raw rows.
 */
export function tierFor(q: Pick<AggregateQuery, 'everyMs' | 'from' | 'to'>): (typeof TIERS)[number] | undefined {
  const on = (ms: number | undefined, w: number) => ms === undefined || (Number.isSafeInteger(ms) && ms % w === 0);
  return TIERS.find((t) => q.everyMs % t.width === 0 && on(q.from, t.width) && on(q.to, t.width));
}

/**
 * The tier that answers a query and the query it answers. Once retention has
 * deleted raw rows before `rawCutoff`, a query reaching before it that no tier
 * answers exactly is answered from the 1-minute tier with its range widened to
 * whole minutes (its `every` a whole number of minutes): the raw rows there are
 * gone. Otherwise as tierFor, and the raw rows.
 *
 * A `from` before the cutoff with an `every` no tier can build (not whole
 * minutes) is refused: the raw rows would answer it with the buckets before
 * the cutoff missing, which reads as "no data there". Without `from` the raw
 * rows answer it (what they still hold), as a query of "everything" always has.
 */
export function tierAt(q: AggregateQuery, rawCutoff: number | undefined): { tier: (typeof TIERS)[number] | undefined; q: AggregateQuery } {
  const exact = tierFor(q);
  if (!exact && rawCutoff !== undefined && q.from !== undefined && q.from < rawCutoff && q.everyMs % MINUTE !== 0) {
    const cutoff = new Date(rawCutoff).toISOString();
    throw new BadParameterError(
      'every',
      `"from" (${new Date(q.from).toISOString()}) is before ${cutoff}, and the store's retention has deleted the raw readings before then: only the 1-minute and 1-hour roll-ups are kept, so "every" must be a whole number of minutes (e.g. 1m, 5m) for this range, got ${q.everyMs} ms; or give a "from" at or after ${cutoff}`,
    );
  }
  if (exact || rawCutoff === undefined || q.everyMs % MINUTE !== 0) return { tier: exact, q };
  if (q.from !== undefined && q.from >= rawCutoff) return { tier: undefined, q };
  const minute = TIERS.find((t) => t.width === MINUTE)!;
  const from = q.from === undefined ? undefined : bucketOf(q.from, MINUTE);
  const to = q.to === undefined ? undefined : Math.ceil(q.to / MINUTE) * MINUTE;
  return { tier: minute, q: { ...q, from, to } };
}
