/**
 * Roll-ups and retention of the embedded DuckDB store.
 *
 * Two tiers, `rollup_1m` and `rollup_1h`: per device, field and bucket the
 * count of values (any type), the count, sum, min and max of the numeric ones
 * and the last value (by time, any type). They are kept up to date with each
 * write, in the same transaction:
 *
 * - a batch of new rows (the usual case, late readings included) adds its own
 *   aggregates to the buckets it touches: computed here in JS over the batch,
 *   merged with one upsert per tier. Nothing is rescanned.
 * - a batch that replaces rows (a replay after a crash, a dead letter replayed,
 *   a reading sent twice) recomputes the buckets it touches from the raw rows,
 *   so a replayed reading is never counted twice.
 *
 * Retention deletes raw rows older than its period and roll-up buckets that
 * ended before theirs, and *seals* the roll-up buckets whose raw rows it
 * removed: such a bucket can no longer tell a replayed reading from a new one,
 * so a reading for it is refused (dead-lettered with the reason), as InfluxDB
 * refuses points older than its retention policy. Older readings for buckets
 * that hold nothing yet (history imported for the first time) are taken: they
 * go into the roll-ups, and their raw rows go at the next retention pass.
 */
import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import type { Reading } from '../reading';
import type { AggregatePoint, AggregateQuery } from './types';

export const MINUTE = 60_000;
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

const COLUMNS = 'device, field, bucket, n, n_num, v_sum, v_min, v_max, last_ts, last_double, last_bool, last_text';

export const ROLLUP_SCHEMA = TIERS.map((t) => tableSql(t.table)).join(';\n');

const MERGE_COLUMNS = `"d":["VARCHAR"],"f":["VARCHAR"],"b":["BIGINT"],"n":["BIGINT"],"nn":["BIGINT"],"s":["DOUBLE"],"mi":["DOUBLE"],"ma":["DOUBLE"],"lt":["BIGINT"],"ld":["DOUBLE"],"lb":["BOOLEAN"],"ls":["VARCHAR"]`;

/** Adds a batch's aggregates to what a tier holds; nulls (no numeric value yet) are kept apart from zeros. */
const mergeSql = (t: string) => `INSERT INTO ${t} (${COLUMNS})
SELECT unnest(c.d), unnest(c.f), unnest(c.b), unnest(c.n), unnest(c.nn), unnest(c.s), unnest(c.mi), unnest(c.ma), unnest(c.lt), unnest(c.ld), unnest(c.lb), unnest(c.ls)
FROM (SELECT json_transform($rows, '{${MERGE_COLUMNS}}') AS c)
ON CONFLICT (device, field, bucket) DO UPDATE SET
  n = n + excluded.n,
  n_num = n_num + excluded.n_num,
  v_sum = CASE WHEN excluded.n_num = 0 THEN v_sum WHEN n_num = 0 THEN excluded.v_sum ELSE v_sum + excluded.v_sum END,
  v_min = CASE WHEN excluded.n_num = 0 THEN v_min WHEN n_num = 0 THEN excluded.v_min ELSE least(v_min, excluded.v_min) END,
  v_max = CASE WHEN excluded.n_num = 0 THEN v_max WHEN n_num = 0 THEN excluded.v_max ELSE greatest(v_max, excluded.v_max) END,
  last_double = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_double ELSE last_double END,
  last_bool = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_bool ELSE last_bool END,
  last_text = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_text ELSE last_text END,
  last_ts = greatest(last_ts, excluded.last_ts)`;

/** The aggregates of a tier's buckets straight from the raw rows, for the rows of `keys` (device, field, bucket). */
const recomputeSql = (t: string, width: number, keys: string) => `INSERT OR REPLACE INTO ${t} (${COLUMNS})
SELECT r.device, r.field, k.bucket, count(*), count(r.value_double), sum(r.value_double), min(r.value_double), max(r.value_double),
  max(epoch_ms(r.ts)), arg_max_null(r.value_double, r.ts), arg_max_null(r.value_bool, r.ts), arg_max_null(r.value_text, r.ts)
FROM (${keys}) k
JOIN readings r ON r.device = k.device AND r.field = k.field
  AND r.ts >= make_timestamp(k.bucket * 1000) AND r.ts < make_timestamp((k.bucket + ${width}) * 1000)
GROUP BY r.device, r.field, k.bucket`;

function bucketOf(ts: number, width: number): number {
  return Math.floor(ts / width) * width;
}

interface Agg {
  d: string;
  f: string;
  b: number;
  n: number;
  nn: number;
  s: number | null;
  mi: number | null;
  ma: number | null;
  lt: number;
  lv: number | boolean | string;
}

/**
 * A batch's aggregates for each tier (1h, 1m), as the JSON texts mergeSql takes: one pass over the values,
 * keyed by device, field and bucket through nested maps. Readings were checked by the insert already.
 */
