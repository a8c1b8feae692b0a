/**
 * The DuckDB store's queries over the raw rows: a page of readings, an
 * aggregate by time bucket, the devices. Each plan checks its parameters when
 * it is made (a bad one throws BadParameterError before anything is queued)
 * and returns what runs on the store's connection.
 */
import { MAX_AGGREGATE_POINTS, withinBucketLimit } from './aggregate-limit';
import { DuckDBTimestampValue, listValue, type DuckDBConnection, type DuckDBResultReader, type DuckDBValue } from '@duckdb/node-api';
import { BadParameterError } from '../errors';
import { ALERT_FIELD_PREFIX, type AggregatePoint, type AggregateQuery, type DeviceQuery, type DeviceSummary, type LatestAnswer, type LatestQuery, type ReadingsPage, type ReadingsQuery } from './types';
import { MAX_TS } from './duckdb-encode';
import { preparedStatement } from './duckdb-prepared';
import { decodeCursor, encodeCursor } from './cursor';
import type { Reading } from '../reading';

type Params = Record<string, DuckDBValue>;
type Plan<T> = (conn: DuckDBConnection) => Promise<T>;

const NUMERIC_SQL: Record<string, string> = { mean: 'avg(value_double)', min: 'min(value_double)', max: 'max(value_double)', sum: 'sum(value_double)' };
const FNS = ['mean', 'min', 'max', 'sum', 'count', 'last'];

/** Runs a query through the connection's prepared statement for its text (the latency row's poll is one). */
async function query(conn: DuckDBConnection, sql: string, params: Params): Promise<DuckDBResultReader> {
  const p = await preparedStatement(conn, sql);
  p.bind(params);
  return p.runAndReadAll();
}

function tsValue(ms: number): DuckDBTimestampValue {
  return new DuckDBTimestampValue(BigInt(ms) * 1000n);
}

/** Adds the from/to bounds of a query; they come from callers, so a bad one is a bad parameter. */
function timeFilters(q: { from?: number; to?: number }, where: string[], params: Params): void {
  for (const [name, op] of [['from', '>='], ['to', '<']] as const) {
    const ms = q[name];
    if (ms === undefined) continue;
    if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TS) {
      throw new BadParameterError(name, `"${name}" must be epoch milliseconds within the range of a date, got ${ms}`);
    }
    where.push(`ts ${op} $${name}`);
    params[name] = tsValue(Math.round(ms));
  }
}

function rowValue(d: unknown, b: unknown, t: unknown): number | boolean | string | null {
  if (d !== null && d !== undefined) return d as number;
  if (b !== null && b !== undefined) return b as boolean;
  if (t !== null && t !== undefined) return t as string;
  return null;
}

function checkEvery(q: AggregateQuery): void {
  if (!Number.isSafeInteger(q.everyMs) || q.everyMs < 1) {
    throw new BadParameterError('every', `"every" must be a bucket width of at least 1 ms, got ${q.everyMs}`);
  }
}

function badFn(q: AggregateQuery): BadParameterError {
  return new BadParameterError('fn', `"fn" must be one of mean, min, max, sum, count, last, got "${String(q.fn)}"`);
}

/** Checks an aggregate's parameters (bucket width, function, time bounds) without planning it. */
export function checkAggregate(q: AggregateQuery): void {
  checkEvery(q);
  if (!FNS.includes(q.fn)) throw badFn(q);
  timeFilters(q, [], {});
}

