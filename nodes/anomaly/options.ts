/** Options of upperstack-anomaly, shared by the runtime and the editor, and how they become engine options. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { DetectorConfigError } from '../lib/errors';
import type { AnomalyEngineOptions } from '../lib/anomaly';
import type { DetectorConfig } from '../lib/anomaly/types';

export const ANOMALY_DETECTORS = ['default', 'zscore', 'robust-zscore', 'ewma', 'holtwinters', 'iforest', 'flatline', 'rate', 'novelty', 'limits'] as const;
export type AnomalyDetectorChoice = (typeof ANOMALY_DETECTORS)[number];

export interface AnomalyOptions {
  name: string;
  /** 'default' is the shipped likelihood layer over z-score, Holt-Winters, flatline and novelty. */
  detector: AnomalyDetectorChoice;
  /** Limits detector: lowest and highest normal value ('' = none). */
  min: string;
  max: string;
  /** Threshold in σ for zscore, ewma, holtwinters and rate ('' = the detector's default). */
  sigma: string;
  /** Time window of zscore and rate ('' = the detector's default), e.g. "7d". */
  window: string;
  /** Holt-Winters season: "auto", "none" or a duration ('' = auto). */
  season: string;
  /**
   * Advanced: JSON. An object with "type" is a whole DetectorConfig and replaces the choice above;
   * without "type" its parameters are added to the chosen detector's.
   */
  advanced: string;
  /** Score (0..1] at which a verdict is an anomaly. */
  threshold: string;
  maxSeries: string;
  /** Most series (fields) one device may have; its further fields are not watched ('' = 100). */
  maxSeriesPerDevice: string;
  /** Comma-separated field names; empty = every numeric field. */
  fields: string;
  /** "temperature=°C, humidity=%". */
  units: string;
  /** Readings before verdicts, for detectors that set none ('' = each detector's default). */
  warmup: string;
  /** Expected time between a device's readings ('' = learned from its timestamps). */
  heartbeatInterval: string;
  /** Missed intervals before a device is offline; 0 turns heartbeats off. */
  heartbeatMissed: string;
  /** Id of the upperstack-store-config whose history the editor's backtest replays; '' = none chosen. */
  store: string;
  /** Run the engine in a worker thread (off the main thread); false keeps it on the main thread. */
  worker: boolean;
  configVersion: number;
}

export interface AnomalyNodeDef extends NodeDef, AnomalyOptions {}

export const ANOMALY_DEFAULTS: Omit<AnomalyOptions, 'name' | 'configVersion' | 'store' | 'worker' | 'maxSeriesPerDevice'> = {
  detector: 'default',
  min: '',
  max: '',
  sigma: '',
  window: '',
  season: '',
  advanced: '',
  threshold: '0.5',
  maxSeries: '10000',
  fields: '',
  units: '',
  warmup: '',
  heartbeatInterval: '',
  heartbeatMissed: '3',
};

export const anomalyMigrations: ReadonlyArray<Migration<AnomalyOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as text.
  (old) => {
    const out: Record<string, unknown> = { name: '', ...ANOMALY_DEFAULTS, ...old };
    for (const k of Object.keys(ANOMALY_DEFAULTS) as Array<keyof typeof ANOMALY_DEFAULTS>) {
      if (out[k] === undefined || out[k] === null) out[k] = ANOMALY_DEFAULTS[k];
      else if (typeof out[k] === 'number') out[k] = String(out[k]);
    }
    if (!ANOMALY_DETECTORS.includes(out.detector as AnomalyDetectorChoice)) out.detector = 'default';
    return out as Record<string, unknown> & Partial<AnomalyOptions>;
  },
  // v1 → v2: a store to backtest against. None is chosen for existing nodes: judging live readings never needed one.
  (old) => ({ ...old, store: typeof old.store === 'string' ? old.store : '' }),
  // v2 → v3: the engine in a worker thread, for existing nodes too (same verdicts, off the main thread).
  (old) => ({ ...old, worker: old.worker !== false && old.worker !== 'false' }),
  // v3 → v4: the per-device series cap in the dialog, at 100: the engine's default that applied to these nodes
  // already (a fixed value here: a later change of the engine's default must not change what this step did).
  (old) => ({ ...old, maxSeriesPerDevice: typeof old.maxSeriesPerDevice === 'number' || typeof old.maxSeriesPerDevice === 'string' ? String(old.maxSeriesPerDevice) : '100' }),
];

function text(v: unknown): string {
  return v === undefined || v === null ? '' : String(v).trim();
}

function num(v: unknown, name: string): number | undefined {
  const s = text(v);
  if (s === '') return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new DetectorConfigError(`${name} must be a number, got "${s}"`, { parameter: name });
  return n;
}

