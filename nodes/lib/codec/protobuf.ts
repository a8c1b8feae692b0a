/**
 * Protobuf via protobufjs. Each directory's .proto files are parsed once and
 * kept, since parsing is slow and many nodes share a directory. upperstack.Reading
 * and upperstack.Batch (proto/telemetry.proto) decode straight to the Reading
 * contract; any other message type decodes to a plain object.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NamespaceBase, Reader, Root, Type } from 'protobufjs';
import type { FieldValue, Reading } from '../reading';
import { ConfigError, DecodeError, UnsupportedFormatError, DepthExceededError, InvalidReadingError, TooManyReadingsError } from '../errors';
import { DEFAULT_LIMITS, tooManyFields, tooManyReadings, type Limits } from '../limits';
import { packageRoot } from '../paths';
import { reservedName } from '../reading-flatten';

export const READING_TYPE = 'upperstack.Reading';
export const BATCH_TYPE = 'upperstack.Batch';

interface Loaded {
  root: Root;
  types: string[];
}

const cache = new Map<string, Loaded>();

// Loaded with the first .proto folder: a runtime whose devices send JSON does not hold protobufjs.
let lib: typeof import('protobufjs') | undefined;
function protobufjs(): typeof import('protobufjs') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (lib ??= require('protobufjs') as typeof import('protobufjs'));
}

export function defaultProtoDir(): string {
  return join(packageRoot(), 'proto');
}

function collectTypes(ns: NamespaceBase, out: string[]): string[] {
  for (const child of ns.nestedArray) {
    if (child instanceof protobufjs().Type) out.push(child.fullName.slice(1));
    // protobufjs does not export NamespaceBase at run time; namespaces and types both have nestedArray.
    if ('nestedArray' in child) collectTypes(child as NamespaceBase, out);
  }
  return out;
}

function load(dir: string = defaultProtoDir()): Loaded {
  const key = resolve(dir);
  const hit = cache.get(key);
  if (hit) return hit;
  let files: string[];
  try {
    files = readdirSync(key).filter((f) => f.endsWith('.proto')).sort().map((f) => join(key, f));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`protobuf folder ${key} cannot be read${code === 'ENOENT' ? ': it does not exist' : `: ${code ?? String(err)}`}`, { dir: key });
  }
  if (files.length === 0) throw new ConfigError(`protobuf folder ${key} holds no .proto files`, { dir: key });
  const root = new (protobufjs().Root)();
  try {
    // keepCase: field names stay as written in the .proto (battery_level, not batteryLevel),
    // so decoded objects match the device's documentation.
    root.loadSync(files, { keepCase: true });
    root.resolveAll();
  } catch (err) {
    throw new ConfigError(`the .proto files in ${key} cannot be loaded: ${err instanceof Error ? err.message : String(err)}`, { dir: key });
  }
  // Well-known types pulled in by imports are not the user's messages.
  const types = collectTypes(root, []).filter((t) => !t.startsWith('google.protobuf.')).sort();
  const loaded = { root, types };
  cache.set(key, loaded);
  return loaded;
}

/** Fully qualified message types defined in a folder's .proto files, for the editor's dropdown. */
export function listProtoTypes(dir?: string): string[] {
  return [...load(dir).types];
}

/** Forgets parsed .proto files, so edited files are read again. */
export function clearProtoCache(): void {
  cache.clear();
}

function lookup(typeName: string, dir?: string): Type {
  const { root, types } = load(dir);
  const name = typeName.replace(/^\./, '');
  if (!types.includes(name)) {
    throw new ConfigError(`protobuf message type "${typeName}" is not defined in ${resolve(dir ?? defaultProtoDir())}; defined types: ${types.join(', ')}`, { protoType: typeName });
  }
  return root.lookupType(name);
}

/** A type the sender names (content type parameter): one it cannot use is its mistake, not the input's setup. */
function lookupNamed(typeName: string, dir?: string): Type {
  const { root, types } = load(dir);
  const name = typeName.replace(/^\./, '');
  if (!types.includes(name)) {
    throw new UnsupportedFormatError(`the content type names protobuf message type "${typeName.slice(0, 100)}", which this input does not know; it knows ${types.join(', ')}`, { format: 'protobuf', protoType: typeName.slice(0, 100) });
  }
  return root.lookupType(name);
}

