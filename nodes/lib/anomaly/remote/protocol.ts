/**
 * What the main thread and the anomaly worker say to each other. Readings go
 * over in batches as flat typed arrays (one postMessage per batch, the
 * buffers transferred, not copied), each distinct device and field name once.
 * The worker judges them as they are (AnomalyEngine.processColumns), without
 * a Reading or a result object per reading, and its verdicts come back as
 * typed arrays too, with only the reasons, evictions and heartbeat events as
 * strings and objects. The main thread keeps what it sent and rebuilds the
 * results against it. The functions here are the only code that knows the layout.
 */
import type { Reading } from '../../reading';
import type { AnomalyEngine, AnomalyEngineOptions, ColumnSink, EngineState, EngineStats, ReadingColumns, ReadingResult, SeriesRef } from '../engine';
import type { HeartbeatEvent } from '../heartbeat';
import type { DetectorType, Outcome, Verdict } from '../types';
import { DETECTOR_TYPES } from '../config';

/** Readings of one batch, column by column (see ReadingColumns): finite numbers only, in field order. */
export interface ReadingBatch extends ReadingColumns {
  deviceTable: string[];
  device: Uint32Array;
  ts: Float64Array;
  nf: Uint32Array;
  nameTable: string[];
  name: Uint32Array;
  values: Float64Array;
}

/** Verdicts of one batch: one per entry (field value) of its ReadingBatch. */
export interface ResultBatch {
  /** 0: warming up (null), 1: a verdict, 2: an anomaly, 3: the field is not watched. */
  flags: Uint8Array;
  /** Index into DETECTOR_TYPES. */
  detector: Uint8Array;
  /** score, expected, low, high per entry. */
  num: Float64Array;
  /** One per entry with a verdict, in order. */
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
  let entries = 0;
  for (let i = 0; i < n; i++) {
    const fields = readings[i].fields;
    for (const f in fields) {
      const v = fields[f];
      if (typeof v === 'number' && Number.isFinite(v)) entries++;
    }
  }
  const deviceTable: string[] = [];
  const deviceIndex = new Map<string, number>();
  const nameTable: string[] = [];
  const nameIndex = new Map<string, number>();
  const device = new Uint32Array(n);
  const ts = new Float64Array(n);
  const nf = new Uint32Array(n);
  const name = new Uint32Array(entries);
  const values = new Float64Array(entries);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = readings[i];
    let d = deviceIndex.get(r.device);
    if (d === undefined) {
      d = deviceTable.push(r.device) - 1;
      deviceIndex.set(r.device, d);
    }
    device[i] = d;
    ts[i] = r.ts;
    const start = at;
    const fields = r.fields;
    for (const f in fields) {
      const v = fields[f];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      let k = nameIndex.get(f);
      if (k === undefined) {
        k = nameTable.push(f) - 1;
        nameIndex.set(f, k);
      }
      name[at] = k;
      values[at] = v;
      at++;
    }
    nf[i] = at - start;
  }
  return { n, deviceTable, device, ts, nf, nameTable, name, values };
}

const DETECTOR_INDEX = new Map<string, number>(DETECTOR_TYPES.map((t, i) => [t, i]));

/** Collects what the engine judges on a batch, entry by entry. */
class ResultWriter implements ColumnSink {
  readonly out: ResultBatch;

  constructor(entries: number) {
    this.out = { flags: new Uint8Array(entries).fill(3), detector: new Uint8Array(entries), num: new Float64Array(entries * 4), reasons: [], extras: [] };
  }

  field(_reading: number, e: number, o: Outcome | null, isAnomaly: boolean): void {
    const b = this.out;
    if (!o) {
      b.flags[e] = 0;
      return;
    }
    b.flags[e] = isAnomaly ? 2 : 1;
    b.detector[e] = DETECTOR_INDEX.get(o.detector!) ?? 0;
    b.num[4 * e] = o.score;
    b.num[4 * e + 1] = o.expected;
    b.num[4 * e + 2] = o.low;
    b.num[4 * e + 3] = o.high;
    b.reasons.push(o.reason);
  }

  extras(i: number, evicted: SeriesRef[], heartbeat: HeartbeatEvent | undefined): void {
    this.out.extras.push({ i, ...(evicted.length ? { evicted } : {}), ...(heartbeat ? { heartbeat } : {}) });
  }
}

/** The engine's verdicts on a batch, as they go back to the main thread. */
export function judgeBatch(engine: AnomalyEngine, batch: ReadingColumns): ResultBatch {
  const w = new ResultWriter(batch.values.length);
  engine.processColumns(batch, w);
  return w.out;
}

/** The engine's results for the readings of a batch (as encoded here; its typed arrays intact), from the worker's verdicts. */
export function decodeResults(readings: readonly Reading[], b: ReadingBatch, r: ResultBatch): ReadingResult[] {
  const out = new Array<ReadingResult>(readings.length);
  let e = 0;
  let reason = 0;
  for (let i = 0; i < readings.length; i++) {
    const anomaly: Record<string, Verdict | null> = {};
    let isAnomaly = false;
    for (const end = e + b.nf[i]; e < end; e++) {
      const flag = r.flags[e];
      if (flag === 3) continue;
      const key = b.nameTable[b.name[e]];
      if (flag === 0) {
        anomaly[key] = null;
        continue;
      }
      if (flag === 2) isAnomaly = true;
      anomaly[key] = {
        score: r.num[4 * e],
        isAnomaly: flag === 2,
        detector: DETECTOR_TYPES[r.detector[e]] as DetectorType,
        expected: r.num[4 * e + 1],
        band: [r.num[4 * e + 2], r.num[4 * e + 3]],
        reason: r.reasons[reason++],
      };
    }
    out[i] = { device: readings[i].device, ts: readings[i].ts, anomaly, isAnomaly, evicted: [] };
  }
  for (const x of r.extras) {
    if (x.evicted) out[x.i].evicted = x.evicted;
    if (x.heartbeat) out[x.i].heartbeat = x.heartbeat;
  }
  return out;
}

/**
 * The buffers a message can hand over instead of copying. Of a reading batch
 * only the times and values go: the sender keeps the counts and names to
 * rebuild the results against.
 */
export function transferables(b: ReadingBatch | ResultBatch): ArrayBuffer[] {
  const list = 'ts' in b ? [b.ts, b.values] : [b.flags, b.detector, b.num];
  return list.map((a) => a.buffer as ArrayBuffer);
}
