/** Options of upperstack-report, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { BadParameterError } from '../lib/errors';
import { checkDefinition, type ReportDefinition, type Threshold } from '../lib/report/definition';
import type { PeriodKind } from '../lib/report/period';
import type { Preset } from '../lib/report/schedule';

export interface ReportOptions {
  name: string;
  /** Id of the upperstack-store-config node. */
  store: string;
  /** The report's name: its files, marks and retention are grouped by it. */
  report: string;
  title: string;
  devicesMode: 'all' | 'list' | 'tag';
  /** Device names separated by commas (devicesMode list). */
  devices: string;
  tagKey: string;
  tagValue: string;
  /** Field names separated by commas; empty: all. */
  fields: string;
  period: PeriodKind;
  schedule: Preset | 'none';
  /** HH:MM for daily, weekly and monthly; minute MM for hourly. */
  at: string;
  cron: string;
  timezone: string;
  expectedEvery: string;
  gapsLongerThan: string;
  /** "temperature > 80, temperature < 5, power > 2500" */
  thresholds: string;
  /** "power = W, temperature = °C" */
  units: string;
  integralPer: 'h' | 's' | 'min' | 'd';
  csv: boolean;
  json: boolean;
  html: boolean;
  pdf: boolean;
  anomalies: boolean;
  alerts: boolean;
  /** Reports of this name kept in the data folder; 0 keeps all. */
  keep: number;
  configVersion: number;
}

export interface ReportNodeDef extends NodeDef, ReportOptions {}

export const REPORT_DEFAULTS: Omit<ReportOptions, 'name' | 'store' | 'configVersion'> = {
  report: 'daily report',
  title: '',
  devicesMode: 'all',
  devices: '',
  tagKey: 'customer',
  tagValue: '',
  fields: '',
  period: 'previous-day',
  schedule: 'daily',
  at: '06:00',
  cron: '0 6 * * *',
  timezone: 'UTC',
  expectedEvery: 'auto',
  gapsLongerThan: '',
  thresholds: '',
  units: '',
  integralPer: 'h',
  csv: true,
  json: true,
  html: true,
  pdf: true,
  anomalies: false,
  alerts: true,
  keep: 30,
};

export const reportMigrations: ReadonlyArray<Migration<ReportOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ store: '', ...REPORT_DEFAULTS, ...old, keep: Number(old.keep ?? REPORT_DEFAULTS.keep) }),
];

const DECIMAL_COMMA = /[^,;\n<>]*[<>]\s*(-?\d+,\d+)(?=\s*(?:[,;\n]|$))/;
const THRESHOLD = /^\s*([^<>\s][^<>]*?)\s*([<>])\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i;

/** "temp > 80, temp < 5" → {temp: {above: 80, below: 5}} */
export function parseThresholds(text: string): Record<string, Threshold> {
  const out: Record<string, Threshold> = {};
  // A comma separates thresholds, so "temperature > 21,5" would read as 21 and a stray "5": said as what it is.
  const comma = DECIMAL_COMMA.exec(text ?? '');
  if (comma) throw new BadParameterError('thresholds', `thresholds: "${comma[0].trim()}" has a decimal comma: write ${comma[1].replace(',', '.')} (a comma separates thresholds)`);
  for (const part of (text ?? '').split(/[,;\n]/)) {
    if (part.trim() === '') continue;
    const m = THRESHOLD.exec(part);
    if (!m) throw new BadParameterError('thresholds', `thresholds: "${part.trim()}" is not "field > number" or "field < number"`);
    const t = (out[m[1]] ??= {});
    if (m[2] === '>') t.above = Number(m[3]);
    else t.below = Number(m[3]);
  }
  return out;
}

/** "power = W, temp = °C" → {power: "W", temp: "°C"} */
export function parseUnits(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(/[,;\n]/)) {
    if (part.trim() === '') continue;
    const m = /^\s*([^=]+?)\s*=\s*(.+?)\s*$/.exec(part);
    if (!m) throw new BadParameterError('units', `units: "${part.trim()}" is not "field = unit"`);
    out[m[1]] = m[2];
  }
  return out;
}

const list = (s: string) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/** The report definition of a node's options; throws naming the setting. */
export function definitionOf(o: ReportOptions): ReportDefinition {
  const devices =
    o.devicesMode === 'list' ? { mode: 'list' as const, list: list(o.devices) } : o.devicesMode === 'tag' ? { mode: 'tag' as const, tag: o.tagKey, value: o.tagValue } : { mode: 'all' as const };
  return checkDefinition({
    name: o.report,
    title: o.title,
    devices,
    fields: list(o.fields),
    period: o.period,
    timezone: o.timezone,
    expectedEvery: o.expectedEvery || 'auto',
    gapsLongerThan: o.gapsLongerThan,
    thresholds: parseThresholds(o.thresholds),
    units: parseUnits(o.units),
    integralPer: o.integralPer,
    formats: (['csv', 'json', 'html', 'pdf'] as const).filter((f) => o[f]),
    anomalies: o.anomalies,
    alerts: o.alerts,
  });
}