/** A page of readings, or the empty page when no field is asked for. */
export function planReadings(q: ReadingsQuery): ReadingsPage | Plan<ReadingsPage> {
  if (!Number.isSafeInteger(q.limit) || q.limit < 1) {
    throw new BadParameterError('limit', `"limit" must be a whole number of at least 1, got ${q.limit}`);
  }
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
  if (q.fields?.length === 0) return { readings: [] };
  const where = ['device = $device'];
  const params: Params = { device: q.device };
  timeFilters(q, where, params);
  if (after !== undefined) {
    where.push('ts > $after');
    params.after = tsValue(after);
  }
  if (q.fields !== undefined) {
    where.push('list_contains($fields, field)');
    params.fields = listValue(q.fields);
  } else {
    // Alert transitions are about the device, not measured by it (the alerts API serves them): only named fields bring them.
    where.push('NOT starts_with(field, $alertPrefix)');
    params.alertPrefix = ALERT_FIELD_PREFIX;
  }
  const cond = where.join(' AND ');
  const select = 'SELECT epoch_ms(ts)::DOUBLE, field, value_double, value_bool, value_text, tags::VARCHAR FROM readings';
  let sql: string;
  if (q.fields !== undefined) {
    // A key (device, ts, field) is stored once, so a timestamp has at most one row per field asked for: the
    // first (limit + 1) × fields rows hold the page's timestamps whole and show whether one more exists.
    // One scan (and no page of timestamps to join back): the latency row's poll is this query.
    params.rows = (q.limit + 1) * q.fields.length;
    sql = `${select} WHERE ${cond} ORDER BY ts, field LIMIT $rows`;
  } else {
    // Any number of fields per timestamp: one more timestamp than asked tells whether a next page exists.
    params.lim = q.limit + 1;
    sql = `WITH page AS (SELECT DISTINCT ts FROM readings WHERE ${cond} ORDER BY ts LIMIT $lim)
      ${select} WHERE ${cond} AND ts IN (SELECT ts FROM page) ORDER BY ts, field`;
  }
  return async (conn) => {
    const reader = await query(conn, sql, params);
    if (reader.currentRowCount === 0) return { readings: [] };
    const [tss, fields, ds, bs, txts, tagss] = reader.getColumns();
    const out: ReadingsPage['readings'] = [];
    let tagText: unknown;
    for (let i = 0; i < tss.length; i++) {
      const ts = tss[i] as number;
      let cur = out[out.length - 1];
      if (cur === undefined || cur.ts !== ts) {
        if (out.length === q.limit) return { readings: out, nextCursor: encodeCursor(cur.ts) };
        cur = { ts, fields: {}, tags: {} };
        out.push(cur);
        tagText = undefined;
      }
      const value = rowValue(ds[i], bs[i], txts[i]);
      if (value !== null) cur.fields[fields[i] as string] = value;
      // Fields of one timestamp may come from readings with different tags.
      if (tagss[i] !== tagText && typeof tagss[i] === 'string') {
        tagText = tagss[i];
        Object.assign(cur.tags, JSON.parse(tagText as string));
      }
    }
    return { readings: out };
  };
}

/** The aggregate over the raw rows (what the roll-ups must equal). */
export function planAggregateRaw(q: AggregateQuery): Plan<AggregatePoint[]> {
  checkEvery(q);
  const where = ['device = $device', 'field = $field'];
  const params: Params = { device: q.device, field: q.field, every: q.everyMs };
  timeFilters(q, where, params);
  const bucket = 'floor(epoch_ms(ts) / $every) * $every';
  let sql: string;
  if (q.fn === 'last') {
    sql = `SELECT ${bucket} AS b, value_double, value_bool, value_text FROM readings WHERE ${where.join(' AND ')}
      QUALIFY row_number() OVER (PARTITION BY b ORDER BY ts DESC) = 1 ORDER BY b LIMIT ${MAX_AGGREGATE_POINTS + 1}`;
  } else if (q.fn === 'count') {
    // Counts every value of the field, whatever its type.
    sql = `SELECT ${bucket} AS b, count(*)::DOUBLE FROM readings WHERE ${where.join(' AND ')} GROUP BY b ORDER BY b LIMIT ${MAX_AGGREGATE_POINTS + 1}`;
  } else if (NUMERIC_SQL[q.fn]) {
    sql = `SELECT ${bucket} AS b, ${NUMERIC_SQL[q.fn]} FROM readings WHERE ${where.join(' AND ')} AND value_double IS NOT NULL GROUP BY b ORDER BY b LIMIT ${MAX_AGGREGATE_POINTS + 1}`;
  } else {
    throw badFn(q);
  }
  return async (conn) => {
    const rows = withinBucketLimit((await conn.runAndReadAll(sql, params)).getRows(), q);
    return rows.map((r) => ({ ts: r[0] as number, value: r.length === 2 ? (r[1] as number) : rowValue(r[1], r[2], r[3]) }));
  };
}

