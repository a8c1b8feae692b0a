/**
 * InfluxDB line protocol, parse and serialize, per
 * https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
 *
 * Mapping to the Reading contract (kept deliberately simple):
 * - the measurement always goes to tags.measurement;
 * - device = the `device` tag if the line has one, else the measurement; the
 *   `device` tag itself is not kept in tags, since it is the reading's device;
 * - ts is epoch ms (sub-millisecond digits are dropped); a line without a
 *   timestamp gives a reading without ts, so normalizeReadings() fills in the
 *   time of receipt, as InfluxDB would use the server's time.
 * Serializing reverses this: measurement = tags.measurement ?? device, and a
 * `device` tag is written whenever the device differs from the measurement.
 */
import type { FieldValue, Reading } from '../reading';
import { ConfigError, DecodeError, InvalidReadingError, StringTooLongError, TooManyFieldsError } from '../errors';
import { DEFAULT_LIMITS, tooManyFields, tooManyReadings, type Limits } from '../limits';
import { put } from '../reading-flatten';
import { decodeUtf8 } from './text';

export type Precision = 'ns' | 'us' | 'ms' | 's';

/** Why one line is refused while the others are read: it does not parse, or it is over a per-reading limit. */
export type LineError = DecodeError | TooManyFieldsError | StringTooLongError;

/** A parsed line: a Reading whose ts is absent when the line carried no timestamp. */
export interface LineReading {
  device: string;
  ts?: number;
  fields: Record<string, FieldValue>;
  tags: Record<string, string>;
}