function int(v: unknown, name: string, min: number): number | undefined {
  const n = num(v, name);
  if (n !== undefined && (!Number.isInteger(n) || n < min)) {
    throw new DetectorConfigError(`${name} must be a whole number of at least ${min}, got ${n}`, { parameter: name });
  }
  return n;
}

/** "temperature=°C, humidity=%" → {temperature: "°C", humidity: "%"}. */
export function parseUnits(s: string): Record<string, string> | undefined {
  const t = text(s);
  if (t === '') return undefined;
  const out: Record<string, string> = {};
  for (const part of t.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const field = eq < 0 ? '' : part.slice(0, eq).trim();
    if (!field) throw new DetectorConfigError(`units: "${part.trim()}" is not field=unit (e.g. temperature=°C)`, { parameter: 'units' });
    out[field] = part.slice(eq + 1).trim();
  }
  return out;
}

export function parseFields(s: string): string[] | undefined {
  const list = text(s).split(',').map((f) => f.trim()).filter(Boolean);
  return list.length ? list : undefined;
}

/** The DetectorConfig the options describe; undefined for the default ensemble. Throws DetectorConfigError. */
export function detectorConfigOf(o: AnomalyOptions): DetectorConfig | undefined {
  let advanced: Record<string, unknown> = {};
  if (text(o.advanced) !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(o.advanced);
    } catch (err) {
      throw new DetectorConfigError(`advanced config is not valid JSON: ${(err as Error).message}`, { parameter: 'advanced' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new DetectorConfigError('advanced config must be a JSON object: a detector config with "type", or parameters for the chosen detector', { parameter: 'advanced' });
    }
    advanced = parsed as Record<string, unknown>;
    if ('type' in advanced) return advanced as unknown as DetectorConfig;
  }
  const sigma = num(o.sigma, 'sigma');
  const window = text(o.window) || undefined;
  const base: Record<string, unknown> = {};
  switch (o.detector) {
    case 'default':
    case undefined:
      if (Object.keys(advanced).length) {
        throw new DetectorConfigError('advanced config for the default ensemble must be a whole detector config with "type" (e.g. {"type": "ensemble", "members": [...]})', { parameter: 'advanced' });
      }
      return undefined;
    case 'zscore':
    case 'robust-zscore':
      Object.assign(base, { type: 'zscore', robust: o.detector === 'robust-zscore', threshold: sigma, window });
      break;
    case 'ewma':
      Object.assign(base, { type: 'ewma', threshold: sigma });
      break;
    case 'holtwinters': {
      const season = text(o.season);
      Object.assign(base, { type: 'holtwinters', threshold: sigma, season: season === '' ? undefined : /^\d+$/.test(season) ? Number(season) : season });
      break;
    }
    case 'iforest':
    case 'flatline':
    case 'novelty':
      base.type = o.detector;
      break;
    case 'rate':
      Object.assign(base, { type: 'rate', threshold: sigma, window });
      break;
    case 'limits': {
      Object.assign(base, { type: 'limits', min: num(o.min, 'min'), max: num(o.max, 'max') });
      break;
    }
    default:
      throw new DetectorConfigError(`unknown detector "${String(o.detector)}"; choose one of ${ANOMALY_DETECTORS.join(', ')}`, { parameter: 'detector' });
  }
  const config: Record<string, unknown> = { ...base, ...advanced };
  for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
  if (config.type === 'limits' && config.min === undefined && config.max === undefined && config.fields === undefined) {
    throw new DetectorConfigError('the limits detector needs a minimum, a maximum, or per-field limits in the advanced config', { parameter: 'min' });
  }
  return config as unknown as DetectorConfig;
}

/** Engine options from the node options (clock excluded). Throws DetectorConfigError with a sentence for the user. */
export function engineOptionsOf(o: AnomalyOptions): AnomalyEngineOptions {
  const missed = num(o.heartbeatMissed, 'heartbeat missed intervals') ?? 3;
  if (missed < 0) throw new DetectorConfigError(`heartbeat missed intervals must be 0 (off) or more, got ${missed}`, { parameter: 'heartbeatMissed' });
  const interval = text(o.heartbeatInterval);
  const opts: AnomalyEngineOptions = {
    detector: detectorConfigOf(o),
    threshold: num(o.threshold, 'threshold') ?? 0.5,
    maxSeries: int(o.maxSeries, 'maxSeries', 1) ?? 10_000,
    maxSeriesPerDevice: int(o.maxSeriesPerDevice, 'maxSeriesPerDevice', 1),
    fields: parseFields(o.fields),
    units: parseUnits(o.units),
    warmup: int(o.warmup, 'warmup', 0),
    heartbeat: missed === 0 ? false : { missed, ...(interval === '' ? {} : { interval: /^\d+(\.\d+)?$/.test(interval) ? Number(interval) : interval }) },
  };
  for (const k of Object.keys(opts) as Array<keyof AnomalyEngineOptions>) if (opts[k] === undefined) delete opts[k];
  return opts;
}
