/**
 * SenML (RFC 8428) packs in JSON (application/senml+json, CoAP Content-Format
 * 110) and CBOR (application/senml+cbor, 112), resolved into Readings.
 *
 * Resolution follows RFC 8428 section 4.6: name = bn + n, time = bt + t (times
 * below 2^28 are relative to when the pack was received), value = bv + v,
 * sum = bs + s, unit = u or bu. Records that resolve to the same time form one
 * Reading; its fields are named by the resolved names. Two records resolving to
 * the same name and time (a "v" and a "vs", or two "v") refuse the pack,
 * naming both records: neither value may silently replace the other.
 *
 * Which part names the device:
 * - a base name ending in ":" (trailing separators removed), and the fields are
 *   the records' own names: `{"bn":"urn:dev:ow:10e2073a:","n":"temp"}` gives
 *   device `urn:dev:ow:10e2073a`, field `temp`, whatever the transport names
 *   (as a JSON `device` member, it wins over the topic; the inputs and the
 *   decode node then hold it to the registered-device rule);
 * - else the transport's device (URL, topic) when there is one, and other base
 *   names (LwM2M's "/3303/0/") stay in the field names, unless equal to that
 *   device (trailing ":", "/" or "." ignored);
 * - else any base name, trailing separators removed.
 * A base name that names the device but gives no id (":") fails the pack with BAD_DEVICE_ID at its "bn".
 * Units become tags `<field>.unit`; a sum becomes the field itself when the
 * record has no value, `<field>.sum` when it has one. `vd` (data) is kept as
 * its base64url text; `ut` is not kept.
 */
import { BadDeviceIdError, DecodeError, isLimitError, shiftQuoted } from '../errors';
import { deviceIdProblem } from '../devices/record';
import type { FieldValue } from '../reading';
import type { Encoder as EncoderType } from 'cbor-x' with { 'resolution-mode': 'import' };
import { decodeCbor } from './cbor';
import { decodeJson } from './json';
import type { Limits } from '../limits';
import { previewJson, quotedValue } from '../preview';
import { put } from '../reading-flatten';

/** The newest SenML version this decoder understands (RFC 8428 is 10). */
export const SENML_VERSION = 10;

/** Times below this are relative to "now" (RFC 8428 section 4.5.3). */
const RELATIVE_LIMIT = 2 ** 28;

const JSON_KEYS = new Set(['bver', 'bn', 'bt', 'bu', 'bv', 'bs', 'n', 'u', 'v', 'vs', 'vb', 'vd', 's', 't', 'ut']);
const VALUE_KEYS = ['v', 'vs', 'vb', 'vd'] as const;

/** CBOR labels of RFC 8428 section 6; cbor-x hands integer map keys over as strings. */
const CBOR_LABELS: Record<string, string> = {
  '-1': 'bver', '-2': 'bn', '-3': 'bt', '-4': 'bu', '-5': 'bv', '-6': 'bs',
  '0': 'n', '1': 'u', '2': 'v', '3': 'vs', '4': 'vb', '5': 's', '6': 't', '7': 'ut', '8': 'vd',
};

// RFC 8428 section 4.5.1: a resolved name starts with a letter or digit and uses only these.
// A leading "/" is accepted too: LwM2M names its object paths that way ("/3303/0/5700").
const NAME = /^[A-Za-z0-9/][A-Za-z0-9\-:./_]*$/;

/** A record with the RFC's JSON labels (CBOR labels already mapped). */
export type SenmlRecord = Record<string, unknown>;

/** A resolved SenML pack in Reading shape; device is absent when neither transport nor base name gives one. */
export interface SenmlReading {
  device?: string;
  ts: number;
  fields: Record<string, FieldValue>;
  tags: Record<string, string>;
}

export interface SenmlResolveOptions {
  /** Device named by the transport (URL, topic). */
  device?: string;
  /** Epoch ms the pack arrived; relative times count from here. */
  receivedAt: number;
}