export function batchAggregates(readings: readonly Reading[]): string[] {
  const tiers = TIERS.map(() => new Map<string, Map<string, Map<number, Agg>>>());
  const out = TIERS.map(() => [] as Agg[]);
  for (const r of readings) {
    const ts = Math.round(r.ts);
    for (const f in r.fields) {
      if (!Object.prototype.hasOwnProperty.call(r.fields, f)) continue;
      const v = r.fields[f];
      for (let t = 0; t < TIERS.length; t++) {
        const b = bucketOf(ts, TIERS[t].width);
        let byField = tiers[t].get(r.device);
        if (!byField) tiers[t].set(r.device, (byField = new Map()));
        let byBucket = byField.get(f);
        if (!byBucket) byField.set(f, (byBucket = new Map()));
        let a = byBucket.get(b);
        if (!a) {
          a = { d: r.device, f, b, n: 0, nn: 0, s: null, mi: null, ma: null, lt: ts, lv: v };
          byBucket.set(b, a);
          out[t].push(a);
        }
        a.n++;
        if (typeof v === 'number') {
          a.nn++;
          a.s = a.s === null ? v : a.s + v;
          a.mi = a.mi === null || v < a.mi ? v : a.mi;
          a.ma = a.ma === null || v > a.ma ? v : a.ma;
        }
        // Within a batch the later reading of the same time wins, as in the raw insert.
        if (ts >= a.lt) {
          a.lt = ts;
          a.lv = v;
        }
      }
    }
  }
  return out.map(columnsJson);
}

function columnsJson(aggs: Agg[]): string {
  const c = { d: [] as string[], f: [] as string[], b: [] as number[], n: [] as number[], nn: [] as number[], s: [] as Array<number | null>, mi: [] as Array<number | null>, ma: [] as Array<number | null>, lt: [] as number[], ld: [] as Array<number | null>, lb: [] as Array<boolean | null>, ls: [] as Array<string | null> };
  for (const a of aggs) {
    c.d.push(a.d);
    c.f.push(a.f);
    c.b.push(a.b);
    c.n.push(a.n);
    c.nn.push(a.nn);
    c.s.push(a.s);
    c.mi.push(a.mi);
    c.ma.push(a.ma);
    c.lt.push(a.lt);
    c.ld.push(typeof a.lv === 'number' ? a.lv : null);
    c.lb.push(typeof a.lv === 'boolean' ? a.lv : null);
    c.ls.push(typeof a.lv === 'string' ? a.lv : null);
  }
  return JSON.stringify(c);
}

/**
 * Adds a batch of new rows to both tiers. Not in one transaction with the raw
 * insert (that costs a commit per batch): if the process dies between them, or
 * a merge fails, the batch is not reported written, so it comes again (journal
 * replay, spool, the writer's retry) as rows that exist, and that path
 * recomputes its buckets from the raw rows.
 */
export async function mergeBatch(conn: DuckDBConnection, readings: readonly Reading[]): Promise<void> {
  const json = batchAggregates(readings);
  // Prepared once per connection: planning is a good part of the cost of these small statements.
  let prepared = mergeStatements.get(conn);
  if (!prepared) {
    prepared = await Promise.all(TIERS.map((t) => conn.prepare(mergeSql(t.table))));
    mergeStatements.set(conn, prepared);
  }
  for (let t = 0; t < TIERS.length; t++) {
    prepared[t].bind({ rows: json[t] });
    await prepared[t].run();
  }
}

const mergeStatements = new WeakMap<DuckDBConnection, DuckDBPreparedStatement[]>();

