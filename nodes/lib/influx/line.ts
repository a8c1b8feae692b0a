/**
 * Readings to InfluxDB line protocol for the InfluxDB and VictoriaMetrics
 * sinks. The escaping rules were checked against the servers themselves
 * (test/integration/influx-escaping.test.ts), because they differ from the
 * v2 documentation in places:
 *
 * - `v1` (InfluxDB 1.x, Debian's 1.6.7): in measurements, tag keys, tag values
 *   and field keys a backslash is an escape only before `,`, ` `, `=` (and `"`
 *   in field keys and measurements); any other backslash, `\\` included, is
 *   stored as it is. So a literal backslash is written as it is and the
 *   specials are prefixed; a name or tag value that *ends* in a backslash
 *   cannot be written at all (the server takes it as escaping the separator).
 * - `v2` (InfluxDB 2.x/3.x, VictoriaMetrics): `\\` is one backslash, so
 *   backslashes are doubled and the specials prefixed; everything round-trips.
 *
 * String field values are the same everywhere: `\` and `"` are prefixed.
 * Whatever cannot be written exactly is refused with a reason naming the
 * reading and the field or tag (a dead letter), never changed silently.
 */
import type { FieldValue, Reading } from '../reading';
import { StoreFailedError } from '../errors';
import { ALL_TAGS, mappedTag, type TagMap } from './tag-map';

export type Dialect = 'v1' | 'v2';
export type Precision = 'ns' | 'us' | 'ms' | 's';
export type FieldType = 'float' | 'integer' | 'unsigned' | 'boolean' | 'string';
export const FIELD_TYPES: readonly FieldType[] = ['float', 'integer', 'unsigned', 'boolean', 'string'];

/** How readings map onto points. */
export interface PointMapping {
  /** Measurement of readings that do not name their own (default `telemetry`). */
  measurement: string;
  /** A reading tag whose value is the point's measurement (line protocol inputs keep it in `measurement`); '' for none. */
  measurementTag: string;
  /** Tag key the device id is written under (default `device`). */
  deviceTag: string;
  /** Which reading tags are written and under what names (tag-map.ts); absent: all, as they are. */
  tags?: TagMap;
}

export const DEFAULT_MAPPING: PointMapping = { measurement: 'telemetry', measurementTag: 'measurement', deviceTag: 'device' };

/** Where a field's type comes from: declared (schema, settings) or learnt the first time the field was written. */
export interface FieldTypeSource {
  /** The type a field has, or undefined when it was never seen. */
  get(measurement: string, field: string): FieldType | undefined;
  /** Records the type of a field seen for the first time. */
  learn(measurement: string, field: string, type: FieldType): void;
}

export interface EncodeOptions {
  dialect: Dialect;
  precision: Precision;
  mapping: PointMapping;
  types: FieldTypeSource;
  /**
   * VictoriaMetrics (checked on 1.79): it keeps numbers only, so text fields are
   * left out (and counted) instead of being stored as 0; and a `"` in a field
   * key makes it read the rest of the line as a string, so such a field is refused.
   */
  victoria?: boolean;
}

export interface Encoded {
  /** Newline-separated lines (no trailing newline). */
  body: string;
  lines: number;
  /** Readings that could not be written as they are: index in the batch and why. */
  refused: Array<{ index: number; reason: string }>;
  /** Text fields left out (victoria). */
  skippedText: number;
  /** Readings with nothing left to write (only text fields, victoria). */
  empty: number;
}

