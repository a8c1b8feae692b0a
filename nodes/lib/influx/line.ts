/**
 * Readings to InfluxDB line protocol for the InfluxDB and VictoriaMetrics
 * sinks. The escaping rules were checked against the servers themselves
 * (the escaping tests of test/integration/influx-sink.test.ts), because they
 * differ from the v2 documentation in places:
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
import { shiftQuoted, StoreFailedError, type QuotedValue } from '../errors';
import { ALL_TAGS, mappedTag, type TagMap } from './tag-map';
import { storedTagValue, TAG_VALUES_TAKEN } from '../reading-tags';
import { LineBuffer } from './line-buffer';
import { escapeKey, escapeMeasurement, fieldText, naturalType, NEEDS_V1_TAG, NEEDS_V2_TAG, Refusal, show, timestampText } from './line-text';

export { fieldText, naturalType } from './line-text';

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
  /** Newline-separated lines (no trailing newline), UTF-8: what is posted. */
  bytes: Buffer;
  /** The same as text. */
  readonly body: string;
  lines: number;
  /** Readings that could not be written as they are: index in the batch and why. */
  refused: Array<{ index: number; reason: string; quoted?: QuotedValue[] }>;
  /** Text fields left out (victoria). */
  skippedText: number;
  /** Readings with nothing left to write (only text fields, victoria). */
  empty: number;
}

// Line protocol keys InfluxDB 1.x refuses (partial write) or, for a field among others, drops without a word.
const V1_RESERVED_KEY = 'time';

/** A field key as written and its type, for the measurement a batch is on. */
interface FieldSlot {
  key: string;
  type: FieldType;
}

/** A measurement as written and what a batch learnt on it: field slots, and the line start per device of a device-only reading. */
interface MeasurementEntry {
  text: string;
  fields: Map<string, FieldSlot>;
  /** `<measurement>,<device tag>=<device>`, escaped: the same for every reading of a device without other tags. */
  starts: Map<string, string>;
}

/**
 * What one batch learns as it goes: escaped measurements and, per measurement,
 * the escaped field keys with their types and the line starts of the devices,
 * so the checks and look-ups are made once per batch and not once per reading.
 * Only what was written without refusal is kept, so a refused reading is
 * checked again next time.
 */
class BatchCache {
  readonly measurements = new Map<string, MeasurementEntry>();
}

/** A first guess at a line's length: a device tag, a few fields and a timestamp. */
const BYTES_PER_LINE = 96;
/**
 * One line per reading: `<measurement>,<device tag>=<device>,<tags...> <fields> <ts>`.
 * Tags are sorted (what InfluxDB recommends); empty tag values are left out,
 * as line protocol has none. Readings that cannot be written are listed in
 * `refused` and left out of the body.
 */