/** How the message type was chosen, for an error that tells the sender how to name the right one. */
export type TypeChoice = 'named' | 'configured' | 'shape';

function typeHint(name: string, choice: TypeChoice): string {
  const upperstack = name === READING_TYPE || name === BATCH_TYPE;
  const other = name === BATCH_TYPE ? READING_TYPE : BATCH_TYPE;
  if (choice === 'named') return ` (the content type names ${name}${upperstack ? `; an ${other} is sent as "application/x-protobuf; messageType=${other}"` : ''})`;
  const why = choice === 'shape' ? 'its bytes hold only field 1, as a Batch does' : "the input's protobuf message type";
  return upperstack
    ? ` (tried as ${name}: ${why}); to send an ${other}, say so in the content type: "application/x-protobuf; messageType=${other}"`
    : ` (tried as ${name}: ${why}); to name another type, use the content type "application/x-protobuf; messageType=<type>"`;
}

function decodeError(name: string, choice: TypeChoice, buf: Uint8Array, reader: Reader, err: unknown, limits: Limits): DecodeError | DepthExceededError {
  const text = err instanceof Error ? err.message : String(err);
  const format = 'protobuf';
  const pos = Math.min(reader.pos, buf.length);
  const hint = typeHint(name, choice);
  // protobufjs stops at its own recursion limit (100) for nested messages and groups.
  if (/max depth exceeded/.test(text)) return new DepthExceededError({ limit: limits.maxDepth, format, offset: pos });
  let m = /invalid wire type (\d+) at offset (\d+)/.exec(text);
  if (m) {
    const offset = Number(m[2]);
    return new DecodeError(`${name} cannot be decoded: invalid wire type ${m[1]} at byte ${offset}; the bytes are corrupt or hold another message type${hint}`, { format, offset, protoType: name }, { cause: err });
  }
  if (/index out of range/.test(text)) {
    m = /(\d+) \+ (\d+) > (\d+)/.exec(text);
    const offset = m ? Number(m[1]) : pos;
    const need = m ? `: ${m[2]} more byte(s) needed` : '';
    return new DecodeError(`${name} data ends early at byte ${offset} of ${buf.length}${need}; the bytes are cut off or hold another message type${hint}`, { format, offset, protoType: name }, { cause: err });
  }
  m = /missing required '([^']+)'/.exec(text);
  if (m) return new DecodeError(`${name} is missing its required field "${m[1]}"${hint}`, { format, field: m[1], protoType: name }, { cause: err });
  if (/utf-8/i.test(text)) {
    // What a payload of another message type most often runs into: its bytes read as one of this type's strings.
    return new DecodeError(`${name} cannot be decoded: a string field ending before byte ${pos} is not valid UTF-8, so the bytes are corrupt or hold another message type${hint}`, { format, offset: pos, protoType: name }, { cause: err });
  }
  return new DecodeError(`${name} cannot be decoded at byte ${pos}: ${text}${hint}`, { format, offset: pos, protoType: name }, { cause: err });
}

/**
 * The top level of a payload, read without decoding it: whether every field in it is field 1,
 * length-delimited (what an upperstack.Batch holds: its readings), and how many of those there are.
 * undefined when the bytes do not even split into fields (the decoder then says where).
 */
export function scanTopLevel(buf: Uint8Array): { onlyField1: boolean; count: number } | undefined {
  const reader = protobufjs().Reader.create(buf);
  let count = 0;
  let onlyField1 = true;
  try {
    while (reader.pos < reader.len) {
      const tag = reader.tag();
      const wire = tag & 7;
      // Field number 0 does not exist; groups (3, 4) occur in neither Reading nor Batch, and skipping
      // them would descend into nested groups of the sender's making.
      if (tag >>> 3 === 0 || wire === 3 || wire === 4) return undefined;
      // Only moves the position: a length-delimited field's bytes are neither copied nor decoded.
      reader.skipType(wire);
      if (tag === 0x0a) count++;
      else onlyField1 = false;
    }
  } catch {
    // Cut off inside a field or its varint, or a wire type that does not exist.
    return undefined;
  }
  return { onlyField1, count };
}

