/**
 * What the main thread and the anomaly worker say to each other. Readings go
 * over in batches as one Float64Array of columns (one postMessage per batch;
 * each typed array in a message costs more than the numbers in it, so there
 * is one each way), each distinct device and field name once.
 * The worker judges them as they are (AnomalyEngine.processColumns), without
 * a Reading or a result object per reading, and its verdicts come back as
 * typed arrays too, with only the reasons, evictions and heartbeat events as
 * strings and objects. The main thread keeps what it sent and rebuilds the
 * results against it. The functions here are the only code that knows the layout.
 */
import type { Reading } from '../../reading';
import type { AnomalyEngine, AnomalyEngineOptions, ColumnSink, EngineState, EngineStats, ReadingColumns, ReadingResult, SeriesRef } from '../engine';
import type { HeartbeatEvent } from '../heartbeat';
import type { SavedStateFile } from '../state-file';
import type { DetectorType, Outcome, Verdict } from '../types';
import { DETECTOR_TYPES } from '../config';

/**
 * Readings of one batch: finite numbers only, in field order. `cols` holds,
 * one after the other, ts (n), device (n, index into deviceTable), nf (n:
 * the reading's entries), name (entries, index into nameTable) and values
 * (entries); columns() gives them as ReadingColumns.
 */
export interface ReadingBatch {
  n: number;
  entries: number;
  deviceTable: string[];
  nameTable: string[];
  cols: Float64Array;
}

/** The columns of a batch as views of its one array (no copy). */
export function columns(b: ReadingBatch): ReadingColumns {
  const { n, entries, cols } = b;
  return {
    n,
    deviceTable: b.deviceTable,
    ts: cols.subarray(0, n),
    device: cols.subarray(n, 2 * n),
    nf: cols.subarray(2 * n, 3 * n),
    nameTable: b.nameTable,
    name: cols.subarray(3 * n, 3 * n + entries),
    values: cols.subarray(3 * n + entries, 3 * n + 2 * entries),
  };
}

/** Numbers per entry of a ResultBatch: flag, detector, score, expected, low, high. */
const PER_ENTRY = 6;

/** Verdicts of one batch: one per entry (field value) of its ReadingBatch. */
export interface ResultBatch {
  /**
   * PER_ENTRY numbers per entry: the flag (0: warming up, null; 1: a verdict;
   * 2: an anomaly; 3: the field is not watched), the detector (index into
   * DETECTOR_TYPES), score, expected, low and high.
   */
  num: Float64Array;
  /**
   * One per entry with a verdict, in order; in a batch judged `flaggedOnly`,
   * only those of readings with an anomaly (the others' are never worded).
   */
  reasons: string[];
  /** Reading-level extras, rare: evictions and a device coming back. */
  extras: Array<{ i: number; evicted?: SeriesRef[]; heartbeat?: HeartbeatEvent }>;
}

export type ToWorker =
  | { type: 'init'; options: Omit<AnomalyEngineOptions, 'clock'>; stateFile?: string; state?: EngineState | string; heartbeatEveryMs: number | null }
  | { type: 'batch'; id: number; now: number; batch: ReadingBatch; flaggedOnly: boolean }
  | { type: 'save'; id: number }
  | { type: 'call'; id: number; op: 'devices' }
  | { type: 'call'; id: number; op: 'export' | 'forget'; devices: string[] }
  | { type: 'call'; id: number; op: 'import'; state: EngineState };

export type FromWorker =
  | { type: 'ready'; stats: EngineStats; restoreError?: string }
  | { type: 'results'; id: number; results: ResultBatch; stats: EngineStats }
  | { type: 'saved'; id: number; saved: SavedStateFile }
  | { type: 'saveFailed'; id: number; message: string }
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
  const cols = new Float64Array(3 * n + 2 * entries);
  const name0 = 3 * n;
  const value0 = 3 * n + entries;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = readings[i];
    let d = deviceIndex.get(r.device);
    if (d === undefined) {
      d = deviceTable.push(r.device) - 1;
      deviceIndex.set(r.device, d);
    }
    cols[i] = r.ts;
    cols[n + i] = d;
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
      cols[name0 + at] = k;
      cols[value0 + at] = v;
      at++;
    }
    cols[2 * n + i] = at - start;
  }
  return { n, entries, deviceTable, nameTable, cols };
}

