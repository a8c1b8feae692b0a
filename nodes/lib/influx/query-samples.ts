/**
 * The pure parts of the InfluxDB/VictoriaMetrics reader (query.ts): quoting for
 * InfluxQL and PromQL, samples folded into `[start, start + every)` buckets,
 * rows cut into pages.
 */
import { BadParameterError } from '../errors';
import type { FieldValue } from '../reading';
import type { AggregatePoint, AggregateQuery, ReadingsPage } from '../store/types';
import { encodeCursor } from '../store/cursor';

export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new BadParameterError('limit', `"limit" must be a whole number of at least 1, got ${limit}`);
}

/** InfluxQL string literal. */
export function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** InfluxQL identifier. */
export function ident(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** PromQL/MetricsQL string inside a label matcher. */
export function promString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export type Row = { ts: number; fields: Record<string, FieldValue>; tags: Record<string, string> };

function bucketOf(ts: number, every: number): number {
  return Math.floor(ts / every) * every;
}

/** Folds samples of one field into `[start, start + every)` buckets. */
export function aggregateSamples(samples: Array<[number, FieldValue]>, q: AggregateQuery): AggregatePoint[] {
  samples.sort((a, b) => a[0] - b[0]);
  const out: AggregatePoint[] = [];
  let bucket = NaN;
  let n = 0;
  let acc = 0;
  let last: FieldValue | null = null;
  const flush = () => {
    if (Number.isNaN(bucket)) return;
    if (q.fn === 'last') out.push({ ts: bucket, value: last });
    else if (q.fn === 'count') out.push({ ts: bucket, value: n });
    else if (n > 0) out.push({ ts: bucket, value: q.fn === 'mean' ? acc / n : acc });
  };
  for (const [ts, v] of samples) {
    const b = bucketOf(ts, q.everyMs);
    if (b !== bucket) {
      flush();
      bucket = b;
      n = 0;
      acc = q.fn === 'min' ? Infinity : q.fn === 'max' ? -Infinity : 0;
      last = null;
    }
    last = v;
    if (q.fn === 'count') {
      n++;
      continue;
    }
    if (typeof v !== 'number') continue;
    n++;
    if (q.fn === 'min') acc = Math.min(acc, v);
    else if (q.fn === 'max') acc = Math.max(acc, v);
    else acc += v;
  }
  flush();
  return out;
}

/** Readings rows (already one per timestamp) → one page of `limit` timestamps. */
export function page(rows: Row[], limit: number): ReadingsPage {
  rows.sort((a, b) => a.ts - b.ts);
  if (rows.length > limit) return { readings: rows.slice(0, limit), nextCursor: encodeCursor(rows[limit - 1].ts) };
  return { readings: rows };
}