const NEEDS_V1_TAG = /[,= \n\r]|\\$/;
const NEEDS_V2_TAG = /[,= \\\n\r]/;
const NEEDS_V1_MEAS = /[,= "\n\r]|\\$|^#/;
const NEEDS_V2_MEAS = /[, \\\n\r]|^#/;
const NEEDS_STRING = /["\\]/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;
const FLOAT_TEXT = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;
const INT_TEXT = /^\s*[-+]?\d{1,20}\s*$/;
// Line protocol keys InfluxDB 1.x refuses (partial write) or, for a field among others, drops without a word.
const V1_RESERVED_KEY = 'time';

class Refusal extends Error {}

function show(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);
}

/**
 * Escapes a measurement, tag key, tag value or field key. `kind` says which,
 * for the message and for `"` (escaped in v1 field keys and measurements, where
 * 1.x unescapes `\"`; literal in tags).
 */
function escapeKey(s: string, dialect: Dialect, kind: 'measurement' | 'tag key' | 'tag value' | 'field key', where: string): string {
  if (s === '') throw new Refusal(`${where}: the ${kind} is empty, which line protocol cannot carry`);
  const quote = kind === 'field key';
  if (dialect === 'v1') {
    if (!NEEDS_V1_TAG.test(s) && !(quote && s.includes('"'))) return s;
  } else if (!NEEDS_V2_TAG.test(s)) {
    return s;
  }
  if (/[\n\r]/.test(s)) throw new Refusal(`${where}: the ${kind} ${show(s)} contains a line break, which line protocol cannot carry`);
  if (dialect === 'v1') {
    if (s.endsWith('\\')) throw new Refusal(`${where}: the ${kind} ${show(s)} ends with a backslash, which InfluxDB 1.x cannot store (it reads it as escaping the separator that follows)`);
    return s.replace(quote ? /[,= "]/g : /[,= ]/g, '\\$&');
  }
  return s.replace(/[\\,= ]/g, '\\$&');
}

function escapeMeasurement(s: string, dialect: Dialect, where: string): string {
  if (s === '') throw new Refusal(`${where}: the measurement is empty`);
  if (!(dialect === 'v1' ? NEEDS_V1_MEAS : NEEDS_V2_MEAS).test(s)) return s;
  if (/[\n\r]/.test(s)) throw new Refusal(`${where}: the measurement ${show(s)} contains a line break, which line protocol cannot carry`);
  if (s.startsWith('#')) throw new Refusal(`${where}: the measurement ${show(s)} starts with "#", which line protocol reads as a comment`);
  if (dialect === 'v1') {
    if (s.endsWith('\\')) throw new Refusal(`${where}: the measurement ${show(s)} ends with a backslash, which InfluxDB 1.x cannot store`);
    return s.replace(/[,= "]/g, '\\$&');
  }
  return s.replace(/[\\, ]/g, '\\$&');
}

function stringField(v: string): string {
  return NEEDS_STRING.test(v) ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`;
}

function floatText(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

/** The type a value gets when its field is seen for the first time: JS numbers are floats. */
export function naturalType(v: FieldValue): FieldType {
  return typeof v === 'number' ? 'float' : typeof v === 'boolean' ? 'boolean' : 'string';
}

/**
 * A value as its field's type, converted only when nothing is lost (20 for an
 * integer field, "20.5" for a float field, 7 for a text field); otherwise a
 * refusal that says why.
 */
export function fieldText(v: unknown, type: FieldType, dialect: Dialect, where: string): string {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw new Refusal(`${where} is ${v}; InfluxDB stores no NaN or Infinity`);
      break;
    case 'string':
    case 'boolean':
      break;
    default:
      throw new Refusal(`${where} is ${v === null ? 'null' : typeof v}; only numbers, booleans and text can be written`);
  }
  switch (type) {
    case 'float':
      if (typeof v === 'number') return floatText(v);
      if (typeof v === 'string' && FLOAT_TEXT.test(v) && Number.isFinite(Number(v))) return floatText(Number(v));
      break;
    case 'integer':
    case 'unsigned': {
      let n: bigint | undefined;
      if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
      else if (typeof v === 'string' && INT_TEXT.test(v)) n = BigInt(v.trim());
      if (n === undefined) {
        if (typeof v === 'number') throw new Refusal(`${where} is ${v}, but the field is an ${type === 'integer' ? 'integer' : 'unsigned integer'} in this store; writing it would drop the fraction`);
        break;
      }
      // 1.x has no unsigned type: such fields are written as integers there.
      const unsigned = type === 'unsigned' && dialect === 'v2';
      const [lo, hi] = unsigned ? [0n, UINT64_MAX] : [type === 'unsigned' ? 0n : INT64_MIN, INT64_MAX];
      if (n < lo || n > hi) throw new Refusal(`${where} is ${String(v)}, outside the range of ${unsigned ? 'an unsigned' : 'a signed'} 64-bit integer field`);
      return `${n}${unsigned ? 'u' : 'i'}`;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      if (v === 'true' || v === 'false') return v;
      break;
    case 'string':
      // Numbers and booleans have one exact text form.
      if (typeof v === 'string') return stringField(v);
      return stringField(typeof v === 'number' ? floatText(v) : String(v));
  }
  throw new Refusal(`${where} is ${typeof v === 'string' ? show(v) : String(v)} (${typeof v}), but the field is ${type === 'integer' || type === 'unsigned' ? 'an' : 'a'} ${type} field in this store and the value cannot be converted without loss`);
}

const NS_FACTOR: Record<Precision, bigint> = { ns: 1_000_000n, us: 1_000n, ms: 1n, s: 1n };

function timestampText(ms: number, precision: Precision): string {
  if (precision === 'ms') return String(ms);
  if (precision === 's') return String(Math.floor(ms / 1000));
  return String(BigInt(ms) * NS_FACTOR[precision]);
}

/** A field key as written and its type, for the measurement a batch is on. */
interface FieldSlot {
  key: string;
  type: FieldType;
}

/**
 * What one batch learns as it goes: escaped measurements and, per measurement,
 * the escaped field keys with their types, so the checks and look-ups are made
 * once per batch and not once per reading. Only what was written without
 * refusal is kept, so a refused reading is checked again next time.
 */
class BatchCache {
  readonly measurements = new Map<string, { text: string; fields: Map<string, FieldSlot> }>();
}

/**
 * One line per reading: `<measurement>,<device tag>=<device>,<tags...> <fields> <ts>`.
 * Tags are sorted (what InfluxDB recommends); empty tag values are left out,
 * as line protocol has none. Readings that cannot be written are listed in
 * `refused` and left out of the body.
 */
export function encodeReadings(readings: readonly Reading[], opts: EncodeOptions): Encoded {
  const refused: Encoded['refused'] = [];
  const cache = new BatchCache();
  let body = '';
  let lines = 0;
  let skippedText = 0;
  let empty = 0;
  const ctx: LineContext = { opts, cache, skipped: 0, victoria: opts.victoria === true };
  for (let i = 0; i < readings.length; i++) {
    ctx.skipped = 0;
    try {
      const line = encodeOne(readings[i], i, ctx);
      skippedText += ctx.skipped;
      if (line === undefined) empty++;
      else {
        body = lines === 0 ? line : `${body}\n${line}`;
        lines++;
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      refused.push({ index: i, reason: err.message });
    }
  }
  return { body, lines, refused, skippedText, empty };
}

interface LineContext {
  opts: EncodeOptions;
  cache: BatchCache;
  /** Text fields the current reading left out (victoria). */
  skipped: number;
  victoria: boolean;
}

function who(r: Reading): string {
  return `device ${show(r.device)}`;
}

/** A tag key or value: as it is when nothing needs escaping (the usual case), else through escapeKey. */
function tagText(s: string, dialect: Dialect, kind: 'tag key' | 'tag value', r: Reading, tag: string): string {
  if (s !== '' && !(dialect === 'v1' ? NEEDS_V1_TAG : NEEDS_V2_TAG).test(s)) return s;
  return escapeKey(s, dialect, kind, kind === 'tag value' ? `${who(r)}, tag ${show(tag)}` : who(r));
}

function measurementOf(m: string, ctx: LineContext, r: Reading): { text: string; fields: Map<string, FieldSlot> } {
  let e = ctx.cache.measurements.get(m);
  if (!e) {
    e = { text: escapeMeasurement(m, ctx.opts.dialect, who(r)), fields: new Map() };
    ctx.cache.measurements.set(m, e);
  }
  return e;
}

/** Tags in the order written: sorted by the written key, the device among them. */
function tagsText(r: Reading, tags: Record<string, unknown>, mapping: PointMapping, dialect: Dialect): string {
  const map = mapping.tags === undefined || mapping.tags === ALL_TAGS ? undefined : mapping.tags;
  if (map) return mappedTagsText(r, tags, map, mapping, dialect);
  const deviceTag = mapping.deviceTag;
  const measurementTag = mapping.measurementTag;
  // Every tag as it is: an object has no duplicate keys, so no tag replaces another.
  const keys: string[] = [];
  for (const k in tags) {
    if (!Object.prototype.hasOwnProperty.call(tags, k) || k === measurementTag || k === deviceTag) continue;
    const v = tags[k];
    if (v === undefined || v === null || v === '') continue;
    keys.push(k);
  }
  if (r.device !== '') keys.push(deviceTag);
  if (keys.length > 1) keys.sort();
  let out = '';
  for (const k of keys) {
    if (dialect === 'v1' && k === V1_RESERVED_KEY) throw new Refusal(`${who(r)}: a tag named "time", which InfluxDB 1.x refuses`);
    const v = k === deviceTag ? r.device : String(tags[k]);
    out += `,${tagText(k, dialect, 'tag key', r, k)}=${tagText(v, dialect, 'tag value', r, k)}`;
  }
  return out;
}

/** Tags through the sink's tag mapping (renamed, left out, or only those listed). */
function mappedTagsText(r: Reading, tags: Record<string, unknown>, map: TagMap, mapping: PointMapping, dialect: Dialect): string {
  const out = new Map<string, string>();
  let named: Set<string> | undefined;
  for (const k in tags) {
    if (!Object.prototype.hasOwnProperty.call(tags, k) || k === mapping.measurementTag || k === mapping.deviceTag) continue;
    const v = tags[k];
    if (v === undefined || v === null || v === '') continue;
    const to = mappedTag(map, k);
    if (to === undefined) continue;
    // A tag listed by name wins over one `*` brings along under the same name.
    if (map.rename.has(k)) (named ??= new Set()).add(to);
    else if (named?.has(to)) continue;
    out.set(to, String(v));
  }
  if (r.device !== '') out.set(mapping.deviceTag, r.device);
  let text = '';
  for (const k of [...out.keys()].sort()) {
    if (dialect === 'v1' && k === V1_RESERVED_KEY) throw new Refusal(`${who(r)}: a tag named "time", which InfluxDB 1.x refuses`);
    text += `,${tagText(k, dialect, 'tag key', r, k)}=${tagText(out.get(k)!, dialect, 'tag value', r, k)}`;
  }
  return text;
}

function hasOwnKey(o: object): boolean {
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) return true;
  return false;
}

function encodeOne(r: Reading, i: number, ctx: LineContext): string | undefined {
  if (typeof r !== 'object' || r === null || typeof r.device !== 'string' || typeof r.fields !== 'object' || r.fields === null) {
    throw new Refusal(`reading [${i}] is not a Reading with a device and fields`);
  }
  const { dialect, precision, mapping, types } = ctx.opts;
  const ts = r.ts;
  if (!Number.isFinite(ts) || Math.abs(ts) > 8.64e15) throw new Refusal(`${who(r)}: ts ${String(ts)} is not epoch milliseconds`);
  const tags = (r.tags && typeof r.tags === 'object' ? r.tags : undefined) as Record<string, unknown> | undefined;
  const fromTag = mapping.measurementTag && tags ? tags[mapping.measurementTag] : undefined;
  const measurement = typeof fromTag === 'string' && fromTag !== '' ? fromTag : mapping.measurement;
  const meas = measurementOf(measurement, ctx, r);
  let line = meas.text;
  if (tags && hasOwnKey(tags)) line += tagsText(r, tags, mapping, dialect);
  else if (r.device !== '') {
    // The usual reading: the device tag alone.
    if (dialect === 'v1' && mapping.deviceTag === V1_RESERVED_KEY) throw new Refusal(`${who(r)}: a tag named "time", which InfluxDB 1.x refuses`);
    line += `,${tagText(mapping.deviceTag, dialect, 'tag key', r, mapping.deviceTag)}=${tagText(r.device, dialect, 'tag value', r, mapping.deviceTag)}`;
  }
  let sep = ' ';
  let n = 0;
  // Fields seen for the first time in this reading: their types are learnt once the whole reading is written.
  let learnt: Array<[string, FieldSlot]> | undefined;
  const fields = r.fields;
  for (const f in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, f)) continue;
    const v = fields[f];
    let slot = meas.fields.get(f);
    if (slot === undefined) {
      if (ctx.victoria && typeof v === 'string') {
        ctx.skipped++;
        continue;
      }
      slot = newField(r, measurement, f, v, ctx);
      (learnt ??= []).push([f, slot]);
    } else if (ctx.victoria && typeof v === 'string') {
      ctx.skipped++;
      continue;
    }
    let text: string;
    // The usual value: a finite number for a float field.
    if (slot.type === 'float' && typeof v === 'number' && Number.isFinite(v)) text = v === 0 && 1 / v < 0 ? '-0' : `${v}`;
    else text = fieldText(v, slot.type, dialect, `${who(r)}: field ${show(f)}`);
    line += `${sep}${slot.key}=${text}`;
    sep = ',';
    n++;
  }
  if (n === 0) {
    if (ctx.skipped) return undefined;
    throw new Refusal(`${who(r)}: the reading has no fields; a point needs at least one`);
  }
  if (learnt) {
    for (const [f, slot] of learnt) {
      if (types.get(measurement, f) === undefined) types.learn(measurement, f, slot.type);
      meas.fields.set(f, slot);
    }
  }
  return `${line} ${precision === 'ms' && Number.isInteger(ts) ? `${ts}` : timestampText(Math.round(ts), precision)}`;
}

/** The checks made the first time a batch meets a field: name allowed, key escaped, type known or taken from the value. */
function newField(r: Reading, measurement: string, f: string, v: unknown, ctx: LineContext): FieldSlot {
  const dialect = ctx.opts.dialect;
  if (dialect === 'v1' && f === V1_RESERVED_KEY) throw new Refusal(`${who(r)}: a field named "time", which InfluxDB 1.x refuses (or drops without a word)`);
  if (ctx.victoria && f.includes('"')) throw new Refusal(`${who(r)}: field ${show(f)}: VictoriaMetrics cannot take a double quote in a field name (it reads the rest of the line as text)`);
  const key = escapeKey(f, dialect, 'field key', who(r));
  const type = ctx.opts.types.get(measurement, f) ?? naturalType(v as FieldValue);
  return { key, type };
}

/** Throws StoreFailedError naming what was refused, so the writer isolates those readings and dead-letters them. */
export function refusalError(refused: Encoded['refused'], sink: string): StoreFailedError {
  const first = refused[0];
  const more = refused.length > 1 ? ` (and ${refused.length - 1} more reading(s) of this batch)` : '';
  return new StoreFailedError(`${sink} cannot take ${first.reason}${more}`);
}