/** `got`: the sender's value the message ends with, as quoted there (`text`) and what it was (`value`). */
function fail(format: string, message: string, path?: string, got?: { text: string; value: unknown }): never {
  const full = `SenML ${path ? `${path}: ` : ''}${message}`;
  const quoted = got ? [quotedValue(full.length - got.text.length, got.text, got.value, path || undefined)] : undefined;
  throw new DecodeError(full, { format, ...(path ? { path } : {}), ...(quoted ? { quoted } : {}) });
}

/** The JSON/CBOR decoder's error as SenML's: its message is renamed at the start, so what it quotes moves by as much. */
function renamed(err: DecodeError, from: RegExp, to: string, format: string): DecodeError {
  const message = err.message.replace(from, to);
  return new DecodeError(message, { ...shiftQuoted(err.details, message.length - err.message.length), format }, { cause: err });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);
}

/** A CBOR map may come as a Map (e.g. one tagged 259); its keys are read like object keys. */
function asRecord(v: unknown): Record<string, unknown> | undefined {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = x;
    return o;
  }
  return isObject(v) ? v : undefined;
}

/** True when a decoded JSON value has the shape of a SenML pack (used to tell SenML from plain JSON). */
export function isSenmlPack(value: unknown): boolean {
  return packShape(value, (k) => (JSON_KEYS.has(k) ? k : undefined));
}

/** The type each value or sum label needs in a lone record. */
const VALUE_TYPES: Record<string, string> = { v: 'number', vs: 'string', vb: 'boolean', vd: 'string', s: 'number' };

/**
 * One SenML record sent without the pack's brackets (some devices publish `{"bn":"d1:","n":"t","v":1}`): SenML
 * labels only, a name (`n` or `bn`) that is text and a value or sum of its label's type. Stricter than a pack's
 * test, as an object is a reading's own shape: `{"n":3,"v":1}` stays fields "n" and "v".
 */
function isLoneRecord(value: unknown): value is Record<string, unknown> {
  if (!isObject(value)) return false;
  let named = false;
  let valued = false;
  for (const [k, v] of Object.entries(value)) {
    if (!JSON_KEYS.has(k)) return false;
    if ((k === 'n' || k === 'bn') && typeof v === 'string') named = true;
    if (k in VALUE_TYPES) {
      if (typeof v !== VALUE_TYPES[k]) return false;
      valued = true;
    }
  }
  return named && valued;
}

/**
 * The SenML records a decoded JSON value is beyond doubt, or undefined when it is plain JSON: a pack
 * (isSenmlPack), or one lone record taken as a pack of one.
 */
export function senmlPackIn(value: unknown): SenmlRecord[] | undefined {
  if (isSenmlPack(value)) return senmlRecords(value, 'senml');
  if (isLoneRecord(value)) return senmlRecords([value], 'senml');
  return undefined;
}

/** True when a decoded CBOR value has the shape of a SenML pack with integer labels. */
export function isSenmlCborPack(value: unknown): boolean {
  return packShape(value, (k) => CBOR_LABELS[k]);
}

/**
 * Every element a map of SenML labels only, at least one carrying a value or a sum
 * and one a name: `[{"n":"temp","v":1}]` is meant as SenML, never as fields "n" and "v".
 */
function packShape(value: unknown, label: (key: string) => string | undefined): boolean {
  if (!Array.isArray(value) || value.length === 0) return false;
  let named = false;
  let valued = false;
  for (const item of value) {
    const rec = asRecord(item);
    if (!rec) return false;
    for (const k of Object.keys(rec)) {
      const name = label(k);
      if (name === undefined) return false;
      if (name === 'n' || name === 'bn') named = true;
      if (name === 'v' || name === 'vs' || name === 'vb' || name === 'vd' || name === 's') valued = true;
    }
  }
  return named && valued;
}

