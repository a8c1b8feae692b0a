/**
 * Backtest on stored history: replays one series (device × field) from a
 * time-series store through a fresh AnomalyEngine, oldest first, and tells
 * what the detector would have flagged. The store is read page by page, so a
 * long range never sits in memory at once; a range with more points than the
 * cap is refused rather than cut short, because a partial replay would give
 * counts that look complete.
 */
import { BadParameterError } from '../errors';
import type { TimeSeriesStore } from '../store/types';
import { AnomalyEngine, type AnomalyEngineOptions } from './engine';
import type { DetectorType } from './types';

/** Most points one backtest replays: about a second with the default ensemble on two cores. */
export const MAX_BACKTEST_POINTS = 100_000;
/** Flagged readings listed in a result by default, and at most. */
export const DEFAULT_LISTED = 100;
export const MAX_LISTED = 1000;
const PAGE_SIZE = 10_000;

export interface HistoryBacktestQuery {
  device: string;
  field: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Detector, threshold, warm-up and units, as the node or the CLI give them; heartbeats and series limits do not apply. */
  engine?: Pick<AnomalyEngineOptions, 'detector' | 'threshold' | 'warmup' | 'units'>;
  /** How many flagged readings to list (the count covers all of them). */
  listed?: number;
}

export interface FlaggedReading {
  ts: number;
  value: number;
  score: number;
  detector: DetectorType;
  expected: number;
  band: [number, number];
  reason: string;
}

export interface HistoryBacktestResult {
  device: string;
  field: string;
  from?: number;
  to?: number;
  threshold: number;
  /** Numeric values replayed through the detector. */
  scanned: number;
  /** Values of the field that are not numbers (booleans, text): never judged. */
  skipped: number;
  /** Replayed values that got no verdict because the detector was still warming up. */
  warmingUp: number;
  /** Timestamp of the first verdict; absent when the series never finished warming up. */
  firstVerdict?: number;
  /** Every flagged reading is counted here, listed or not. */
  flagged: number;
  /** The first `listed` flagged readings, oldest first. */
  anomalies: FlaggedReading[];
}

export interface HistoryLimits {
  maxPoints?: number;
  pageSize?: number;
}

/**
 * Builds the engine first, so a bad config is reported before the store is
 * touched. Throws DetectorConfigError for the config and BadParameterError for
 * the range (too many points) or `listed`.
 */
export async function backtestHistory(store: TimeSeriesStore, q: HistoryBacktestQuery, limits: HistoryLimits = {}): Promise<HistoryBacktestResult> {
  const maxPoints = limits.maxPoints ?? MAX_BACKTEST_POINTS;
  const listed = q.listed ?? DEFAULT_LISTED;
  if (!Number.isInteger(listed) || listed < 0 || listed > MAX_LISTED) {
    throw new BadParameterError('limit', `"limit" must be a whole number from 0 to ${MAX_LISTED}, got ${String(listed)}`);
  }
  const threshold = q.engine?.threshold ?? 0.5;
  const engine = new AnomalyEngine({
    ...q.engine,
    threshold,
    fields: [q.field],
    heartbeat: false,
    maxSeries: 1,
  });
  const result: HistoryBacktestResult = { device: q.device, field: q.field, threshold, scanned: 0, skipped: 0, warmingUp: 0, flagged: 0, anomalies: [] };
  if (q.from !== undefined) result.from = q.from;
  if (q.to !== undefined) result.to = q.to;

  let cursor: string | undefined;
  do {
    const page = await store.readings({ device: q.device, from: q.from, to: q.to, fields: [q.field], limit: limits.pageSize ?? PAGE_SIZE, cursor });
    for (const r of page.readings) {
      const value = r.fields[q.field];
      if (typeof value !== 'number') {
        if (value !== undefined) result.skipped++;
        continue;
      }
      if (++result.scanned > maxPoints) {
        throw new BadParameterError(
          q.from === undefined ? 'from' : 'to',
          `${q.device} ${q.field} has more than ${maxPoints} readings in this range; a backtest replays at most ${maxPoints}: narrow "from" and "to"`,
        );
      }
      const verdict = engine.process({ device: q.device, ts: r.ts, fields: { [q.field]: value }, tags: r.tags }).anomaly[q.field];
      if (!verdict) {
        result.warmingUp++;
        continue;
      }
      result.firstVerdict ??= r.ts;
      if (!verdict.isAnomaly) continue;
      result.flagged++;
      if (result.anomalies.length < listed) {
        const { score, detector, expected, band, reason } = verdict;
        result.anomalies.push({ ts: r.ts, value, score, detector, expected, band, reason });
      }
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return result;
}