/** A decoded upperstack.Reading; device and ts are left out when unset so the topic/URL device and time of receipt apply. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- protobufjs decodes to objects typed by the .proto file only at run time
function toReading(obj: Record<string, any>, limits: Limits, path: string): Partial<Reading> & Pick<Reading, 'fields' | 'tags'> {
  const fields: Record<string, FieldValue> = {};
  let count = 0;
  for (const k in (obj.fields ?? {}) as Record<string, Record<string, FieldValue>>) {
    if (++count > limits.maxFields) throw tooManyFields(limits, { format: 'protobuf', path: path ? `${path}.fields` : 'fields' });
    const v = obj.fields[k] as Record<string, FieldValue>;
    const value = v.number ?? v.flag ?? v.text ?? v.integer;
    if (value !== undefined) fields[k] = value;
  }
  const out: Partial<Reading> & Pick<Reading, 'fields' | 'tags'> = { fields, tags: { ...(obj.tags ?? {}) } };
  if (obj.device) out.device = obj.device;
  if (obj.ts) out.ts = obj.ts;
  return out;
}

/** A map entry's key "__proto__" as protobuf writes it: field 1, length 9, the name. */
const PROTO_KEY = Buffer.from([0x0a, 0x09, ...Buffer.from('__proto__')]);

/**
 * Reading.fields (field 3) or Reading.tags (field 4) holding the key "__proto__": protobufjs builds
 * maps as plain objects and loses that key (a tag) or makes it the map's prototype (a field), so
 * the bytes are looked at, where it is still there: the entry's tag byte and 1 or 2 length bytes
 * before the key. Returns the path it would have.
 */
function reservedMapKey(buf: Uint8Array): string | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = b.indexOf(PROTO_KEY); i >= 2; i = b.indexOf(PROTO_KEY, i + 1)) {
    if ((b[i - 1] & 0x80) !== 0) continue;
    // The entry's length is one varint byte (an entry under 128 bytes) or two.
    const at = (b[i - 2] & 0x80) !== 0 ? i - 3 : i - 2;
    if (b[at] === 0x1a) return 'fields.__proto__';
    if (b[at] === 0x22) return 'tags.__proto__';
  }
  return undefined;
}

/**
 * upperstack.Reading and upperstack.Batch tell themselves apart: a Batch holds only field 1 (its
 * readings), while a Reading that carries anything to store has field 2, 3 or 4 (ts, fields, tags).
 * Bytes with field 1 alone could be a Reading with only a device, which has no fields and would be
 * refused anyway, so taking them for a Batch never stores or loses a reading a sender meant.
 * With either of the two configured, the bytes decide; a type the sender names is decoded as named.
 */