function checkPack(value: unknown, format: string, label: (key: string) => string | undefined): SenmlRecord[] {
  if (!Array.isArray(value)) fail(format, `a pack must be an array of records, got ${value === null ? 'null' : typeof value}`);
  const out: SenmlRecord[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const rec = asRecord(value[i]);
    if (!rec) fail(format, `must be a map of SenML labels, got ${Array.isArray(value[i]) ? 'an array' : value[i] === null ? 'null' : typeof value[i]}`, `[${i}]`);
    const mapped: SenmlRecord = {};
    for (const [k, v] of Object.entries(rec)) {
      const name = label(k) ?? k;
      // Labels ending in "_" must be understood or the pack rejected (RFC 8428 section 4.4).
      if (name.endsWith('_')) fail(format, `label "${name}" must be understood, and this decoder does not know it`, `[${i}]`);
      mapped[name] = v;
    }
    out[i] = mapped;
  }
  return out;
}

/** Parses a SenML JSON pack; the records are checked when they are resolved. */
export function decodeSenmlJson(buf: Uint8Array, limits?: Limits): SenmlRecord[] {
  let value: unknown;
  try {
    value = decodeJson(buf, limits);
  } catch (err) {
    if (err instanceof DecodeError) throw renamed(err, /^JSON/, 'SenML JSON', 'senml');
    if (isLimitError(err)) err.details.format = 'senml';
    throw err;
  }
  return checkPack(value, 'senml', (k) => k);
}

/** Parses a SenML CBOR pack (integer labels, RFC 8428 section 6). */
export function decodeSenmlCbor(buf: Uint8Array, limits?: Limits): SenmlRecord[] {
  let value: unknown;
  try {
    value = decodeCbor(buf, limits);
  } catch (err) {
    if (err instanceof DecodeError) throw renamed(err, /^CBOR/, 'SenML CBOR', 'senml-cbor');
    if (isLimitError(err)) err.details.format = 'senml-cbor';
    throw err;
  }
  return checkPack(value, 'senml-cbor', (k) => CBOR_LABELS[k]);
}

/** Records from an already decoded value (the auto path decodes before it knows the format). */
export function senmlRecords(value: unknown, format: 'senml' | 'senml-cbor'): SenmlRecord[] {
  return checkPack(value, format, format === 'senml' ? (k) => k : (k) => CBOR_LABELS[k]);
}

function num(rec: SenmlRecord, key: string, path: string, format: string): number | undefined {
  const v = rec[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    // As JSON a non-finite number would read "null": 1e400 in JSON, or a CBOR NaN, is named as what it is.
    const text = typeof v === 'bigint' || typeof v === 'number' ? String(v) : previewJson(v, 60);
    fail(format, `"${key}" must be a finite number, got ${text}`, `${path}.${key}`, { text, value: v });
  }
  return n;
}

