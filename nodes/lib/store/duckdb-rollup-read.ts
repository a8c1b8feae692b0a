/**
 * An aggregate from a roll-up tier without waiting for the pending roll-ups to
 * be applied: the tier's rows are read on the reading connection (duckdb-reader.ts),
 * beside the generation of the last apply in the same snapshot, and the
 * deltas of fresh readings not yet applied (duckdb-rollup-pending.ts) are
 * merged in here, the way an apply merges them (MERGE_UPDATE): counts and sums
 * add, min and max compare, the last value is the one with the latest ts (a
 * pending one on a tie). Holding the write queue for an apply before each
 * aggregate made every poll of a dashboard pause the writes behind it.
 */
import { MAX_AGGREGATE_POINTS, withinBucketLimit } from './aggregate-limit';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { AggregatePoint, AggregateQuery } from './types';
import { GEN_KEY } from './duckdb-rollups';
import type { PendingDelta, PendingView } from './duckdb-rollup-pending';
import { preparedStatement } from './duckdb-prepared';

/** Per output bucket, what the tier rows hold for the query's function. */
const COLUMNS: Record<AggregateQuery['fn'], string> = {
  count: 'sum(n)::DOUBLE',
  sum: 'sum(v_sum)',
  // Kept apart so pending sums and counts can join them.
  mean: 'sum(v_sum), sum(n_num)::DOUBLE',
  min: 'min(v_min)',
  max: 'max(v_max)',
  last: 'max(last_ts)::DOUBLE, arg_max_null(last_double, last_ts), arg_max_null(last_bool, last_ts), arg_max_null(last_text, last_ts)',
};

/**
 * One statement, so one snapshot: the generation row joined to the tier's grouped rows
 * (a generation with no rows when the tier has none in range).
 */
function tierSql(table: string, q: AggregateQuery): string {
  const where = ['device = $device', 'field = $field'];
  if (q.from !== undefined) where.push('bucket >= $fromMs');
  if (q.to !== undefined) where.push('bucket < $toMs');
  // Numeric functions skip buckets that hold no number, as the raw aggregate skips non-numeric rows.
  if (q.fn !== 'count' && q.fn !== 'last') where.push('n_num > 0');
  return `SELECT g.gen, t.* FROM (SELECT CAST(value AS BIGINT)::DOUBLE AS gen FROM upperstack_meta WHERE key = '${GEN_KEY}') g
LEFT JOIN (SELECT floor(bucket / $every) * $every AS b, ${COLUMNS[q.fn]} FROM ${table} WHERE ${where.join(' AND ')} GROUP BY b) t ON true
ORDER BY t.b LIMIT ${MAX_AGGREGATE_POINTS + 1}`;
}

/** One output bucket while merging: the tier's part and the pending part. */
interface Acc {
  ts: number;
  n: number;
  nNum: number;
  sum: number;
  min: number;
  max: number;
  lastTs: number;
  last: AggregatePoint['value'];
}

function emptyAcc(ts: number): Acc {
  return { ts, n: 0, nNum: 0, sum: 0, min: Infinity, max: -Infinity, lastTs: -Infinity, last: null };
}

function lastValue(d: PendingDelta): AggregatePoint['value'] {
  return d.lastKind === 0 ? (d.last as number) : d.last;
}

/** Adds a pending delta to its output bucket, as MERGE_UPDATE adds it to a tier row. */
function addDelta(a: Acc, d: PendingDelta): void {
  a.n += d.n;
  if (d.nNum > 0) {
    a.sum += d.sum;
    a.nNum += d.nNum;
    if (d.min < a.min) a.min = d.min;
    if (d.max > a.max) a.max = d.max;
  }
  if (d.lastTs >= a.lastTs) {
    a.lastTs = d.lastTs;
    a.last = lastValue(d);
  }
}

function pointOf(fn: AggregateQuery['fn'], a: Acc): AggregatePoint | undefined {
  switch (fn) {
    case 'count':
      return { ts: a.ts, value: a.n };
    case 'last':
      return { ts: a.ts, value: a.last };
    default:
      if (a.nNum === 0) return undefined;
      if (fn === 'sum') return { ts: a.ts, value: a.sum };
      if (fn === 'mean') return { ts: a.ts, value: a.sum / a.nNum };
      return { ts: a.ts, value: fn === 'min' ? a.min : a.max };
  }
}

/** The tier's answer as accumulators, from rows [gen, b, ...columns of COLUMNS[fn]]. */
function tierAcc(fn: AggregateQuery['fn'], r: DuckDBValue[]): Acc {
  const a = emptyAcc(Number(r[1]));
  const v = r[2] as number;
  if (fn === 'count') a.n = v;
  else if (fn === 'last') {
    a.lastTs = v;
    a.last = (r[3] ?? r[4] ?? r[5] ?? null) as AggregatePoint['value'];
  } else {
    // A tier row of a numeric function has at least one number (n_num > 0); the count only matters to mean.
    a.nNum = fn === 'mean' ? (r[3] as number) : 1;
    a.sum = v;
    a.min = v;
    a.max = v;
  }
  return a;
}

/** A tier's rows for a query and the generation of the last apply they include (one snapshot). */
export interface TierSnapshot {
  applied: number;
  rows: DuckDBValue[][];
}

/** Reads the tier's rows for `q` (a query the tier answers exactly) with the generation they are at. */
export async function readTier(conn: DuckDBConnection, table: string, q: AggregateQuery): Promise<TierSnapshot> {
  const params: Record<string, DuckDBValue> = { device: q.device, field: q.field, every: q.everyMs };
  if (q.from !== undefined) params.fromMs = Math.round(q.from);
  if (q.to !== undefined) params.toMs = Math.round(q.to);
  const p = await preparedStatement(conn, tierSql(table, q));
  p.bind(params);
  const rows = withinBucketLimit((await p.runAndReadAll()).getRows(), q);
  // The meta row is written at open; without it nothing is known to be applied.
  return { applied: rows.length > 0 ? Number(rows[0][0]) : -Infinity, rows };
}

/** The answer: the snapshot's tier rows with the pending deltas (captured before the snapshot) they lack. */
export function mergePending(snap: TierSnapshot, q: AggregateQuery, pending: PendingView): AggregatePoint[] {
  const byTs = new Map<number, Acc>();
  for (const r of snap.rows) if (r[1] !== null) byTs.set(Number(r[1]), tierAcc(q.fn, r));
  const deltas = pending.since(snap.applied);
  if (deltas.length === 0) return [...byTs.values()].flatMap((a) => pointOf(q.fn, a) ?? []);
  for (const d of deltas) {
    const ts = Math.floor(d.bucket / q.everyMs) * q.everyMs;
    let a = byTs.get(ts);
    if (a === undefined) byTs.set(ts, (a = emptyAcc(ts)));
    addDelta(a, d);
  }
  return [...byTs.values()].sort((x, y) => x.ts - y.ts).flatMap((a) => pointOf(q.fn, a) ?? []);
}

/**
 * The aggregate from `table` for a query the tier answers exactly, with the deltas of `pending`
 * (captured before this runs) that the snapshot's tier rows lack.
 */
export function planAggregateTier(table: string, q: AggregateQuery, pending: PendingView) {
  return async (conn: DuckDBConnection): Promise<AggregatePoint[]> => withinBucketLimit(mergePending(await readTier(conn, table, q), q, pending), q);
}