const NS_PER: Record<Precision, bigint> = { ns: 1_000_000n, us: 1_000n, ms: 1n, s: 1n };
/** Nanoseconds in one unit of each precision. */
export const NS_IN: Record<Precision, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n };
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** The epoch milliseconds 64-bit nanoseconds reach: 1677-09-21T00:12:43.145Z to 2262-04-11T23:47:16.854Z. */
export const LINE_TIME_MS = { min: -9_223_372_036_854, max: 9_223_372_036_854 };
export const TIME_RANGE = '1677-09-21 to 2262-04-11 UTC';
const UINT64_MAX = 2n ** 64n - 1n;
const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);
const FLOAT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Quotes a name or value for an error message, cut short so a huge line cannot flood the log. */
function q(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

function typeName(v: FieldValue): string {
  return typeof v === 'number' ? 'number' : typeof v;
}

export function checkPrecision(precision: unknown): Precision {
  if (precision === undefined) return 'ns';
  if (precision === 'ns' || precision === 'us' || precision === 'ms' || precision === 's') return precision;
  throw new ConfigError(`line protocol precision must be ns, us, ms or s, not "${String(precision)}"`, { precision });
}

/**
 * Parses the line of `s` that starts at `start` and ends at `end` (its line
 * break or a trailing CR). A quoted string field value may run past `end`: as
 * in InfluxDB, a line break inside the quotes is part of the string, and the
 * line then ends at the first line break after the closing quote (`end` moves;
 * the caller reads it back).
 */
class LineParser {
  private p = 0;
  constructor(private readonly s: string, private readonly start: number, public end: number, private readonly lineNo: number, private readonly lineStartByte: number, private readonly limits: Limits) {}

  byteAt(at: number): number {
    return this.lineStartByte + Buffer.byteLength(this.s.slice(this.start, at), 'utf8');
  }

  /** `value`: the field's value the message quotes (its text as q() writes it, after "value "), and what it is. */
  fail(message: string, at = this.p, value?: { field: string; text: string; kind: string }): never {
    const column = at - this.start + 1;
    const offset = this.byteAt(at);
    const full = `line protocol line ${this.lineNo}, column ${column}: ${message}`;
    const quoted = value ? [{ at: full.length - message.length + message.indexOf(`value ${value.text}`) + 6, ...value }] : undefined;
    throw new DecodeError(full, { format: 'lineprotocol', line: this.lineNo, column, offset, ...(quoted ? { quoted } : {}) });
  }

  /** Reads up to an unescaped stop character. `\\` and `\<special>` unescape; any other backslash is literal. */
  token(stops: string, specials: string): string {
    let out = '';
    const { s, end } = this;
    while (this.p < end) {
      const ch = s[this.p];
      if (ch === '\\' && this.p + 1 < end && (s[this.p + 1] === '\\' || specials.includes(s[this.p + 1]))) {
        out += s[this.p + 1];
        this.p += 2;
        continue;
      }
      if (stops.includes(ch)) break;
      out += ch;
      this.p++;
    }
    return out;
  }

  /** `from` skips leading whitespace while columns still count from the real line start. */
  parse(precision: Precision, from: number): LineReading {
    const { s } = this;
    this.p = this.start + from;
    const measurement = this.token(', ', ', ');
    if (measurement === '') this.fail('the measurement name is missing');
    const tags: Record<string, string> = {};
    let tagCount = 0;
    while (s[this.p] === ',') {
      this.p++;
      const keyAt = this.p;
      // Checked here, where the line is known, rather than on the reading later, which has no line to name.
      if (++tagCount > this.limits.maxFields) {
        const error = tooManyFields(this.limits, { format: 'lineprotocol', line: this.lineNo, offset: this.byteAt(keyAt), what: 'tags' });
        this.skipFields();
        throw error;
      }
      const key = this.token(',= ', ',= ');
      if (key === '') this.fail('a tag key is missing after the comma');
      if (s[this.p] !== '=') this.fail(`tag ${q(key)} has no "=value"`, keyAt);
      this.p++;
      const valueAt = this.p;
      // The spec asks for \= in tag values, but the key already ended at the first "=", so a bare one is unambiguous.
      const value = this.token(', ', ',= ');
      if (value === '') this.fail(`tag ${q(key)} has an empty value (omit the tag instead)`, valueAt);
      // InfluxDB refuses the point rather than pick one of the values: which the sender meant is unknowable.
      if (Object.hasOwn(tags, key)) this.fail(`tag ${q(key)} appears twice (duplicate tags)`, keyAt);
      // The reading keeps the measurement as this tag: another value would be lost without a word.
      if (key === 'measurement' && value !== measurement) {
        this.fail(`tag "measurement" is ${q(value)}, but the measurement is ${q(measurement)}, which is kept as the tag measurement: rename the tag`, keyAt);
      }
      put(tags, key, value);
    }
    if (s[this.p] !== ' ') this.fail(`measurement ${q(measurement)} has no fields: expected a space and then key=value`);
    this.skipSpaces();
    const fields = this.fieldSet();
    let ts: number | undefined;
    if (s[this.p] === ' ' && this.p < this.end) {
      this.skipSpaces();
      if (this.p < this.end) ts = this.timestamp(precision);
    }
    const { device, ...rest } = tags;
    return { device: device ?? measurement, ...(ts === undefined ? {} : { ts }), fields, tags: { ...rest, measurement } };
  }

  // Only spaces separate the sections (the format is whitespace-sensitive); a run of them is tolerated.
  private skipSpaces(): void {
    while (this.p < this.end && this.s[this.p] === ' ') this.p++;
  }

  private fieldSet(): Record<string, FieldValue> {
    const { s } = this;
    const fields: Record<string, FieldValue> = {};
    let count = 0;
    for (;;) {
      const keyAt = this.p;
      if (++count > this.limits.maxFields) {
        const error = tooManyFields(this.limits, { format: 'lineprotocol', line: this.lineNo, offset: this.byteAt(keyAt) });
        this.skipFields();
        throw error;
      }
      const key = this.token(',= ', ',= ');
      if (key === '') this.fail(this.p >= this.end ? 'the field set is missing after the space' : 'a field key is missing');
      if (s[this.p] !== '=') this.fail(`field ${q(key)} has no "=value"`, keyAt);
      this.p++;
      const valueAt = this.p;
      const value = s[this.p] === '"' && this.p < this.end ? this.stringValue(key) : this.scalarValue(key);
      // As InfluxDB: a field given twice keeps the last value, unless the two are of different types.
      if (Object.hasOwn(fields, key) && typeof fields[key] !== typeof value) {
        this.fail(`field ${q(key)} is given twice, as a ${typeName(fields[key])} and as a ${typeName(value)} (field type conflict)`, valueAt);
      }
      put(fields, key, value);
      if (this.p < this.end && s[this.p] === ',') {
        this.p++;
        continue;
      }
      if (this.p < this.end && s[this.p] !== ' ') this.fail(`expected "," or a space after the value of field ${q(key)}, found ${q(s[this.p])}`);
      return fields;
    }
  }

  private stringValue(key: string): string {
    const { s } = this;
    const start = this.p;
    const max = this.limits.maxStringLength;
    let out = '';
    for (this.p++; this.p < s.length; this.p++) {
      const ch = s[this.p];
      if (ch === '"') {
        this.p++;
        // A line break inside the quotes belonged to the string: the line goes on to the next one.
        if (this.p > this.end) {
          const next = s.indexOf('\n', this.p);
          this.end = next === -1 ? s.length : next > this.p && s[next - 1] === '\r' ? next - 1 : next;
        }
        return out;
      }
      if (out.length >= max) {
        const error = new StringTooLongError({ limit: max, format: 'lineprotocol', line: this.lineNo, offset: this.byteAt(start), path: `field ${q(key)}` });
        this.p = start;
        this.skipFields();
        throw error;
      }
      if (ch === '\\' && (s[this.p + 1] === '"' || s[this.p + 1] === '\\')) {
        out += s[++this.p];
        continue;
      }
      out += ch;
    }
    return this.fail(`the string value of field ${q(key)} has no closing double quote`, start);
  }

  /**
   * Moves `end` past the rest of a refused line's field set without building anything, so that line
   * breaks inside its quoted string values stay part of it and the next line is read where it starts.
   * A string value starts at a quote right after "=".
   */
  private skipFields(): void {
    const { s } = this;
    let quoted = false;
    for (let i = this.p; i < s.length; i++) {
      const ch = s[i];
      if (quoted) {
        if (ch === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) i++;
        else if (ch === '"') quoted = false;
      } else if (ch === '"' && s[i - 1] === '=') {
        quoted = true;
      } else if (ch === '\n' || (ch === '\r' && s[i + 1] === '\n')) {
        if (i > this.end) this.end = i;
        return;
      }
    }
    if (!quoted) this.end = Math.max(this.end, s.length);
  }

  private scalarValue(key: string): FieldValue {
    const at = this.p;
    const raw = this.token(', ', '');
    if (raw === '') this.fail(`field ${q(key)} has no value`, at);
    const last = raw[raw.length - 1];
    if ((last === 'i' || last === 'u') && /^[-+]?\d+$/.test(raw.slice(0, -1))) {
      // More than 20 digits cannot fit 64 bits; checking first spares BigInt a huge parse.
      const n = raw.length > 22 ? UINT64_MAX + 1n : BigInt(raw.slice(0, -1));
      const [lo, hi, kind] = last === 'i' ? [INT64_MIN, INT64_MAX, 'a signed 64-bit integer'] : [0n, UINT64_MAX, 'an unsigned 64-bit integer'];
      if (n < lo || n > hi) this.fail(`field ${q(key)} value ${q(raw)} is out of range for ${kind}`, at, { field: key, text: q(raw), kind: '(a number)' });
      return Number(n);
    }
    if (TRUE.has(raw)) return true;
    if (FALSE.has(raw)) return false;
    if (FLOAT.test(raw)) {
      const n = Number(raw);
      if (!Number.isFinite(n)) this.fail(`field ${q(key)} value ${q(raw)} is too large for a 64-bit float`, at, { field: key, text: q(raw), kind: '(a number)' });
      return n;
    }
    // Told to a reader who may not see the value as what it is: text the sender did not put in quotes.
    return this.fail(`field ${q(key)} has value ${q(raw)}, which is not a float, an integer (12i), an unsigned integer (12u), a boolean or a "double-quoted string"`, at, { field: key, text: q(raw), kind: '(text without quotes)' });
  }

  private timestamp(precision: Precision): number {
    const at = this.p;
    const raw = this.token(' ', '');
    if (!/^-?\d+$/.test(raw)) this.fail(`timestamp ${q(raw)} must be an integer (unix time in ${precision})`, at);
    this.skipSpaces();
    if (this.p < this.end) this.fail(`unexpected text after the timestamp: ${q(this.s.slice(this.p, this.end))}`);
    const t = raw.length > 21 ? INT64_MAX + 1n : BigInt(raw);
    if (t < INT64_MIN || t > INT64_MAX) this.fail(`timestamp ${q(raw)} is outside the 64-bit range`, at);
    // Line protocol time is 64-bit nanoseconds whatever the precision it is sent in, as InfluxDB
    // checks it: 1677-09-21 to 2262-04-11. A coarser precision scales a value past that range.
    const ns = precision === 'ns' ? t : t * NS_IN[precision];
    if (ns < INT64_MIN || ns > INT64_MAX) this.fail(`timestamp ${q(raw)} in ${precision} is outside the time line protocol can carry (${TIME_RANGE})`, at);
    // Integer division truncates toward zero; flooring keeps pre-1970 times in the right millisecond.
    if (precision === 's') return Number(t * 1000n);
    const div = NS_PER[precision];
    const quotient = t / div;
    return Number(t < 0n && quotient * div !== t ? quotient - 1n : quotient);
  }
}

/**
 * Parses every line of the payload. Without `onBadLine` the first bad line
 * throws; with it, each bad line (one that does not parse, or holds more fields
 * or a longer string than a reading may) is reported (its number and text, up to its
 * line break) and parsing goes on with the next line, as InfluxDB does.
 * `lineNumbers`, when given, gets the line number of each reading returned.
 */
export function parseLineProtocol(buf: Uint8Array, precision: Precision = 'ns', limits: Limits = DEFAULT_LIMITS, onBadLine?: (err: LineError, lineNo: number, text: string) => void, lineNumbers?: number[]): LineReading[] {
  checkPrecision(precision);
  const { text, bomBytes } = decodeUtf8(buf, 'lineprotocol', 'line protocol payload');
  const readings: LineReading[] = [];
  let lineStartByte = bomBytes;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let next = text.indexOf('\n', start);
    if (next === -1) next = text.length;
    lineNo++;
    const end = next > start && text[next - 1] === '\r' ? next - 1 : next;
    const line = text.slice(start, end);
    const body = line.trimStart();
    if (body !== '' && body[0] !== '#') {
      if (readings.length === limits.maxReadings) throw tooManyReadings(limits, { format: 'lineprotocol', line: lineNo, offset: lineStartByte });
      const parser = new LineParser(text, start, end, lineNo, lineStartByte, limits);
      try {
        readings.push(parser.parse(precision, line.length - body.length));
        lineNumbers?.push(lineNo);
      } catch (err) {
        if (!onBadLine || !(err instanceof DecodeError || err instanceof TooManyFieldsError || err instanceof StringTooLongError)) throw err;
        onBadLine(err, lineNo, line);
      }
      if (parser.end > end) {
        // Line breaks inside a string value (of a line read or refused): the next line is counted after them.
        for (let i = end; i < parser.end; i++) if (text.charCodeAt(i) === 10) lineNo++;
        next = text.indexOf('\n', parser.end);
        if (next === -1) next = text.length;
      }
    }
    lineStartByte += Buffer.byteLength(text.slice(start, next), 'utf8') + 1;
    start = next + 1;
  }
  return readings;
}

