/**
 * What a report contains: which devices and fields, over which period, in
 * which files. The same shape comes from the node's form, from msg.payload
 * ("send now") and from POST /api/v1/reports/run; checkDefinition() names the
 * first bad setting.
 */
import { parseEvery } from '../api/params';
import { BadParameterError } from '../errors';
import { checkZone, PERIOD_KINDS, type PeriodKind } from './period';

export const FORMATS = ['csv', 'json', 'html', 'pdf'] as const;
export type ReportFormat = (typeof FORMATS)[number];

export type DeviceSelection = { mode: 'all' } | { mode: 'list'; list: string[] } | { mode: 'tag'; tag: string; value: string };

export interface Threshold {
  above?: number;
  below?: number;
}

export interface ReportDefinition {
  /** Names the report: its files and marks are grouped by it. */
  name: string;
  title: string;
  devices: DeviceSelection;
  /** Fields to report; empty: every field the devices have. */
  fields: string[];
  period: PeriodKind;
  timezone: string;
  /** Expected interval between readings ("1m"), or "auto": the median interval of the data. */
  expectedEvery: string;
  /** Intervals longer than this are gaps ("15m"); empty: 3 × the expected interval. */
  gapsLongerThan: string;
  thresholds: Record<string, Threshold>;
  /** Time unit of integrals: s, min, h or d. */
  integralPer: 'h' | 's' | 'min' | 'd';
  units: Record<string, string>;
  formats: ReportFormat[];
  /** List anomalies flagged in the period. */
  anomalies: boolean;
  /** List alerts raised in the period (once alert history is available). */
  alerts: boolean;
}

export const INTEGRAL_PER_MS = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const MAX_SERIES = 1000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;

export function defaultDefinition(): ReportDefinition {
  return {
    name: 'report',
    title: '',
    devices: { mode: 'all' },
    fields: [],
    period: 'previous-day',
    timezone: 'UTC',
    expectedEvery: 'auto',
    gapsLongerThan: '',
    thresholds: {},
    integralPer: 'h',
    units: {},
    formats: ['csv', 'json', 'html', 'pdf'],
    anomalies: false,
    alerts: true,
  };
}

function bad(path: string, message: string): never {
  throw new BadParameterError(path, `${path}: ${message}`);
}

function names(v: unknown, path: string): string[] {
  if (v === undefined || v === null || v === '') return [];
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s.length === 0 || s.length > 200)) bad(path, 'must be a list of names (or text separated by commas)');
  if (list.length > MAX_SERIES) bad(path, `at most ${MAX_SERIES} entries`);
  return [...new Set(list as string[])];
}

/** `example`: what the object looks like, for a caller who wrote the node's text form ("power = W") instead. */
function record<T>(v: unknown, path: string, example: string, each: (x: unknown, p: string) => T): Record<string, T> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) bad(path, `must be an object keyed by field name, e.g. ${example}`);
  const out: Record<string, T> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = each(x, `${path}.${k}`);
  return out;
}

function optionalNumber(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) bad(path, `must be a number, got ${JSON.stringify(v)}`);
  return n;
}

/** Duration text such as "1m" in ms; "" or "auto" → undefined. */
export function durationMs(v: string, path: string): number | undefined {
  if (v === '' || v === 'auto') return undefined;
  try {
    return parseEvery(v);
  } catch {
    return bad(path, `must be a duration such as 30s, 5m, 1h or 1d, got ${JSON.stringify(v)}`);
  }
}

/** Fills defaults and checks every setting; throws BadParameterError naming the setting. */
export function checkDefinition(raw: unknown, base: ReportDefinition = defaultDefinition()): ReportDefinition {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('report', 'must be an object, e.g. {"name": "daily", "period": "previous-day"}');
  const r = { ...base, ...(raw as Partial<ReportDefinition>) };
  // "Letters" alone reads as any letter to someone naming a report "Küche täglich": the name becomes file names and
  // ids, so it stays ASCII, and the message says so and where any text may go.
  if (typeof r.name !== 'string' || !NAME.test(r.name)) {
    bad('name', 'must be 1 to 64 letters A to Z without accents, digits, spaces, "_", "." or "-", starting with a letter or digit ("Kueche daily", not "Küche daily"); the title may be any text');
  }
  if (typeof r.title !== 'string' || r.title.length > 200) bad('title', 'must be text of at most 200 characters');
  const d = r.devices as DeviceSelection | undefined;
  let devices: DeviceSelection;
  if (!d || typeof d !== 'object') bad('devices', 'must be {"mode": "all"}, {"mode": "list", "list": [...]} or {"mode": "tag", "tag": "customer", "value": "acme"}');
  if (d.mode === 'all') devices = { mode: 'all' };
  else if (d.mode === 'list') {
    const list = names(d.list, 'devices.list');
    if (list.length === 0) bad('devices.list', 'name at least one device');
    devices = { mode: 'list', list };
  } else if (d.mode === 'tag') {
    if (typeof d.tag !== 'string' || d.tag === '') bad('devices.tag', 'name the tag, e.g. "customer"');
    if (typeof d.value !== 'string') bad('devices.value', 'give the tag value to match');
    devices = { mode: 'tag', tag: d.tag, value: d.value };
  } else bad('devices.mode', 'must be all, list or tag');
  if (!(PERIOD_KINDS as readonly unknown[]).includes(r.period)) bad('period', `must be one of ${PERIOD_KINDS.join(', ')}`);
  try {
    checkZone(r.timezone);
  } catch (err) {
    bad('timezone', (err as Error).message);
  }
  if (typeof r.expectedEvery !== 'string') bad('expectedEvery', 'must be "auto" or a duration such as 1m');
  durationMs(r.expectedEvery, 'expectedEvery');
  if (typeof r.gapsLongerThan !== 'string') bad('gapsLongerThan', 'must be empty or a duration such as 15m');
  durationMs(r.gapsLongerThan, 'gapsLongerThan');
  const thresholds = record(r.thresholds, 'thresholds', '{"temperature": {"above": 30, "below": 5}}', (x, p) => {
    if (typeof x !== 'object' || x === null) bad(p, 'must be {"above": n, "below": n}');
    const t: Threshold = {};
    const above = optionalNumber((x as Threshold).above, `${p}.above`);
    const below = optionalNumber((x as Threshold).below, `${p}.below`);
    if (above !== undefined) t.above = above;
    if (below !== undefined) t.below = below;
    return t;
  });
  if (!(r.integralPer in INTEGRAL_PER_MS)) bad('integralPer', 'must be s, min, h or d');
  const units = record(r.units, 'units', '{"power": "W", "temperature": "°C"}', (x, p) => {
    if (typeof x !== 'string' || x.length > 20) bad(p, 'must be a unit of at most 20 characters');
    return x;
  });
  const formats = names(r.formats, 'formats');
  if (formats.length === 0) bad('formats', `choose at least one of ${FORMATS.join(', ')}`);
  for (const f of formats) if (!(FORMATS as readonly string[]).includes(f)) bad('formats', `"${f}" is not one of ${FORMATS.join(', ')}`);
  return {
    name: r.name,
    title: r.title,
    devices,
    fields: names(r.fields, 'fields'),
    period: r.period,
    timezone: r.timezone,
    expectedEvery: r.expectedEvery,
    gapsLongerThan: r.gapsLongerThan,
    thresholds,
    integralPer: r.integralPer,
    units,
    formats: formats as ReportFormat[],
    anomalies: r.anomalies === true,
    alerts: r.alerts !== false,
  };
}

/** A file-name-safe form of a report name: "Daily energy" → "daily-energy". */
export function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'report';
}