function str(rec: SenmlRecord, key: string, path: string, format: string): string | undefined {
  const v = rec[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(format, `"${key}" must be a string, got ${typeof v}`, `${path}.${key}`);
  return v;
}

function trimSeparators(name: string): string {
  return name.replace(/[:/.]+$/, '');
}

/**
 * Why a resolved name that breaks the name rule fails, when its base name names the device (one ending in ":", or
 * any without a transport's device) and that is what is wrong: BAD_DEVICE_ID, as for a device member that is no id.
 * Asked only once the name failed, so a good pack pays nothing for it.
 */
function baseNameDeviceProblem(bn: string, transport: string | undefined, path: string, format: string): BadDeviceIdError | undefined {
  if (bn === '' || (transport !== undefined && transport !== '' && !bn.endsWith(':'))) return undefined;
  const named = trimSeparators(bn);
  const shown = JSON.stringify(bn.slice(0, 60));
  const instead = transport ? 'leave "bn" out for the topic\'s or path\'s device' : 'leave "bn" out and name the device in the topic or URL';
  if (named === '') return new BadDeviceIdError(`SenML ${path}: base name ${shown} gives no device id: a base name ending in ":" names the device before it (e.g. "urn:dev:ow:10e2073a:"); put the device id there, or ${instead}`, { path, format });
  const problem = deviceIdProblem(named);
  return problem === undefined ? undefined : new BadDeviceIdError(`SenML ${path}: base name ${shown} names no valid device: ${problem}`, { path, format });
}

/**
 * Resolves a pack into Readings, one per distinct time. Throws a DecodeError
 * naming the record (`[3].v`) for anything RFC 8428 does not allow.
 */
export function resolveSenml(records: readonly SenmlRecord[], opts: SenmlResolveOptions, format: 'senml' | 'senml-cbor' = 'senml'): SenmlReading[] {
  let bn = '';
  /** The record that set the base name, to name it when the device it gives is wrong. */
  let bnAt = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  let bs = 0;
  const byTime = new Map<string, SenmlReading>();
  /** Which record gave each field of each reading (device, time, field), to name both when one repeats it. */
  const givenBy = new Map<string, number>();
  const claim = (readingKey: string, f: string, i: number, name: string, fmt: string): string => {
    const k = `${readingKey}\u0000${f}`;
    const first = givenBy.get(k);
    // Two values for one sensor at one instant (RFC 8428 4.6: a resolved record is a name, a time and a value)
    // contradict each other; keeping either would drop the other without a word, so the pack is refused.
    if (first !== undefined) fail(fmt, `record ${JSON.stringify(name.slice(0, 60))} has the same resolved name and time as record [${first}]: a pack gives one value per name and time`, `[${i}]`);
    givenBy.set(k, i);
    return f;
  };
  const out: SenmlReading[] = [];
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    const at = `[${i}]`;
    const bver = num(rec, 'bver', at, format);
    if (bver !== undefined && bver > SENML_VERSION) fail(format, `version ${bver} is newer than the supported version ${SENML_VERSION}`, `${at}.bver`);
    const nbn = str(rec, 'bn', at, format);
    if (nbn !== undefined) {
      bn = nbn;
      bnAt = at;
    }
    bt = num(rec, 'bt', at, format) ?? bt;
    const nbu = str(rec, 'bu', at, format);
    if (nbu !== undefined) bu = nbu;
    bv = num(rec, 'bv', at, format) ?? bv;
    bs = num(rec, 'bs', at, format) ?? bs;

    const n = str(rec, 'n', at, format) ?? '';
    const present = VALUE_KEYS.filter((k) => rec[k] !== undefined && rec[k] !== null);
    const sum = num(rec, 's', at, format);
    if (present.length > 1) fail(format, `a record carries one value, this one has ${present.map((k) => `"${k}"`).join(' and ')}`, at);
    if (present.length === 0 && sum === undefined) {
      // A record of base fields only sets what the next records share.
      if (n === '' && (nbn !== undefined || rec.bt !== undefined || nbu !== undefined || rec.bv !== undefined || rec.bs !== undefined || bver !== undefined)) continue;
      fail(format, 'has no value: give one of "v", "vs", "vb", "vd" or a sum "s"', at);
    }

    const name = bn + n;
    if (!NAME.test(name)) {
      const deviceProblem = baseNameDeviceProblem(bn, opts.device, `${bnAt}.bn`, format);
      if (deviceProblem) throw deviceProblem;
      fail(format, name === '' ? 'has no name: give "n" or a base name "bn"' : `resolved name ${JSON.stringify(name.slice(0, 60))} must start with a letter or digit and use only letters, digits and - : . / _`, `${at}.n`);
    }
    let device = opts.device;
    let field = name;
    const named = trimSeparators(bn);
    if (device === undefined || device === '') {
      device = named || undefined;
      if (device !== undefined) field = n;
    } else if (named !== '' && (named === device || bn.endsWith(':'))) {
      // A base name ending in ":" is a device's name (RFC 8428's urn:dev:..., what the encode node writes)
      // and wins over the transport's, as a JSON device member does: a gateway publishes for its devices.
      device = named;
      field = n;
    }
    if (field === '') fail(format, 'has no name of its own: with the device named by the base name, give "n"', `${at}.n`);

    const time = bt + (num(rec, 't', at, format) ?? 0);
    const ts = time < RELATIVE_LIMIT ? opts.receivedAt + Math.round(time * 1000) : Math.round(time * 1000);
    const key = `${device ?? ''}\u0000${ts}`;
    let reading = byTime.get(key);
    if (!reading) {
      reading = { ts, fields: {}, tags: {} };
      if (device !== undefined) reading.device = device;
      byTime.set(key, reading);
      out.push(reading);
    }

    let value: FieldValue | undefined;
    const kind = present[0];
    if (kind === 'v') value = bv + (num(rec, 'v', at, format) as number);
    else if (kind === 'vs') value = str(rec, 'vs', at, format) as string;
    else if (kind === 'vb') {
      if (typeof rec.vb !== 'boolean') {
        const text = rec.vb === undefined ? undefined : previewJson(rec.vb, 60);
        fail(format, `"vb" must be true or false, got ${text ?? 'nothing'}`, `${at}.vb`, text === undefined ? undefined : { text, value: rec.vb });
      }
      value = rec.vb;
    } else if (kind === 'vd') {
      const vd = rec.vd;
      if (vd instanceof Uint8Array) value = Buffer.from(vd).toString('base64url');
      else if (typeof vd === 'string' && /^[A-Za-z0-9_-]*={0,2}$/.test(vd)) value = vd;
      else if (typeof vd === 'string') fail(format, `"vd" must be base64url data, got ${JSON.stringify(vd.slice(0, 40))}`, `${at}.vd`, { text: JSON.stringify(vd.slice(0, 40)), value: vd });
      else fail(format, `"vd" must be base64url data, got ${typeof vd}`, `${at}.vd`);
    }
    // put keeps a field named "__proto__" as an own member, so the readings check refuses it as for every format.
    if (value !== undefined) put(reading.fields, claim(key, field, i, name, format), value);
    if (sum !== undefined) {
      const f = value === undefined ? field : `${field}.sum`;
      put(reading.fields, claim(key, f, i, name, format), bs + sum);
    }
    const unit = str(rec, 'u', at, format) ?? bu;
    if (unit !== undefined && unit !== '') reading.tags[`${field}.unit`] = unit;
  }
  return out;
}

