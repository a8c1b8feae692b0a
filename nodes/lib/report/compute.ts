/**
 * A report's content: for each selected device and field, the statistics of
 * the period, plus the alerts and anomalies of the period. Reads the store page
 * by page in time order; memory stays bounded by the page size and the number
 * of series.
 */
import { BadParameterError } from '../errors';
import type { FieldValue } from '../reading';
import { ALERT_FIELD_PREFIX, type DeviceSummary, type TimeSeriesStore } from '../store/types';
import { durationMs, INTEGRAL_PER_MS, MAX_SERIES, type ReportDefinition } from './definition';
import type { Period } from './period';
import { medianInterval, SeriesAccumulator, type FieldStats } from './stats';
import { readingsBefore, readingsFrom } from './neighbours';
import { replayAnomalies, storeDirectory, summarizeEvents, type DeviceDirectory, type EventSummary } from './sources';

const PAGE = 10_000;
/** How far before the period "auto" looks for a field the period has fewer than two readings of (at least), and for the
 * devices chosen by tag or name that are silent in the period. */
const HISTORY_MS = 7 * 86_400_000;
export const MAX_LISTED_EVENTS = 200;

export interface SeriesReport {
  device: string;
  field: string;
  unit: string;
  tags: Record<string, string>;
  stats: FieldStats;
}

export interface ReportData {
  name: string;
  title: string;
  generatedAt: number;
  period: Period;
  /**
   * Set when the period was not over at `generatedAt` (e.g. this month, mid-month): gaps and completeness
   * cover the period up to then, not the part still to come.
   */
  unfinished?: { until: number };
  /**
   * Set when the period starts before the raw readings the store still holds (its retention deleted older ones):
   * counts, integrals, gaps and completeness before `since` are missing, not a silent device.
   */
  truncated?: { since: number };
  devices: string[];
  /**
   * Devices that would have been listed as silent (chosen by name or tag, nothing in the period) but are retired
   * (disabled) in the device registry: left out, and named so the reader knows why.
   */
  retired?: string[];
  fields: string[];
  series: SeriesReport[];
  alerts: EventSummary;
  anomalies: EventSummary;
  integralPer: string;
}

export interface ReportContext {
  store: TimeSeriesStore;
  /** Default: devices and tags from the store's readings. */
  directory?: DeviceDirectory;
  /** True for a device retired (disabled) in the device registry as it stands now; such a device is never listed as silent. */
  isRetired?: (device: string) => boolean;
  now: number;
}

/** The device's measurements: its alert transitions are in the report's "alerts raised", not in its field tables. */
function measured(d: DeviceSummary): DeviceSummary {
  return { ...d, fields: d.fields.filter((f) => !f.startsWith(ALERT_FIELD_PREFIX)) };
}

/**
 * The chosen devices. A device chosen by name or tag that sent nothing in the period still gets its rows, so its
 * silence shows: its fields (and, to match a tag, its tags) are those of its readings before the period; a named
 * device the store knows nothing of before the period gets one row without a field (count 0).
 */
async function selectDevices(def: ReportDefinition, period: Period, directory: DeviceDirectory, isRetired: (device: string) => boolean, leftOut: string[]): Promise<DeviceSummary[]> {
  const sel = def.devices;
  // A retired device on the list is looked up too: whether it sent anything in the period decides whether it is listed.
  const needDirectory = sel.mode !== 'list' || def.fields.length === 0 || sel.list.some(isRetired);
  const known = needDirectory ? (await directory.devices(period)).map(measured) : [];
  if (sel.mode === 'all') return known;
  // Only a device that sent nothing in the period is left out: one retired mid-period still reports what it sent.
  const silentUnlessRetired = (device: string): boolean => {
    if (!isRetired(device)) return true;
    leftOut.push(device);
    return false;
  };
  const heard = new Set(known.map((k) => k.device));
  const unheard = sel.mode === 'list' && sel.list.some((d) => !heard.has(d));
  const lookBack = sel.mode === 'tag' || (def.fields.length === 0 && unheard);
  // No further back than "auto" looks for an interval: a longer read costs a scan of the whole history per report.
  const since = period.from - Math.max(period.to - period.from, HISTORY_MS);
  const earlier = lookBack ? (await directory.devices({ from: since, to: period.from })).map(measured).filter((k) => !heard.has(k.device)) : [];
  if (sel.mode === 'list') {
    const all = [...known, ...earlier];
    return sel.list
      .filter((device) => heard.has(device) || silentUnlessRetired(device))
      .map((device) => all.find((k) => k.device === device) ?? { device, tags: {}, fields: [] });
  }
  const byName = (a: DeviceSummary, b: DeviceSummary) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0);
  const tagged = (k: DeviceSummary) => k.tags[sel.tag] === sel.value;
  return [...known.filter(tagged), ...earlier.filter((k) => tagged(k) && silentUnlessRetired(k.device))].sort(byName);
}

/**
 * The "auto" expected interval of each field: the median interval over the first page of the period. A field with
 * fewer than two readings there (one reading, then silence) takes its interval from the device's readings before
 * the period too, so a device known earlier still has its silence counted as gaps and its completeness stated;
 * a device never heard from before has none to infer (undefined).
 */
