/**
 * Text of the parts of a line protocol line (line.ts): escaped names, tag
 * values and field values as their field's type, timestamps; and the Refusal
 * that names what cannot be written exactly.
 */
import type { FieldValue } from '../reading';
import type { QuotedValue } from '../errors';
import { quotedValue } from '../preview';
import type { Dialect, FieldType, Precision } from './line';

export const NEEDS_V1_TAG = /[,= \n\r]|\\$/;
export const NEEDS_V2_TAG = /[,= \\\n\r]/;
const NEEDS_V1_MEAS = /[,= "\n\r]|\\$|^#/;
const NEEDS_V2_MEAS = /[, \\\n\r]|^#/;
const NEEDS_STRING = /["\\]/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;
const FLOAT_TEXT = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;
const INT_TEXT = /^\s*[-+]?\d{1,20}\s*$/;

/** `quoted`: the sender's values the message shows and where, so a reader who may not see them is told their kind. */
export class Refusal extends Error {
  readonly quoted: QuotedValue[];
  constructor(message: string, quoted: QuotedValue[] = []) {
    super(message);
    this.quoted = quoted;
  }
}

/** A refusal whose message shows the sender's `value` as `text` between `before` and `after`. */
function refuseValue(before: string, text: string, after: string, value: unknown, field?: string): Refusal {
  return new Refusal(`${before}${text}${after}`, [quotedValue(before.length, text, value, field)]);
}

export function show(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);
}

/**
 * Escapes a measurement, tag key, tag value or field key. `kind` says which,
 * for the message and for `"` (escaped in v1 field keys and measurements, where
 * 1.x unescapes `\"`; literal in tags).
 */
export function escapeKey(s: string, dialect: Dialect, kind: 'measurement' | 'tag key' | 'tag value' | 'field key', where: string, tag?: string): string {
  // A tag value is the sender's, told by kind to who may not see it; names are not values.
  const refuse = (after: string): Refusal => (kind === 'tag value' ? refuseValue(`${where}: the ${kind} `, show(s), after, s, tag) : new Refusal(`${where}: the ${kind} ${show(s)}${after}`));
  if (s === '') throw new Refusal(`${where}: the ${kind} is empty, which line protocol cannot carry`);
  const quote = kind === 'field key';
  if (dialect === 'v1') {
    if (!NEEDS_V1_TAG.test(s) && !(quote && s.includes('"'))) return s;
  } else if (!NEEDS_V2_TAG.test(s)) {
    return s;
  }
  if (/[\n\r]/.test(s)) throw refuse(' contains a line break, which line protocol cannot carry');
  if (dialect === 'v1') {
    if (s.endsWith('\\')) throw refuse(' ends with a backslash, which InfluxDB 1.x cannot store (it reads it as escaping the separator that follows)');
    return s.replace(quote ? /[,= "]/g : /[,= ]/g, '\\$&');
  }
  return s.replace(/[\\,= ]/g, '\\$&');
}

export function escapeMeasurement(s: string, dialect: Dialect, where: string): string {
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
export function fieldText(v: unknown, type: FieldType, dialect: Dialect, where: string, field?: string): string {
  const refuse = (text: string, after: string): Refusal => refuseValue(`${where} is `, text, after, v, field);
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw refuse(String(v), '; InfluxDB stores no NaN or Infinity');
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
        if (typeof v === 'number') throw refuse(String(v), `, but the field is an ${type === 'integer' ? 'integer' : 'unsigned integer'} in this store; writing it would drop the fraction`);
        break;
      }
      // 1.x has no unsigned type: such fields are written as integers there.
      const unsigned = type === 'unsigned' && dialect === 'v2';
      const [lo, hi] = unsigned ? [0n, UINT64_MAX] : [type === 'unsigned' ? 0n : INT64_MIN, INT64_MAX];
      if (n < lo || n > hi) throw refuse(String(v), `, outside the range of ${unsigned ? 'an unsigned' : 'a signed'} 64-bit integer field`);
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
  throw refuse(typeof v === 'string' ? show(v) : String(v), ` (${typeof v}), but the field is ${type === 'integer' || type === 'unsigned' ? 'an' : 'a'} ${type} field in this store and the value cannot be converted without loss`);
}

const NS_FACTOR: Record<Precision, bigint> = { ns: 1_000_000n, us: 1_000n, ms: 1n, s: 1n };

export function timestampText(ms: number, precision: Precision): string {
  if (precision === 'ms') return String(ms);
  if (precision === 's') return String(Math.floor(ms / 1000));
  return String(BigInt(ms) * NS_FACTOR[precision]);
}