const DETECTOR_INDEX = new Map<string, number>(DETECTOR_TYPES.map((t, i) => [t, i]));

/** Collects what the engine judges on a batch, entry by entry. */
class ResultWriter implements ColumnSink {
  readonly out: ResultBatch;
  /**
   * flaggedOnly: the current reading's outcomes (the first `pendingCount`), worded only if one of them is
   * an anomaly. Kept at its size between readings: emptying it (length = 0) dropped its storage, and every
   * reading grew a new one.
   */
  private readonly pending: Outcome[] = [];
  private pendingCount = 0;
  private current = -1;
  private currentFlagged = false;

  constructor(
    entries: number,
    private readonly flaggedOnly: boolean,
  ) {
    const num = new Float64Array(entries * PER_ENTRY);
    for (let e = 0; e < entries; e++) num[e * PER_ENTRY] = 3;
    this.out = { num, reasons: [], extras: [] };
  }

  field(_reading: number, e: number, o: Outcome | null, isAnomaly: boolean): void {
    const b = this.out;
    const at = e * PER_ENTRY;
    if (!o) {
      b.num[at] = 0;
      return;
    }
    b.num[at] = isAnomaly ? 2 : 1;
    b.num[at + 1] = DETECTOR_INDEX.get(o.detector!) ?? 0;
    b.num[at + 2] = o.score;
    b.num[at + 3] = o.expected;
    b.num[at + 4] = o.low;
    b.num[at + 5] = o.high;
    if (!this.flaggedOnly) {
      b.reasons.push(o.reason);
      return;
    }
    this.pending[this.pendingCount++] = o;
    if (isAnomaly) this.currentFlagged = true;
  }

  reading(next: number): void {
    // Worded before `next` is judged: a reading of the same series would set its outcomes, reasons included, anew.
    if (this.flaggedOnly) this.settle(next);
  }

  /** The reading before `next` is complete: its reasons when it has an anomaly. */
  settle(next: number): void {
    if (this.currentFlagged) for (let k = 0; k < this.pendingCount; k++) this.out.reasons.push(this.pending[k].reason);
    this.pendingCount = 0;
    this.currentFlagged = false;
    this.current = next;
  }

  extras(i: number, evicted: SeriesRef[], heartbeat: HeartbeatEvent | undefined): void {
    this.out.extras.push({ i, ...(evicted.length ? { evicted } : {}), ...(heartbeat ? { heartbeat } : {}) });
  }
}

/**
 * The engine's verdicts on a batch, as they go back to the main thread.
 * `flaggedOnly`: only readings with an anomaly will be looked at (decodeFlagged),
 * so the others' reasons are not worded (their numbers still go back).
 */
export function judgeBatch(engine: AnomalyEngine, batch: ReadingBatch, flaggedOnly = false): ResultBatch {
  const w = new ResultWriter(batch.entries, flaggedOnly);
  engine.processColumns(columns(batch), w);
  if (flaggedOnly) w.settle(-1);
  return w.out;
}

/** One reading's result from its entries [e, end) of a result batch; `reason` is where its reasons start. */
function resultOf(reading: Reading, b: ReadingColumns, num: Float64Array, reasons: string[], e: number, end: number, reason: number): ReadingResult {
  const anomaly: Record<string, Verdict | null> = {};
  let isAnomaly = false;
  for (; e < end; e++) {
    const at = e * PER_ENTRY;
    const flag = num[at];
    if (flag === 3) continue;
    const key = b.nameTable[b.name[e]];
    if (flag === 0) {
      anomaly[key] = null;
      continue;
    }
    if (flag === 2) isAnomaly = true;
    anomaly[key] = {
      score: num[at + 2],
      isAnomaly: flag === 2,
      detector: DETECTOR_TYPES[num[at + 1]] as DetectorType,
      expected: num[at + 3],
      band: [num[at + 4], num[at + 5]],
      reason: reasons[reason++],
      field: key,
    };
  }
  return { device: reading.device, ts: reading.ts, anomaly, isAnomaly, evicted: [] };
}