/** Recomputes from the raw rows every bucket the rows of `table` (device, ts, field) fall in. */
export async function recomputeFrom(conn: DuckDBConnection, table: string): Promise<void> {
  for (const t of TIERS) {
    const keys = `SELECT DISTINCT device, field, (floor(epoch_ms(ts) / ${t.width}) * ${t.width})::BIGINT AS bucket FROM ${table}`;
    await conn.run(recomputeSql(t.table, t.width, keys));
  }
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

const TIER_SQL: Record<string, string> = {
  mean: 'sum(v_sum) / sum(n_num)',
  min: 'min(v_min)',
  max: 'max(v_max)',
  sum: 'sum(v_sum)',
};

/** The aggregate from a tier; same buckets and values as over the raw rows (sums up to rounding). */
export async function aggregateTier(conn: DuckDBConnection, table: string, q: AggregateQuery, params: Record<string, unknown>): Promise<AggregatePoint[]> {
  const where = ['device = $device', 'field = $field'];
  if (q.from !== undefined) where.push('bucket >= $fromMs');
  if (q.to !== undefined) where.push('bucket < $toMs');
  const b = `floor(bucket / $every) * $every`;
  let sql: string;
  if (q.fn === 'last') {
    sql = `SELECT ${b} AS b, arg_max_null(last_double, last_ts), arg_max_null(last_bool, last_ts), arg_max_null(last_text, last_ts) FROM ${table} WHERE ${where.join(' AND ')} GROUP BY b ORDER BY b`;
  } else if (q.fn === 'count') {
    sql = `SELECT ${b} AS b, sum(n)::DOUBLE FROM ${table} WHERE ${where.join(' AND ')} GROUP BY b ORDER BY b`;
  } else {
    sql = `SELECT ${b} AS b, ${TIER_SQL[q.fn]} FROM ${table} WHERE ${where.join(' AND ')} AND n_num > 0 GROUP BY b ORDER BY b`;
  }
  const p: Record<string, unknown> = { device: params.device, field: params.field, every: q.everyMs };
  if (q.from !== undefined) p.fromMs = Math.round(q.from);
  if (q.to !== undefined) p.toMs = Math.round(q.to);
  const rows = (await conn.runAndReadAll(sql, p as never)).getRows();
  return rows.map((r) => {
    if (r.length === 2) return { ts: Number(r[0]), value: r[1] as number };
    const value = r[1] ?? r[2] ?? r[3] ?? null;
    return { ts: Number(r[0]), value: value as AggregatePoint['value'] };
  });
}

/**
 * Deletes raw rows older than `now - rawMs` and roll-up buckets that ended
 * before `now - rollupMs` (0: kept forever). Returns the raw cutoff applied.
 */
export async function applyRetention(conn: DuckDBConnection, now: number, rawMs: number, rollupMs: number, rollups: boolean): Promise<number | undefined> {
  let cutoff: number | undefined;
  if (rawMs > 0) {
    cutoff = now - rawMs;
    await conn.run('DELETE FROM readings WHERE ts < make_timestamp($cut * 1000)', { cut: cutoff });
    // Buckets that may have lost raw rows: a reading for them can no longer be told from a replay.
    if (rollups) for (const t of TIERS) await conn.run(`UPDATE ${t.table} SET sealed = true WHERE bucket < $cut AND NOT sealed`, { cut: cutoff });
  }
  if (rollupMs > 0) {
    for (const t of TIERS) await conn.run(`DELETE FROM ${t.table} WHERE bucket + ${t.width} <= $cut`, { cut: now - rollupMs });
  }
  return cutoff;
}

/**
 * The readings (indexes) that fall in a sealed hour: retention removed raw rows
 * there, so they cannot be rolled up without maybe counting them twice. Only
 * readings before `horizon` (the latest raw cutoff, rounded up to the hour) are looked up.
 */
export async function sealedReadings(conn: DuckDBConnection, readings: readonly Reading[], horizon: number): Promise<number[]> {
  const keys = new Map<string, number[]>();
  readings.forEach((r, i) => {
    if (!(typeof r?.ts === 'number' && r.ts < horizon) || typeof r.fields !== 'object' || r.fields === null) return;
    const b = bucketOf(Math.round(r.ts), HOUR);
    for (const f in r.fields) {
      if (!Object.prototype.hasOwnProperty.call(r.fields, f)) continue;
      const k = JSON.stringify([r.device, f, b]);
      const list = keys.get(k);
      if (list) list.push(i);
      else keys.set(k, [i]);
    }
  });
  if (keys.size === 0) return [];
  const c = { d: [] as string[], f: [] as string[], b: [] as number[] };
  for (const k of keys.keys()) {
    const [d, f, b] = JSON.parse(k) as [string, string, number];
    c.d.push(d);
    c.f.push(f);
    c.b.push(b);
  }
  const rows = (
    await conn.runAndReadAll(
      `SELECT r.device, r.field, r.bucket FROM rollup_1h r JOIN (SELECT unnest(c.d) AS device, unnest(c.f) AS field, unnest(c.b) AS bucket
        FROM (SELECT json_transform($keys, '{"d":["VARCHAR"],"f":["VARCHAR"],"b":["BIGINT"]}') AS c)) k USING (device, field, bucket) WHERE r.sealed`,
      { keys: JSON.stringify(c) },
    )
  ).getRows();
  const out = new Set<number>();
  for (const [d, f, b] of rows) for (const i of keys.get(JSON.stringify([d, f, Number(b)])) ?? []) out.add(i);
  return [...out].sort((a, b) => a - b);
}

/** Readings before this may fall in a sealed hour: the latest raw cutoff, rounded up to the hour. */
export function sealHorizon(rawCutoff: number | undefined): number | undefined {
  return rawCutoff === undefined ? undefined : Math.ceil(rawCutoff / HOUR) * HOUR;
}