async function inferIntervals(store: TimeSeriesStore, device: string, fields: string[], period: Period): Promise<Map<string, number | undefined>> {
  const page = await store.readings({ device, from: period.from, to: period.to, fields, limit: PAGE });
  const times = (rs: typeof page.readings, f: string) => rs.filter((r) => r.fields[f] !== undefined).map((r) => r.ts);
  const out = new Map<string, number | undefined>();
  for (const f of fields) out.set(f, medianInterval(times(page.readings, f)));
  const sparse = fields.filter((f) => out.get(f) === undefined);
  if (sparse.length === 0) return out;
  const lookback = Math.max(period.to - period.from, HISTORY_MS);
  const before = await store.readings({ device, from: period.from - lookback, to: period.from, fields: sparse, limit: PAGE });
  for (const f of sparse) out.set(f, medianInterval([...times(before.readings, f), ...times(page.readings, f)]));
  return out;
}

export async function computeReport(def: ReportDefinition, period: Period, ctx: ReportContext): Promise<ReportData> {
  const directory = ctx.directory ?? storeDirectory(ctx.store);
  const leftOut: string[] = [];
  const devices = await selectDevices(def, period, directory, ctx.isRetired ?? (() => false), leftOut);
  const total = devices.reduce((n, d) => n + (def.fields.length ? def.fields.length : Math.max(1, d.fields.length)), 0);
  if (total > MAX_SERIES) {
    throw new BadParameterError('devices', `the report would cover ${total} series (device × field); at most ${MAX_SERIES}: choose fewer devices or name the fields`);
  }
  const fixedEvery = durationMs(def.expectedEvery, 'expectedEvery');
  const gapMs = durationMs(def.gapsLongerThan, 'gapsLongerThan');
  const until = Math.max(period.from, Math.min(period.to, ctx.now));
  const rawSince = await ctx.store.rawSince?.();
  const series: SeriesReport[] = [];
  const allFields = new Set<string>();
  for (const d of devices) {
    const fields = def.fields.length ? def.fields : d.fields;
    if (fields.length === 0) {
      // Named, but never heard from up to the period's end: one row without a field, its count 0 and the whole period a gap.
      const none = new SeriesAccumulator({ from: period.from, to: period.to, until, expectedEveryMs: fixedEvery, gapMs, integralPerMs: INTEGRAL_PER_MS[def.integralPer] });
      series.push({ device: d.device, field: '', unit: '', tags: d.tags, stats: none.result() });
      continue;
    }
    fields.forEach((f) => allFields.add(f));
    const every = fixedEvery === undefined ? await inferIntervals(ctx.store, d.device, fields, period) : undefined;
    const acc = new Map<string, SeriesAccumulator>();
    for (const f of fields) {
      acc.set(
        f,
        new SeriesAccumulator({
          from: period.from,
          to: period.to,
          until,
          expectedEveryMs: fixedEvery ?? every?.get(f),
          gapMs,
          above: def.thresholds[f]?.above,
          below: def.thresholds[f]?.below,
          integralPerMs: INTEGRAL_PER_MS[def.integralPer],
        }),
      );
    }
    // The readings next to the period, for the intervals across its boundaries: no further than a gap away.
    const reach = Math.max(period.to - period.from, ...[...acc.values()].map((a) => a.gapLimitMs ?? 0));
    for (const [f, n] of await readingsBefore(ctx.store, d.device, fields, period.from, reach)) acc.get(f)!.opening(n.ts, n.value);
    let cursor: string | undefined;
    do {
      const page = await ctx.store.readings({ device: d.device, from: period.from, to: period.to, fields, limit: PAGE, cursor });
      for (const r of page.readings) {
        for (const f of fields) {
          const v: FieldValue | undefined = r.fields[f];
          if (v !== undefined) acc.get(f)!.add(r.ts, v);
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    if (until >= period.to) for (const [f, n] of await readingsFrom(ctx.store, d.device, fields, period.to, reach)) acc.get(f)!.closing(n.ts, n.value);
    for (const f of fields) series.push({ device: d.device, field: f, unit: def.units[f] ?? '', tags: d.tags, stats: acc.get(f)!.result() });
  }
  const q = { devices: devices.map((d) => d.device), fields: [...allFields].sort(), from: period.from, to: period.to, limit: MAX_LISTED_EVENTS };
  return {
    name: def.name,
    title: def.title || def.name,
    generatedAt: ctx.now,
    period,
    ...(until < period.to ? { unfinished: { until } } : {}),
    ...(rawSince !== undefined && period.from < rawSince ? { truncated: { since: rawSince } } : {}),
    devices: q.devices,
    ...(leftOut.length ? { retired: [...new Set(leftOut)].sort() } : {}),
    fields: q.fields,
    series,
    alerts: await summarizeEvents('alerts', def.alerts, undefined, q),
    anomalies: await summarizeEvents('anomalies', def.anomalies, replayAnomalies(ctx.store), q),
    integralPer: def.integralPer,
  };
}
