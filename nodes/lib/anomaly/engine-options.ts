/** The anomaly engine's options checked and resolved, and the key that says whether saved series fit a detector config. */
import { DetectorConfigError } from '../errors';
import { DEFAULT_DETECTOR } from './config';
import { parseDuration } from './format';
import type { AnomalyEngineOptions } from './engine-types';

/** Series one device may have unless configured otherwise: as many fields as a dashboard row keeps. */
export const DEFAULT_MAX_SERIES_PER_DEVICE = 100;

export function resolveOptions(o: AnomalyEngineOptions) {
  const threshold = o.threshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) {
    throw new DetectorConfigError(`threshold must be a number above 0 and at most 1, got ${JSON.stringify(threshold)}`, { parameter: 'threshold' });
  }
  const maxSeries = o.maxSeries ?? 10_000;
  if (!Number.isInteger(maxSeries) || maxSeries < 1) {
    throw new DetectorConfigError(`maxSeries must be a whole number of at least 1, got ${JSON.stringify(maxSeries)}`, { parameter: 'maxSeries' });
  }
  const maxSeriesPerDevice = o.maxSeriesPerDevice ?? DEFAULT_MAX_SERIES_PER_DEVICE;
  if (!Number.isInteger(maxSeriesPerDevice) || maxSeriesPerDevice < 1) {
    throw new DetectorConfigError(`maxSeriesPerDevice must be a whole number of at least 1, got ${JSON.stringify(maxSeriesPerDevice)}`, { parameter: 'maxSeriesPerDevice' });
  }
  if (o.fields !== undefined && (!Array.isArray(o.fields) || o.fields.some((f) => typeof f !== 'string'))) {
    throw new DetectorConfigError('fields must be a list of field names', { parameter: 'fields' });
  }
  if (o.warmup !== undefined && (!Number.isInteger(o.warmup) || o.warmup < 0)) {
    throw new DetectorConfigError(`warmup must be a whole number of readings, got ${JSON.stringify(o.warmup)}`, { parameter: 'warmup' });
  }
  let heartbeat: { intervalMs?: number; missed: number } | null = null;
  if (o.heartbeat !== false) {
    const hb = o.heartbeat ?? {};
    const missed = hb.missed ?? 3;
    if (typeof missed !== 'number' || !(missed > 0)) {
      throw new DetectorConfigError(`heartbeat.missed must be a positive number of intervals, got ${JSON.stringify(missed)}`, { parameter: 'heartbeat.missed' });
    }
    heartbeat = { intervalMs: hb.interval === undefined ? undefined : parseDuration(hb.interval, 'heartbeat.interval'), missed };
  }
  return { threshold, maxSeries, maxSeriesPerDevice, watch: o.fields ? new Set(o.fields) : null, heartbeat };
}

export function detectorKey(o: AnomalyEngineOptions): string {
  return JSON.stringify([o.detector ?? DEFAULT_DETECTOR, o.warmup ?? null]);
}
