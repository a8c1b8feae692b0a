/**
 * How many buckets one aggregate may answer with, in every store. Only buckets
 * holding data count, so a narrow `every` over a long, busy range can ask for as
 * many buckets as there are readings: millions of points built in memory and
 * sent as one answer. The stores ask for one bucket more than this and refuse
 * the query when they get it, before building the answer.
 */
import { BadParameterError } from '../errors';
import type { AggregateQuery } from './types';

/** About 5 MB of JSON; a year of hourly buckets is 8,760, ten weeks of 1-minute buckets 100,800. */
export const MAX_AGGREGATE_POINTS = 100_000;

export function tooManyBuckets(q: AggregateQuery): BadParameterError {
  const bounded = q.from !== undefined && q.to !== undefined && q.to > q.from;
  const hint = bounded ? `; for this range "every" must be at least ${Math.ceil((q.to! - q.from!) / MAX_AGGREGATE_POINTS)} ms` : '';
  return new BadParameterError('every', `buckets of ${q.everyMs} ms give more than ${MAX_AGGREGATE_POINTS} points with data; ask for wider buckets or a shorter range${hint}`);
}

/** The points, unless there are more than an aggregate may answer with. */
export function withinBucketLimit<T>(points: T[], q: AggregateQuery): T[] {
  if (points.length > MAX_AGGREGATE_POINTS) throw tooManyBuckets(q);
  return points;
}