export function encodeReadings(readings: readonly Reading[], opts: EncodeOptions): Encoded {
  const refused: Encoded['refused'] = [];
  const out = new LineBuffer(Math.max(4096, readings.length * BYTES_PER_LINE));
  let lines = 0;
  let skippedText = 0;
  let empty = 0;
  const ctx: LineContext = { opts, cache: new BatchCache(), out, skipped: 0, victoria: opts.victoria === true };
  for (let i = 0; i < readings.length; i++) {
    ctx.skipped = 0;
    const start = out.off;
    if (lines > 0) out.byte(0x0a);
    try {
      const written = encodeOne(readings[i], i, ctx);
      skippedText += ctx.skipped;
      if (written) lines++;
      else {
        out.off = start;
        empty++;
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      // Whatever the line had written so far goes: the body holds whole lines only.
      out.off = start;
      refused.push({ index: i, reason: err.message, ...(err.quoted.length ? { quoted: err.quoted } : {}) });
    }
  }
  const bytes = out.buf.subarray(0, out.off);
  return {
    bytes,
    get body() {
      return bytes.toString('utf8');
    },
    lines,
    refused,
    skippedText,
    empty,
  };
}

interface LineContext {
  opts: EncodeOptions;
  cache: BatchCache;
  out: LineBuffer;
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
  return kind === 'tag value' ? escapeKey(s, dialect, kind, `${who(r)}, tag ${show(tag)}`, tag) : escapeKey(s, dialect, kind, who(r));
}

function measurementOf(m: string, ctx: LineContext, r: Reading): MeasurementEntry {
  let e = ctx.cache.measurements.get(m);
  if (!e) {
    e = { text: escapeMeasurement(m, ctx.opts.dialect, who(r)), fields: new Map(), starts: new Map() };
    ctx.cache.measurements.set(m, e);
  }
  return e;
}

/**
 * A tag's value as written (reading-tags.ts, the rule of every sink); undefined
 * when it is left out (empty values too, which line protocol has none of).
 */
function tagValue(r: Reading, k: string, v: unknown): string | undefined {
  const text = storedTagValue(v);
  if (typeof text === 'object') throw new Refusal(`${who(r)}: tag ${show(k)} is ${text.unstorable}; ${TAG_VALUES_TAKEN}`);
  return text;
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
    if (tagValue(r, k, tags[k]) === undefined) continue;
    keys.push(k);
  }
  if (r.device !== '') keys.push(deviceTag);
  if (keys.length > 1) keys.sort();
  let out = '';
  for (const k of keys) {
    if (dialect === 'v1' && k === V1_RESERVED_KEY) throw new Refusal(`${who(r)}: a tag named "time", which InfluxDB 1.x refuses`);
    const v = k === deviceTag ? r.device : (tagValue(r, k, tags[k]) as string);
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
    const to = mappedTag(map, k);
    if (to === undefined) continue;
    const v = tagValue(r, k, tags[k]);
    if (v === undefined) continue;
    // A tag listed by name wins over one `*` brings along under the same name.
    if (map.rename.has(k)) (named ??= new Set()).add(to);
    else if (named?.has(to)) continue;
    out.set(to, v);
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

/** Writes the reading's line into ctx.out; false when nothing was left to write (victoria's text fields). */
function encodeOne(r: Reading, i: number, ctx: LineContext): boolean {
  if (typeof r !== 'object' || r === null || typeof r.device !== 'string' || typeof r.fields !== 'object' || r.fields === null) {
    throw new Refusal(`reading [${i}] is not a Reading with a device and fields`);
  }
  const { dialect, precision, mapping, types } = ctx.opts;
  const out = ctx.out;
  const ts = r.ts;
  if (!Number.isFinite(ts) || Math.abs(ts) > 8.64e15) throw new Refusal(`${who(r)}: ts ${String(ts)} is not epoch milliseconds`);
  // VictoriaMetrics answers 204 to a sample before 1970 and keeps nothing of it: refused here, it is dead-lettered instead of lost.
  if (ctx.victoria && ts < 0) throw new Refusal(`${who(r)}: ts ${new Date(ts).toISOString()} is before 1970, which VictoriaMetrics cannot keep`);
  const tags = (r.tags && typeof r.tags === 'object' ? r.tags : undefined) as Record<string, unknown> | undefined;
  const fromTag = mapping.measurementTag && tags ? tags[mapping.measurementTag] : undefined;
  const measurement = typeof fromTag === 'string' && fromTag !== '' ? fromTag : mapping.measurement;
  const meas = measurementOf(measurement, ctx, r);
  if (tags && hasOwnKey(tags)) out.text(meas.text + tagsText(r, tags, mapping, dialect));
  else if (r.device !== '') {
    // The usual reading: the device tag alone, its line start escaped once per batch.
    let start = meas.starts.get(r.device);
    if (start === undefined) {
      if (dialect === 'v1' && mapping.deviceTag === V1_RESERVED_KEY) throw new Refusal(`${who(r)}: a tag named "time", which InfluxDB 1.x refuses`);
      start = `${meas.text},${tagText(mapping.deviceTag, dialect, 'tag key', r, mapping.deviceTag)}=${tagText(r.device, dialect, 'tag value', r, mapping.deviceTag)}`;
      meas.starts.set(r.device, start);
    }
    out.text(start);
  } else out.text(meas.text);
  let sep = 0x20;
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
    out.byte(sep);
    out.text(slot.key);
    out.byte(0x3d);
    // The usual value: a finite number for a float field.
    if (slot.type === 'float' && typeof v === 'number' && Number.isFinite(v)) {
      if (Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0)) out.integer(v);
      else if (!out.decimal(v)) out.text(v === 0 ? '-0' : `${v}`);
    } else out.text(fieldText(v, slot.type, dialect, `${who(r)}: field ${show(f)}`, f));
    sep = 0x2c;
    n++;
  }
  if (n === 0) {
    if (ctx.skipped) return false;
    throw new Refusal(`${who(r)}: the reading has no fields; a point needs at least one`);
  }
  if (learnt) {
    for (const [f, slot] of learnt) {
      if (types.get(measurement, f) === undefined) types.learn(measurement, f, slot.type);
      meas.fields.set(f, slot);
    }
  }
  out.byte(0x20);
  if (precision === 'ms' && Number.isSafeInteger(ts)) out.integer(ts);
  else out.text(timestampText(Math.round(ts), precision));
  return true;
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
  const before = `${sink} cannot take `;
  // The refused values the reason shows move with it, so a dead letter can tell them by kind.
  return new StoreFailedError(`${before}${first.reason}${more}`, undefined, first.quoted ? shiftQuoted({ quoted: first.quoted }, before.length) : {});
}
