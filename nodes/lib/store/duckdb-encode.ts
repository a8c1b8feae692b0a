/**
 * A batch laid out for DuckDB: every reading checked, rows as typed columns,
 * strings by index, each reading fresh or suspect against its device's mark.
 * How the marks keep writes idempotent: the top of duckdb-write.ts.
 */
import { StoreFailedError } from '../errors';
import { quotedValue } from '../preview';
import type { Reading } from '../reading';
import { storedTagValue, TAG_VALUES_TAKEN } from '../reading-tags';
import { MAX_DATE_MS } from '../reading-time';

// The range of a JS Date; also keeps ts * 1000 inside DuckDB's int64 micros.
export const MAX_TS = MAX_DATE_MS;

/** The batch's rows as typed columns (their `rows` first entries are the batch). */
export interface BatchColumns {
  d: Int32Array;
  t: Float64Array;
  f: Int32Array;
  k: Uint8Array;
  n: Float64Array;
  g: Int32Array;
  x: Uint8Array;
}

/** A batch ready for DuckDB: rows as columns, strings by index, and which readings are suspect. */
export interface EncodedBatch {
  rows: number;
  cols: BatchColumns;
  names: string[];
  texts: string[];
  tags: string[];
  /** Value kinds present (number 1, boolean 2, text 4) and whether any reading has tags (8): picks the INSERT. */
  shape: number;
  /** Readings that may collide with stored rows or with each other. */
  suspects: number;
  /** Time range of the suspects' rows (epoch ms), which bounds the delete. */
  lo: number;
  hi: number;
  /** The earliest ts in the batch (epoch ms). */
  earliest: number;
  /** Latest ts per device in this batch: the marks to raise. */
  latest: Map<string, number>;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The reading's tags as stored, as JSON; undefined when none is left. Values
 * that are not strings go through storedTagValue(), the rule of every sink, so
 * the reading reads back as the InfluxDB sink would give it back.
 */
function tagsJson(tags: unknown, i: number, device: string): string | undefined {
  // Tags that are not an object are no tags, in the InfluxDB sink too.
  if (typeof tags !== 'object' || tags === null) return undefined;
  const t = tags as Record<string, unknown>;
  let any = false;
  let plain = true;
  for (const k in t) {
    if (!hasOwn.call(t, k)) continue;
    any = true;
    const v = t[k];
    if (typeof v !== 'string' || v === '') {
      plain = false;
      break;
    }
  }
  if (!any) return undefined;
  // The usual reading, built by the decode or validate node: non-empty strings only, stored as they are.
  if (plain) return JSON.stringify(t);
  // No prototype: a tag named __proto__ stays a tag.
  const out = Object.create(null) as Record<string, string>;
  any = false;
  for (const k in t) {
    if (!hasOwn.call(t, k)) continue;
    const v = storedTagValue(t[k]);
    if (v === undefined) continue;
    if (typeof v === 'object') throw new StoreFailedError(`reading [${i}] of device "${device}": tag "${k}" is ${v.unstorable}; ${TAG_VALUES_TAKEN}`);
    out[k] = v;
    any = true;
  }
  return any ? JSON.stringify(out) : undefined;
}

function columns(capacity: number): BatchColumns {
  return {
    d: new Int32Array(capacity),
    t: new Float64Array(capacity),
    f: new Int32Array(capacity),
    k: new Uint8Array(capacity),
    n: new Float64Array(capacity),
    g: new Int32Array(capacity),
    x: new Uint8Array(capacity),
  };
}

/** The columns with room for twice as many rows, the first `rows` kept. */
function grown(c: BatchColumns, rows: number): BatchColumns {
  const out = columns(Math.max(16, c.d.length * 2));
  out.d.set(c.d.subarray(0, rows));
  out.t.set(c.t.subarray(0, rows));
  out.f.set(c.f.subarray(0, rows));
  out.k.set(c.k.subarray(0, rows));
  out.n.set(c.n.subarray(0, rows));
  out.g.set(c.g.subarray(0, rows));
  out.x.set(c.x.subarray(0, rows));
  return out;
}

/**
 * Checks every reading (a throw stores nothing) and lays the batch out as
 * columns. `marks` is the latest ts per device that may be in the table.
 *
 * It runs for every reading the store takes, so it allocates per batch, not
 * per reading or row: typed columns (sized for two fields a reading, doubled
 * when a batch has more), and the latest ts per device kept by the device's
 * string index in a double array, not boxed in a map per reading.
 */
export function encodeBatch(readings: readonly Reading[], marks: ReadonlyMap<string, number>): EncodedBatch {
  let cols = columns(Math.max(16, readings.length * 2));
  const names = new Map<string, number>();
  const texts = new Map<string, number>();
  const tagIds = new Map<string, number>();
  const nameList: string[] = [];
  const textList: string[] = [];
  const tagList: string[] = [];
  const intern = (map: Map<string, number>, list: string[], s: string) => {
    let i = map.get(s);
    if (i === undefined) {
      list.push(s);
      i = list.length;
      map.set(s, i);
    }
    return i;
  };
  // By name index: the latest ts of that device stored or earlier in this batch (NaN: none), and whether this batch raised it.
  const before: number[] = [NaN];
  const raised: number[] = [0];
  const devices: number[] = [];
  let shape = 0;
  let suspects = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let earliest = Infinity;
  let rows = 0;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i];
    if (typeof r?.device !== 'string' || typeof r.fields !== 'object' || r.fields === null) {
      throw new StoreFailedError(`reading [${i}] is not a Reading: it needs a device string and a fields object`);
    }
    // The query API finds readings by device only: stored under no name, they could never be read or removed by device.
    if (r.device === '') throw new StoreFailedError(`reading [${i}] has an empty device; name the device it is from`);
    if (!Number.isFinite(r.ts) || Math.abs(r.ts) > MAX_TS) {
      throw new StoreFailedError(`reading [${i}] of device "${r.device}" has ts ${r.ts}; it must be epoch milliseconds`);
    }
    const ts = Math.round(r.ts);
    if (ts < earliest) earliest = ts;
    const d = intern(names, nameList, r.device);
    while (before.length <= d) {
      before.push(NaN);
      raised.push(0);
    }
    if (raised[d] === 0 && Number.isNaN(before[d])) {
      const m = marks.get(r.device);
      if (m !== undefined) before[d] = m;
    }
    let g = 0;
    const tagText = tagsJson(r.tags, i, r.device);
    if (tagText !== undefined) {
      g = intern(tagIds, tagList, tagText);
      shape |= 8;
    }
    // Fresh: later than anything of this device that is stored or earlier in this batch.
    const prev = before[d];
    const suspect = ts <= prev ? 1 : 0;
    if (!(ts <= prev)) {
      before[d] = ts;
      if (raised[d] === 0) {
        raised[d] = 1;
        devices.push(d);
      }
    }
    const first = rows;
    const fields = r.fields;
    for (const field in fields) {
      if (!Object.prototype.hasOwnProperty.call(fields, field)) continue;
      const v = fields[field];
      const kind = typeof v;
      if (rows === cols.d.length) cols = grown(cols, rows);
      if (kind === 'number') {
        if (!Number.isFinite(v)) throw unstorable(i, r.device, field, v);
        cols.k[rows] = 0;
        cols.n[rows] = v as number;
        shape |= 1;
      } else if (kind === 'boolean') {
        cols.k[rows] = 1;
        cols.n[rows] = v ? 1 : 0;
        shape |= 2;
      } else if (kind === 'string') {
        cols.k[rows] = 2;
        cols.n[rows] = intern(texts, textList, v as string);
        shape |= 4;
      } else {
        throw unstorable(i, r.device, field, v);
      }
      cols.d[rows] = d;
      cols.t[rows] = ts;
      cols.f[rows] = intern(names, nameList, field);
      cols.g[rows] = g;
      cols.x[rows] = suspect;
      rows++;
    }
    if (suspect && rows > first) {
      suspects++;
      if (ts < lo) lo = ts;
      if (ts > hi) hi = ts;
    }
  }
  const latest = new Map<string, number>();
  for (const d of devices) latest.set(nameList[d - 1], before[d]);
  return { rows, cols, names: nameList, texts: textList, tags: tagList, shape, suspects, lo, hi, earliest, latest };
}

function unstorable(i: number, device: string, field: string, v: unknown): StoreFailedError {
  const before = `reading [${i}] of device "${device}": field "${field}" is `;
  const text = String(v);
  // The value is the sender's: its place is kept so a reader who may not see it is told its kind.
  const quoted = text === '' ? [] : [quotedValue(before.length, text, v, field)];
  return new StoreFailedError(`${before}${text}; only finite numbers, booleans and strings can be stored`, undefined, quoted.length ? { quoted } : {});
}

/** Raises the marks to cover a batch about to be written (before it runs: see the top of duckdb-write.ts). */
export function raiseMarks(marks: Map<string, number>, b: EncodedBatch): void {
  for (const [device, ts] of b.latest) {
    const m = marks.get(device);
    if (m === undefined || ts > m) marks.set(device, ts);
  }
}
