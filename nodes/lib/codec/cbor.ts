/**
 * CBOR via cbor-x. cbor-x loads the native cbor-extract only if it is present
 * and falls back to pure JS otherwise, so nothing here depends on it.
 */
import type { Decoder as DecoderType, Encoder as EncoderType } from 'cbor-x' with { 'resolution-mode': 'import' };
import { DecodeError, InvalidReadingError, TextEncodingError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import { put } from '../reading-flatten';
import { findCborProblem } from './cbor-scan';

// cbor-x's types are ESM-only (the index.d.cts its exports name is not shipped), so a
// CommonJS import does not type-check; the runtime require of dist/node.cjs is fine.
const { Decoder, Encoder } = require('cbor-x') as { Decoder: typeof DecoderType; Encoder: typeof EncoderType };

// useRecords: false keeps the output plain RFC 8949 maps that other CBOR
// libraries (and devices) read; records are a cbor-x-only extension.
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
// Gives every map as a Map: cbor-x renames a "__proto__" key of an object to "__proto_", and the
// readings check must see it as it was sent to refuse it.
const mapDecoder = new Decoder({ useRecords: false, mapsAsObjects: false });
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });

/**
 * cbor-x recurses into nested items, so the bytes are walked first (iteratively):
 * data that is malformed, nested too deep, too wide or holds too long strings never
 * reaches it.
 */
export function decodeCbor(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): unknown {
  const problem = findCborProblem(buf, limits);
  if (problem) throw problem.error ?? new (problem.text ? TextEncodingError : DecodeError)(problem.message, { format: 'cbor', offset: problem.offset });
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  // "__proto__" as CBOR text (0x69 and its nine bytes): possibly a map key, so the maps are built here.
  const proto = bytes.includes(PROTO_TEXT);
  let value: unknown;
  try {
    value = (proto ? mapDecoder : decoder).decode(buf);
  } catch (err) {
    // Well-formed but not representable, e.g. a map with an array as a key.
    const reason = err instanceof Error ? err.message : String(err);
    throw new DecodeError(`CBOR data is well-formed but cannot be decoded: ${reason}`, { format: 'cbor' }, { cause: err });
  }
  // Tag 259 (RFC 8949's registered "map with any keys", what cbor-x writes for a JS Map) comes back as a Map;
  // the rest of the pipeline reads plain objects. The bytes of the tag's header are looked for first, so data
  // without it is not walked (a match inside other data only costs a walk).
  return proto || bytes.includes(TAG_259) ? mapsToObjects(value) : value;
}

const PROTO_TEXT = Buffer.from([0x69, ...Buffer.from('__proto__')]);

/** The header of tag 259, RFC 8949's registered "map with any keys": what cbor-x writes before a JS Map. */
export const TAG_259 = Buffer.from([0xd9, 0x01, 0x03]);

/** A key as cbor-x makes it for a plain map: text as is ("__proto__" too, kept by put), numbers, booleans and null as text, anything else refused. */
function plainKey(key: unknown): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'boolean' || typeof key === 'bigint' || key === null || key === undefined) return String(key);
  throw new DecodeError(`CBOR data is well-formed but cannot be decoded: a map (tag 259) has a key of type ${Array.isArray(key) ? 'array' : typeof key}; keys must be text or numbers`, { format: 'cbor' });
}

/** Replaces every Map in the decoded value with a plain object, without recursion (nesting is bounded by the scan, not trusted). */
function mapsToObjects(root: unknown): unknown {
  const holder: { v: unknown } = { v: root };
  const stack: Array<[Record<string | number, unknown>, string | number]> = [[holder as Record<string, unknown>, 'v']];
  while (stack.length) {
    const [parent, key] = stack.pop()!;
    let v = parent[key];
    if (v instanceof Map) {
      const obj: Record<string, unknown> = {};
      for (const [k, item] of v) put(obj, plainKey(k), item);
      parent[key] = v = obj;
    }
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) stack.push([v as unknown as Record<number, unknown>, i]);
    else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) for (const k of Object.keys(v)) stack.push([v as Record<string, unknown>, k]);
  }
  return holder.v;
}

export function encodeCbor(value: unknown): Buffer {
  try {
    // cbor-x hands out slices of one shared 8 KB buffer; a copy keeps a kept message from pinning it.
    return Buffer.from(encoder.encode(value));
  } catch (err) {
    throw new InvalidReadingError(`value cannot be written as CBOR: ${err instanceof Error ? err.message : String(err)}`);
  }
}
