/**
 * Where a report gets what is not a reading: the devices (and their tags) and
 * the events of the period (alerts raised, anomalies flagged). Each is an
 * interface with a default, so the device registry and the alert history can
 * take over without the report code changing: registerEventSource('alerts', ...)
 * makes "alerts raised" available in every report from then on.
 */
import type { DeviceSummary, TimeSeriesStore } from '../store/types';
import { backtestHistory, MAX_BACKTEST_POINTS } from '../anomaly/history';
import { BadParameterError } from '../errors';

export interface DeviceDirectory {
  /** Devices with data in [from, to) (from absent: the store's first readings on), with their tags and fields. */
  devices(range: { from?: number; to: number }): Promise<DeviceSummary[]>;
}

/** Devices and tags as the readings carry them (the tags of each device's latest reading in the range). */
export function storeDirectory(store: TimeSeriesStore): DeviceDirectory {
  return {
    async devices(range) {
      if (!store.devices) throw new BadParameterError('devices', 'this store cannot list its devices; name the devices in the report');
      return store.devices(range);
    },
  };
}

export interface ReportEvent {
  ts: number;
  device: string;
  field?: string;
  /** What happened, in words. */
  text: string;
}

export interface EventQuery {
  devices: string[];
  fields: string[];
  from: number;
  to: number;
  /** Events listed at most; all are counted. */
  limit: number;
}

export interface EventSource {
  /** How the events were found, shown in the report, e.g. "alert history". */
  readonly describe: string;
  events(q: EventQuery): Promise<{ total: number; byDevice: Record<string, number>; items: ReportEvent[] }>;
}

export type EventKind = 'alerts' | 'anomalies';

export interface EventSummary {
  available: boolean;
  /** Why not available, or how the events were found. */
  note: string;
  total: number;
  byDevice: Record<string, number>;
  items: ReportEvent[];
}

const sources = new Map<EventKind, EventSource>();

/** Makes a source of alerts or anomalies available to reports; returns its removal. */
export function registerEventSource(kind: EventKind, source: EventSource): () => void {
  sources.set(kind, source);
  return () => {
    if (sources.get(kind) === source) sources.delete(kind);
  };
}

export function eventSource(kind: EventKind): EventSource | undefined {
  return sources.get(kind);
}

/**
 * Anomalies found by replaying each stored series of the period through the
 * default anomaly detector (the backtest), for as long as no anomaly history is
 * stored. The detector warms up on the period's first readings.
 */
export function replayAnomalies(store: TimeSeriesStore): EventSource {
  return {
    describe: 'found by replaying the period\'s readings through the default anomaly detector',
    async events(q) {
      let total = 0;
      const byDevice: Record<string, number> = {};
      const items: ReportEvent[] = [];
      for (const device of q.devices) {
        for (const field of q.fields) {
          let r;
          try {
            r = await backtestHistory(store, { device, field, from: q.from, to: q.to, listed: Math.max(0, Math.min(1000, q.limit - items.length)) });
          } catch (err) {
            if (err instanceof BadParameterError) throw new BadParameterError('anomalies', `cannot replay ${device}/${field}: more than ${MAX_BACKTEST_POINTS} readings in the period`);
            throw err;
          }
          if (r.flagged === 0) continue;
          total += r.flagged;
          byDevice[device] = (byDevice[device] ?? 0) + r.flagged;
          for (const a of r.anomalies) if (items.length < q.limit) items.push({ ts: a.ts, device, field, text: a.reason });
        }
      }
      items.sort((a, b) => a.ts - b.ts);
      return { total, byDevice, items };
    },
  };
}

export async function summarizeEvents(kind: EventKind, wanted: boolean, fallback: EventSource | undefined, q: EventQuery): Promise<EventSummary> {
  const none = { total: 0, byDevice: {}, items: [] };
  if (!wanted) return { available: false, note: 'not included in this report', ...none };
  const source = sources.get(kind) ?? fallback;
  if (!source) {
    const what = kind === 'alerts' ? 'no alert history is recorded yet' : 'no anomaly history is recorded';
    return { available: false, note: `not available: ${what}`, ...none };
  }
  const r = await source.events(q);
  return { available: true, note: source.describe, total: r.total, byDevice: r.byDevice, items: r.items };
}