/** Every device with its latest tags and the fields it has sent, within the time bounds. */
export function planDevices(q: DeviceQuery): Plan<DeviceSummary[]> {
  const where: string[] = [];
  const params: Params = {};
  timeFilters(q, where, params);
  return async (conn) => {
    // An alert transition's tags are the alert's (severity, message...): a device selected by its tags keeps them.
    const sql = `SELECT device, (arg_max(tags, ts) FILTER (WHERE NOT starts_with(field, '${ALERT_FIELD_PREFIX}')))::VARCHAR,
      list(DISTINCT field ORDER BY field) FILTER (WHERE NOT starts_with(field, '${ALERT_FIELD_PREFIX}')),
      list(DISTINCT field ORDER BY field) FILTER (WHERE starts_with(field, '${ALERT_FIELD_PREFIX}')) FROM readings
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY device ORDER BY device`;
    const rows = (await conn.runAndReadAll(sql, params)).getRows();
    const names = (list: unknown): string[] => ((list as { items?: unknown[] } | null)?.items ?? []).map(String);
    return rows.map(([device, tags, fields, alerts]) => {
      const d: DeviceSummary = { device: device as string, tags: typeof tags === 'string' ? (JSON.parse(tags) as Record<string, string>) : {}, fields: names(fields) };
      if (alerts !== null) d.alerts = names(alerts);
      return d;
    });
  };
}

/**
 * The devices heard from most recently with the newest value of each of their fields, and the newest points of the
 * charted fields since a time. Alert transitions are rows about a device, not values of it: left out.
 */
export function planLatest(q: LatestQuery): Plan<LatestAnswer> {
  if (!Number.isSafeInteger(q.devices) || q.devices < 1 || !Number.isSafeInteger(q.points) || q.points < 0) {
    throw new BadParameterError('limit', `devices and points must be whole numbers, got ${q.devices} and ${q.points}`);
  }
  const params: Params = { devices: q.devices, prefix: ALERT_FIELD_PREFIX };
  const latestSql = `WITH recent AS (
      SELECT device, max(ts) AS last FROM readings WHERE NOT starts_with(field, $prefix) GROUP BY device ORDER BY last DESC, device LIMIT $devices)
    SELECT r.device, epoch_ms(r.ts)::DOUBLE, r.field, r.value_double, r.value_bool, r.value_text, recent.last AS last FROM readings r JOIN recent USING (device)
    WHERE NOT starts_with(r.field, $prefix)
    QUALIFY row_number() OVER (PARTITION BY r.device, r.field ORDER BY r.ts DESC) = 1
    ORDER BY last, r.device, r.ts`;
  const pointsParams: Params = { fields: listValue([...q.chartFields]), points: q.points };
  const pointsWhere = ['list_contains($fields, field)'];
  timeFilters({ from: q.since }, pointsWhere, pointsParams);
  const pointsSql = `SELECT device, epoch_ms(ts)::DOUBLE, field, value_double, value_bool, value_text FROM readings WHERE ${pointsWhere.join(' AND ')}
    QUALIFY row_number() OVER (PARTITION BY field ORDER BY ts DESC) <= $points ORDER BY ts`;
  const rows = (reader: DuckDBResultReader): Reading[] =>
    reader.getRows().flatMap(([device, ts, field, d, b, t]) => {
      const value = rowValue(d, b, t);
      return value === null ? [] : [{ device: device as string, ts: ts as number, fields: { [field as string]: value }, tags: {} }];
    });
  return async (conn) => {
    const latest = rows(await conn.runAndReadAll(latestSql, params));
    const points = q.chartFields.length && q.points ? rows(await conn.runAndReadAll(pointsSql, pointsParams)) : [];
    return { latest, points };
  };
}
