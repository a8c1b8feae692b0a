/**
 * What the main thread and the anomaly worker say to each other. Readings go
 * over in batches as flat typed arrays (one postMessage per batch, the
 * buffers transferred, not copied); verdicts come back the same way, with
 * only the reasons, evictions and heartbeat events as strings and objects.
 * encode/decode here are the only code that knows the layout.
 */
import type { Reading } from '../../reading';
import type { EngineState, EngineStats, ReadingResult, SeriesRef } from '../engine';
import type { HeartbeatEvent } from '../heartbeat';
import type { AnomalyEngineOptions } from '../engine';
import type { DetectorType, Verdict } from '../types';
import { DETECTOR_TYPES } from '../config';

/** Readings of one batch: reading i has fields nf[i] fields, read in order from names/values. */
export interface ReadingBatch {
  n: number;
  devices: string[];
  ts: Float64Array;
  nf: Uint32Array;
  names: string[];
  values: Float64Array;
}

/** Verdicts of one batch: reading i has nv[i] entries (its watched numeric fields), in the engine's order. */
export interface ResultBatch {
  nv: Uint32Array;
  keys: string[];
  /** 0: warming up (null), 1: a verdict, 2: an anomaly. */
  flags: Uint8Array;
  /** Index into DETECTOR_TYPES. */
  detector: Uint8Array;
  /** score, expected, low, high per entry. */
  num: Float64Array;
  /** One per entry with a verdict. */
  reasons: string[];
  /** Reading-level extras, rare: evictions and a device coming back. */
  extras: Array<{ i: number; evicted?: SeriesRef[]; heartbeat?: HeartbeatEvent }>;
}

export type ToWorker =
  | { type: 'init'; options: Omit<AnomalyEngineOptions, 'clock'>; state?: EngineState; heartbeatEveryMs: number | null }
  | { type: 'batch'; id: number; now: number; batch: ReadingBatch }
  | { type: 'snapshot'; id: number }
  | { type: 'call'; id: number; op: 'devices' }
  | { type: 'call'; id: number; op: 'export' | 'forget'; devices: string[] }
  | { type: 'call'; id: number; op: 'import'; state: EngineState };

export type FromWorker =
  | { type: 'ready'; stats: EngineStats; restoreError?: string }
  | { type: 'results'; id: number; results: ResultBatch; stats: EngineStats }
  | { type: 'snapshot'; id: number; state: EngineState }
  | { type: 'heartbeats'; events: HeartbeatEvent[]; stats: EngineStats }
  | { type: 'failed'; id: number; message: string }
  | { type: 'reply'; id: number; value: unknown; stats: EngineStats }
  | { type: 'replyError'; id: number; message: string };

/** Finite numbers only: the engine skips everything else anyway, so it never crosses the thread. */
export function encodeReadings(readings: readonly Reading[]): ReadingBatch {
  const n = readings.length;
  const devices = new Array<string>(n);
  const ts = new Float64Array(n);
  const nf = new Uint32Array(n);
  const names: string[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = readings[i];
    devices[i] = r.device;
    ts[i] = r.ts;
    let k = 0;
    const fields = r.fields;
    for (const f in fields) {
      const v = fields[f];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      names.push(f);
      vals.push(v);
      k++;
    }
    nf[i] = k;
  }
  return { n, devices, ts, nf, names, values: Float64Array.from(vals) };
}

/** Readings as the engine takes them (tags are not judged, so none are sent). */
export function decodeReadings(b: ReadingBatch): Reading[] {
  const out = new Array<Reading>(b.n);
  let at = 0;
  for (let i = 0; i < b.n; i++) {
    const fields: Record<string, number> = {};
    for (let k = 0; k < b.nf[i]; k++, at++) fields[b.names[at]] = b.values[at];
    out[i] = { device: b.devices[i], ts: b.ts[i], fields, tags: {} };
  }
  return out;
}

const DETECTOR_INDEX = new Map<string, number>(DETECTOR_TYPES.map((t, i) => [t, i]));

export function encodeResults(results: readonly ReadingResult[]): ResultBatch {
  const n = results.length;
  const nv = new Uint32Array(n);
  let entries = 0;
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (const _ in results[i].anomaly) k++;
    nv[i] = k;
    entries += k;
  }
  const keys = new Array<string>(entries);
  const flags = new Uint8Array(entries);
  const detector = new Uint8Array(entries);
  const num = new Float64Array(entries * 4);
  const reasons: string[] = [];
  const extras: ResultBatch['extras'] = [];
  let e = 0;
  for (let i = 0; i < n; i++) {
    const r = results[i];
    for (const f in r.anomaly) {
      keys[e] = f;
      const v = r.anomaly[f];
      if (v) {
        flags[e] = v.isAnomaly ? 2 : 1;
        detector[e] = DETECTOR_INDEX.get(v.detector) ?? 0;
        num[4 * e] = v.score;
        num[4 * e + 1] = v.expected;
        num[4 * e + 2] = v.band[0];
        num[4 * e + 3] = v.band[1];
        reasons.push(v.reason);
      }
      e++;
    }
    if (r.evicted.length || r.heartbeat) extras.push({ i, ...(r.evicted.length ? { evicted: r.evicted } : {}), ...(r.heartbeat ? { heartbeat: r.heartbeat } : {}) });
  }
  return { nv, keys, flags, detector, num, reasons, extras };
}

/** The engine's results for the readings, rebuilt from a ResultBatch. */
export function decodeResults(readings: readonly Reading[], b: ResultBatch): ReadingResult[] {
  const out = new Array<ReadingResult>(readings.length);
  let e = 0;
  let reason = 0;
  for (let i = 0; i < readings.length; i++) {
    const anomaly: Record<string, Verdict | null> = {};
    let isAnomaly = false;
    for (let k = 0; k < b.nv[i]; k++, e++) {
      const flag = b.flags[e];
      if (flag === 0) {
        anomaly[b.keys[e]] = null;
        continue;
      }
      if (flag === 2) isAnomaly = true;
      anomaly[b.keys[e]] = {
        score: b.num[4 * e],
        isAnomaly: flag === 2,
        detector: DETECTOR_TYPES[b.detector[e]] as DetectorType,
        expected: b.num[4 * e + 1],
        band: [b.num[4 * e + 2], b.num[4 * e + 3]],
        reason: b.reasons[reason++],
      };
    }
    out[i] = { device: readings[i].device, ts: readings[i].ts, anomaly, isAnomaly, evicted: [] };
  }
  for (const x of b.extras) {
    if (x.evicted) out[x.i].evicted = x.evicted;
    if (x.heartbeat) out[x.i].heartbeat = x.heartbeat;
  }
  return out;
}

/** The typed arrays a batch can hand over instead of copying. */
export function transferables(b: ReadingBatch | ResultBatch): ArrayBuffer[] {
  const list = 'ts' in b ? [b.ts, b.nf, b.values] : [b.nv, b.flags, b.detector, b.num];
  return list.map((a) => a.buffer as ArrayBuffer);
}