export function decodeProtobuf(buf: Uint8Array, protoType: string = READING_TYPE, dir?: string, limits: Limits = DEFAULT_LIMITS, messageType?: string): unknown {
  let choice: TypeChoice = messageType === undefined ? 'configured' : 'named';
  let type = messageType === undefined ? lookup(protoType, dir) : lookupNamed(messageType, dir);
  let name = type.fullName.slice(1);
  const scan = name === READING_TYPE || name === BATCH_TYPE ? scanTopLevel(buf) : undefined;
  if (scan && choice === 'configured') {
    const shaped = scan.onlyField1 && scan.count > 0 ? BATCH_TYPE : READING_TYPE;
    if (shaped !== name) {
      type = lookup(shaped, dir);
      name = shaped;
      choice = 'shape';
    }
  }
  // Counted on the bytes, before protobufjs builds a single reading.
  if (name === BATCH_TYPE && scan && scan.count > limits.maxReadings) {
    throw tooManyReadings(limits, { format: 'protobuf', count: scan.count });
  }
  const reader = protobufjs().Reader.create(buf);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- protobufjs decodes to objects typed by the .proto file only at run time
  let obj: Record<string, any>;
  try {
    const message = type.decode(reader) as unknown as { readings?: unknown[] };
    // Bytes the scan could not split (the decoder skipped what it did not know): checked before toObject copies the batch.
    if (name === BATCH_TYPE && (message.readings?.length ?? 0) > limits.maxReadings) {
      throw tooManyReadings(limits, { format: 'protobuf', count: message.readings!.length });
    }
    obj = type.toObject(message as never, { longs: Number, enums: String, defaults: false });
  } catch (err) {
    if (err instanceof TooManyReadingsError) throw err;
    throw decodeError(name, choice, buf, reader, err, limits);
  }
  if (name === READING_TYPE || name === BATCH_TYPE) {
    const reserved = reservedMapKey(buf);
    if (reserved) throw reservedName(reserved, reserved === 'fields.__proto__' ? 'field' : 'tag');
  }
  if (name === READING_TYPE) {
    // An empty result means none of Reading's field numbers occurred: almost surely another message type.
    if (Object.keys(obj).length === 0) {
      throw new DecodeError(`${name} decoded to nothing: none of its fields occur in the ${buf.length} bytes, so they probably hold another message type${typeHint(name, choice)}`, { format: 'protobuf', offset: 0, protoType: name });
    }
    return toReading(obj, limits, '');
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- protobufjs decodes to objects typed by the .proto file only at run time
  if (name === BATCH_TYPE) return ((obj.readings ?? []) as Array<Record<string, any>>).map((r, i) => toReading(r, limits, `[${i}]`));
  return obj;
}

function fromReading(r: Reading, at: string): Record<string, unknown> {
  if (typeof r !== 'object' || r === null || typeof r.fields !== 'object' || r.fields === null) {
    throw new InvalidReadingError(`${at} must be a Reading with a fields object`, { path: at });
  }
  const fields: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(r.fields as Record<string, unknown>)) {
    // Numbers go as double: it holds every JS number exactly; int64 is only for bigint.
    if (typeof v === 'number') fields[k] = { number: v };
    else if (typeof v === 'boolean') fields[k] = { flag: v };
    else if (typeof v === 'string') fields[k] = { text: v };
    else if (typeof v === 'bigint') fields[k] = { integer: v.toString() };
    else if (v !== null && v !== undefined) throw new InvalidReadingError(`${at}.fields.${k} must be a number, boolean or string, got ${typeof v}`, { path: `${at}.fields.${k}` });
  }
  const tags = Object.fromEntries(Object.entries(r.tags ?? {}).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [k, String(v)]));
  return { device: r.device ?? '', ts: r.ts === undefined ? 0 : Math.round(r.ts), fields, tags };
}

/**
 * Without protoType, an array is written as an upperstack.Batch and an object as an
 * upperstack.Reading. Other message types take a plain object in their own shape.
 */
export function encodeProtobuf(value: unknown, protoType?: string, dir?: string): Buffer {
  const type = lookup(protoType ?? (Array.isArray(value) ? BATCH_TYPE : READING_TYPE), dir);
  const name = type.fullName.slice(1);
  let plain: unknown = value;
  if (name === READING_TYPE) {
    if (Array.isArray(value)) throw new InvalidReadingError(`an array cannot be written as one ${name}; use ${BATCH_TYPE}`);
    plain = fromReading(value as Reading, 'reading');
  } else if (name === BATCH_TYPE) {
    const list = Array.isArray(value) ? value : (value as { readings?: unknown } | null)?.readings;
    if (!Array.isArray(list)) throw new InvalidReadingError(`${name} needs an array of readings`);
    plain = { readings: list.map((r, i) => fromReading(r as Reading, `[${i}]`)) };
  }
  if (typeof plain !== 'object' || plain === null) throw new InvalidReadingError(`${name} needs an object, got ${plain === null ? 'null' : typeof plain}`);
  let problem: string | null;
  let message;
  try {
    message = type.fromObject(plain as Record<string, unknown>);
    problem = type.verify(message);
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  if (problem || !message) throw new InvalidReadingError(`value does not fit ${name}: ${problem}`);
  const bytes = type.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