// Plain CBOR maps with integer keys, as RFC 8428 writes them (cbor-x would tag a Map with 259 otherwise).
const { Encoder } = require('cbor-x') as { Encoder: typeof EncoderType };
// useTag259ForMaps is read by cbor-x's encoder but missing from its typings.
const cborEncoder = new Encoder({ useRecords: false, mapsAsObjects: true, useTag259ForMaps: false } as ConstructorParameters<typeof EncoderType>[0]);

/** A pack from toSenmlPack(readings, true) as CBOR bytes. */
export function encodeSenmlCbor(pack: ReadonlyArray<Map<number, unknown> | Record<string, unknown>>): Buffer {
  return Buffer.from(cborEncoder.encode(pack));
}

const JSON_TO_CBOR: Record<string, number> = Object.fromEntries(Object.entries(CBOR_LABELS).map(([k, v]) => [v, Number(k)]));

/**
 * Readings as a SenML pack: the device is the base name (with ":"), each reading's
 * time its base time, each field a record; `<field>.unit` tags become units. Other
 * tags have no place in SenML and are left out. `cbor` gives integer labels.
 */
export function toSenmlPack(readings: ReadonlyArray<{ device: string; ts: number; fields: Record<string, FieldValue>; tags?: Record<string, string> }>, cbor = false): Array<Record<string, unknown> | Map<number, unknown>> {
  const pack: Array<Record<string, unknown> | Map<number, unknown>> = [];
  let lastDevice: string | undefined;
  for (const r of readings) {
    let first = true;
    for (const [field, value] of Object.entries(r.fields)) {
      const rec: Record<string, unknown> = {};
      if (first && r.device !== lastDevice) rec.bn = `${r.device}:`;
      if (first) rec.bt = r.ts / 1000;
      first = false;
      rec.n = field;
      const unit = r.tags?.[`${field}.unit`];
      if (unit) rec.u = unit;
      if (typeof value === 'number') rec.v = value;
      else if (typeof value === 'boolean') rec.vb = value;
      else rec.vs = value;
      // A Map, so CBOR gets integer keys (object keys would be text).
      pack.push(cbor ? new Map(Object.entries(rec).map(([k, v]) => [JSON_TO_CBOR[k], v])) : rec);
    }
    lastDevice = r.device;
  }
  return pack;
}