function escapeName(s: string, specials: RegExp, what: string): string {
  if (s === '') throw new InvalidReadingError(`${what} is empty; line protocol cannot carry an empty name`);
  if (/[\r\n]/.test(s)) throw new InvalidReadingError(`${what} ${q(s)} contains a line break, which line protocol cannot carry`);
  // Doubling every backslash first keeps a trailing or literal backslash from escaping what follows.
  return s.replace(/\\/g, '\\\\').replace(specials, '\\$&');
}

function fieldValue(v: unknown, where: string): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidReadingError(`${where} is ${v}; line protocol has no NaN or Infinity`, { path: where });
    // JS numbers carry no int/float distinction, so every number is written as a float (no "i").
    return String(v);
  }
  if (typeof v === 'bigint') return `${v}i`;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') {
    if (/[\r\n]/.test(v)) throw new InvalidReadingError(`${where} contains a line break, which line protocol cannot carry`, { path: where });
    return `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  throw new InvalidReadingError(`${where} must be a number, boolean or string, got ${v === null ? 'null' : typeof v}`, { path: where });
}

function timestamp(ts: number, precision: Precision, where: string): string {
  if (!Number.isFinite(ts)) throw new InvalidReadingError(`${where} must be epoch milliseconds, got ${ts}`, { path: where });
  const ms = BigInt(Math.floor(ts));
  if (precision === 's') return String(ms >= 0n ? ms / 1000n : -((-ms + 999n) / 1000n));
  return String(ms * NS_PER[precision]);
}

/** One line per reading; see the header comment for how device and measurement map. */
export function serializeLineProtocol(input: Reading | Reading[], precision: Precision = 'ns'): string {
  checkPrecision(precision);
  const readings = Array.isArray(input) ? input : [input];
  return readings.map((r, i) => {
    const at = Array.isArray(input) ? `[${i}]` : 'reading';
    if (typeof r !== 'object' || r === null || typeof r.fields !== 'object' || r.fields === null) {
      throw new InvalidReadingError(`${at} must be a Reading with a fields object`, { path: at });
    }
    const tags: Record<string, string> = { ...(r.tags ?? {}) };
    const measurement = tags.measurement ?? r.device;
    delete tags.measurement;
    if (typeof measurement !== 'string') throw new InvalidReadingError(`${at} has neither a device nor tags.measurement`, { path: `${at}.device` });
    delete tags.device;
    if (r.device !== measurement) tags.device = r.device;
    if (measurement.startsWith('#')) throw new InvalidReadingError(`${at} measurement ${q(measurement)} starts with "#", which line protocol reads as a comment`, { path: `${at}.device` });
    let line = escapeName(measurement, /[, ]/g, `${at} measurement`);
    // Sorted tag keys are what InfluxDB recommends for write performance.
    for (const key of Object.keys(tags).sort()) {
      const value = tags[key];
      if (value === undefined || value === null || value === '') continue; // line protocol has no empty tag values
      line += `,${escapeName(key, /[,= ]/g, `${at} tag key`)}=${escapeName(String(value), /[,= ]/g, `${at}.tags.${key}`)}`;
    }
    const fields = Object.entries(r.fields).filter(([, v]) => v !== undefined && v !== null);
    if (fields.length === 0) throw new InvalidReadingError(`${at} has no fields; a line protocol point needs at least one`, { path: `${at}.fields` });
    line += ' ' + fields.map(([k, v]) => `${escapeName(k, /[,= ]/g, `${at} field key`)}=${fieldValue(v, `${at}.fields.${k}`)}`).join(',');
    if (r.ts !== undefined && r.ts !== null) line += ' ' + timestamp(r.ts, precision, `${at}.ts`);
    return line + '\n';
  }).join('');
}