/** The engine's results for the readings of a batch (as encoded here, and kept: it is copied to the worker, not handed over), from the worker's verdicts. */
export function decodeResults(readings: readonly Reading[], batch: ReadingBatch, r: ResultBatch): ReadingResult[] {
  const b = columns(batch);
  const num = r.num;
  const out = new Array<ReadingResult>(readings.length);
  let e = 0;
  let reason = 0;
  for (let i = 0; i < readings.length; i++) {
    const end = e + b.nf[i];
    out[i] = resultOf(readings[i], b, num, r.reasons, e, end, reason);
    for (; e < end; e++) if (num[e * PER_ENTRY] === 1 || num[e * PER_ENTRY] === 2) reason++;
  }
  for (const x of r.extras) {
    if (x.evicted) out[x.i].evicted = x.evicted;
    if (x.heartbeat) out[x.i].heartbeat = x.heartbeat;
  }
  return out;
}

/**
 * Only the anomalous readings of a batch, for a node that passes on nothing
 * else: the readings with no anomaly cost no object at all.
 */
export interface FlaggedResults {
  /** Positions (in the readings given) of the readings with an anomaly, in order. */
  index: number[];
  /** Their results, as process() gives them. */
  results: ReadingResult[];
  /** Some reading of the batch had a verdict (a series past its warm-up). */
  judged: boolean;
}

/** decodeResults() for the anomalous readings only, of a batch judged `flaggedOnly`. */
export function decodeFlagged(readings: readonly Reading[], batch: ReadingBatch, r: ResultBatch): FlaggedResults {
  const b = columns(batch);
  const num = r.num;
  const out: FlaggedResults = { index: [], results: [], judged: false };
  let e = 0;
  let reason = 0;
  let extra = 0;
  for (let i = 0; i < readings.length; i++) {
    const start = e;
    const end = e + b.nf[i];
    let flagged = false;
    let verdicts = 0;
    for (; e < end; e++) {
      const flag = num[e * PER_ENTRY];
      if (flag === 2) flagged = true;
      if (flag === 1 || flag === 2) verdicts++;
    }
    if (verdicts) out.judged = true;
    if (!flagged) continue;
    const res = resultOf(readings[i], b, num, r.reasons, start, end, reason);
    reason += verdicts;
    while (extra < r.extras.length && r.extras[extra].i < i) extra++;
    const x = r.extras[extra];
    if (x && x.i === i) {
      if (x.evicted) res.evicted = x.evicted;
      if (x.heartbeat) res.heartbeat = x.heartbeat;
    }
    out.index.push(i);
    out.results.push(res);
  }
  return out;
}

/** The anomalous readings among full results (the in-process engine, a batch judged in full). */
export function flaggedOf(results: readonly ReadingResult[]): FlaggedResults {
  const out: FlaggedResults = { index: [], results: [], judged: false };
  for (let i = 0; i < results.length; i++) {
    const res = results[i];
    if (res.isAnomaly) {
      out.index.push(i);
      out.results.push(res);
      out.judged = true;
    } else if (!out.judged) {
      for (const f in res.anomaly) if (res.anomaly[f]) out.judged = true;
    }
  }
  return out;
}

/** The buffer a result batch hands over instead of copying (a reading batch is copied: the main thread keeps it). */
export function transferables(b: ResultBatch): ArrayBuffer[] {
  return [b.num.buffer as ArrayBuffer];
}

/** The flagged results of readings [from, from + n) of a batch, positions made relative to `from`. */
export function sliceFlagged(f: FlaggedResults, from: number, n: number, at: { k: number }): FlaggedResults {
  const out: FlaggedResults = { index: [], results: [], judged: f.judged };
  while (at.k < f.index.length && f.index[at.k] < from + n) {
    out.index.push(f.index[at.k] - from);
    out.results.push(f.results[at.k]);
    at.k++;
  }
  return out;
}
