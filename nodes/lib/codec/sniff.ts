/**
 * Guessing the format of a payload that came without a content type ("auto" mode).
 *
 * Ambiguities and how they are settled:
 * - Text that starts with "{" or "[" is JSON when it parses. If it does not, it is
 *   still called JSON unless it has the line protocol shape, so the user gets
 *   JSON's precise syntax error rather than "unknown format".
 * - 0x80-0x9F is a CBOR array and also a MessagePack fixmap (0x80-0x8F) or
 *   fixarray (0x90-0x9F). Both decoders are tried; if only one succeeds it wins.
 *   If both do, 0x80-0x8F is taken as MessagePack (a map is a reading's shape,
 *   whereas CBOR would make it an array) and 0x90-0x9F as CBOR.
 * - 0xA0-0xBF is a CBOR map but also a MessagePack fixstr; a bare string is never
 *   a reading, so it is CBOR. 0xDC-0xDF are reserved in CBOR, so MessagePack.
 * - Binary formats are judged by byte 0 only; whitespace is skipped for text only.
 * - Protobuf has no signature and is never guessed: configure it explicitly.
 * - A JSON or CBOR array of maps that use SenML labels only (and name and value
 *   something) is SenML: `[{"n":"temp","v":1}]` never means fields "n" and "v".
 *   So is a lone JSON record of SenML labels whose name is text and whose value
 *   has its label's type (`{"n":"temp","v":1}`; `{"n":3,"v":1}` stays JSON).
 * - Text that starts with "<" is XML.
 * - CBOR tag 259 (a map with any keys, cbor-x's JS Map) before a map is CBOR.
 */
import { decodeCbor, TAG_259 } from './cbor';
import { decodeJson } from './json';
import { decodeMsgpack } from './msgpack';
import { isSenmlCborPack, senmlPackIn, senmlRecords } from './senml';
import { isLimitError, SharedValueError, SimpleValueError, TextEncodingError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import type { Format } from './index';

const lenientUtf8 = new TextDecoder('utf-8');

// measurement[,tag=value...] <spaces> field=value — escapes allowed, as in the spec.
const LINE_PROTOCOL = /^(?:[^\s,#\\]|\\.)(?:[^ ,\\]|\\.)*(?:,(?:[^ ,=\\]|\\.)+=(?:[^ ,\\]|\\.)+)* +(?:[^ ,=\\]|\\.)+=[^ ]/;
const SNIFF_TEXT_BYTES = 4096;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** What sniffing found; `decoded` holds the value when sniffing had to decode it anyway. */
export interface Sniffed {
  format: Format;
  decoded?: { value: unknown };
}

type Attempt = { value: unknown } | { limit: Error } | undefined;

/**
 * Errors that say the payload is that format for sure: a limit it broke, text in it that is not UTF-8,
 * CBOR's shared values or its unassigned simple values (the rest well-formed). Each says more than "not this format".
 */
function isFormatCertain(err: unknown): err is Error & { details: Record<string, unknown> } {
  return isLimitError(err) || err instanceof TextEncodingError || err instanceof SharedValueError || err instanceof SimpleValueError;
}

/** The value, or the limit it broke or its text that is not UTF-8, or nothing. */
function attempt(fn: () => unknown): Attempt {
  try {
    return { value: fn() };
  } catch (err) {
    return isFormatCertain(err) ? { limit: err } : undefined;
  }
}

function isFormatName(v: unknown): v is Format {
  return v === 'json' || v === 'cbor' || v === 'msgpack' || v === 'protobuf' || v === 'lineprotocol';
}

function ok(a: Attempt): a is { value: unknown } {
  return a !== undefined && 'value' in a;
}

function looksLikeLineProtocol(buf: Uint8Array): boolean {
  const text = lenientUtf8.decode(buf.subarray(0, SNIFF_TEXT_BYTES));
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    return LINE_PROTOCOL.test(line);
  }
  return false;
}

export function sniff(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): Format | undefined {
  try {
    return sniffDecoded(buf, limits)?.format;
  } catch (err) {
    // The payload broke a limit in the only format it can be: that format.
    if (isFormatCertain(err) && isFormatName(err.details.format)) return err.details.format;
    throw err;
  }
}

/**
 * Like sniff(), but hands back the value when telling the format apart meant
 * decoding the payload, so the auto path never decodes the same bytes twice.
 * A payload that breaks a limit in the format it must be throws that limit's
 * error (e.g. DEPTH_EXCEEDED), not "unknown format".
 */
export function sniffDecoded(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): Sniffed | undefined {
  if (buf.length === 0) return undefined;
  const b0 = buf[0];
  if (b0 === 0xd9 && buf[1] === 0xd9 && buf[2] === 0xf7) return { format: 'cbor' }; // self-described CBOR tag 55799
  // A map with tag 259 (cbor-x's JS Map); as MessagePack these bytes would be a one-byte string with data after it.
  if (b0 === TAG_259[0] && TAG_259.equals(buf.subarray(0, TAG_259.length)) && buf[3] >= 0xa0 && buf[3] <= 0xbf) return { format: 'cbor' };
  if (b0 >= 0xdc && b0 <= 0xdf) return { format: 'msgpack' };
  if (b0 >= 0xa0 && b0 <= 0xbf) return { format: 'cbor' };
  if (b0 >= 0x80 && b0 <= 0x9f) {
    const cbor = attempt(() => decodeCbor(buf, limits));
    if (ok(cbor) && isSenmlCborPack(cbor.value)) return { format: 'senml-cbor', decoded: { value: senmlRecords(cbor.value, 'senml-cbor') } };
    const msgpack = attempt(() => decodeMsgpack(buf, limits));
    if (ok(cbor) && !ok(msgpack)) return { format: 'cbor', decoded: cbor };
    if (ok(msgpack) && !ok(cbor)) return { format: 'msgpack', decoded: msgpack };
    if (ok(cbor) && ok(msgpack)) return b0 <= 0x8f ? { format: 'msgpack', decoded: msgpack } : { format: 'cbor', decoded: cbor };
    // Neither decodes; if one of them stopped at a limit or at text that is not UTF-8, that is the reason to give.
    const [first, second] = b0 <= 0x8f ? [msgpack, cbor] : [cbor, msgpack];
    const limit = first ?? second;
    if (limit && 'limit' in limit) throw limit.limit;
    return undefined;
  }

  let i = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  while (i < buf.length && isSpace(buf[i])) i++;
  if (i >= buf.length) return undefined;
  if (buf[i] === 0x7b || buf[i] === 0x5b) {
    // As attempt(), without its closure and wrapper: JSON is what most messages are.
    let value: unknown;
    try {
      value = decodeJson(buf, limits);
    } catch (err) {
      if (isLimitError(err)) throw err;
      return { format: looksLikeLineProtocol(buf) ? 'lineprotocol' : 'json' };
    }
    const pack = senmlPackIn(value);
    if (pack) return { format: 'senml', decoded: { value: pack } };
    return { format: 'json', decoded: { value } };
  }
  if (buf[i] === 0x3c) return { format: 'xml' };
  if (looksLikeLineProtocol(buf)) return { format: 'lineprotocol' };
  return jsonScalar(buf, i);
}

const JSON_SCALAR = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null|"(?:[^"\\\u0000-\u001f]|\\.)*")$/;

/**
 * A payload that is a JSON number, string, boolean or null is JSON, only not a reading: decoded as such, so
 * the device is told a reading object or array is expected rather than that its format is unknown.
 */
function jsonScalar(buf: Uint8Array, from: number): Sniffed | undefined {
  const b = buf[from];
  // Only what a JSON number, string, true, false or null can start with is turned into text.
  if (!(b === 0x2d || (b >= 0x30 && b <= 0x39) || b === 0x22 || b === 0x74 || b === 0x66 || b === 0x6e)) return undefined;
  const text = Buffer.from(buf.buffer, buf.byteOffset + from, buf.byteLength - from).toString('utf8').trimEnd();
  if (!JSON_SCALAR.test(text)) return undefined;
  try {
    return { format: 'json', decoded: { value: JSON.parse(text) as unknown } };
  } catch {
    return undefined;
  }
}

const BY_TYPE = new Map<string, Format>(Object.entries({
  'application/json': 'json',
  'text/json': 'json',
  'application/cbor': 'cbor',
  'application/msgpack': 'msgpack',
  'application/x-msgpack': 'msgpack',
  'application/vnd.msgpack': 'msgpack',
  'application/protobuf': 'protobuf',
  'application/x-protobuf': 'protobuf',
  'application/vnd.google.protobuf': 'protobuf',
  'application/x-google-protobuf': 'protobuf',
  // InfluxDB's /write endpoint takes line protocol as text/plain.
  'text/plain': 'lineprotocol',
  'application/senml+json': 'senml',
  'application/senml+cbor': 'senml-cbor',
  'application/xml': 'xml',
  'text/xml': 'xml',
}) as Array<[string, Format]>);

/**
 * Maps an MQTT 5 content type or HTTP Content-Type to a format; parameters
 * (charset...) are ignored. SenML types are SenML; other structured suffixes count: application/foo+json is JSON.
 * Unknown types give undefined, so the caller can sniff or use its fixed format.
 */
export function formatFromContentType(contentType: string | undefined | null): Format | undefined {
  return contentType ? formatFromMediaType(mediaTypeOf(contentType)) : undefined;
}

/** A Content-Type's media type as the inputs compare it: parameters dropped, trimmed, lower case. */
export function mediaTypeOf(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase();
}

/** formatFromContentType() for a media type already taken out by mediaTypeOf(). */
export function formatFromMediaType(mediaType: string): Format | undefined {
  const known = BY_TYPE.get(mediaType);
  if (known) return known;
  if (mediaType.endsWith('+json')) return 'json';
  if (mediaType.endsWith('+cbor')) return 'cbor';
  if (mediaType.endsWith('+xml')) return 'xml';
  return undefined;
}

/**
 * The protobuf message type a content type names: `application/x-protobuf; messageType=upperstack.Batch`
 * (the parameter several HTTP clients and gateways use), or `proto=` (as in Prometheus'
 * `application/vnd.google.protobuf; proto=...`). undefined when it names none.
 */
export function protobufMessageType(contentType: string | undefined | null): string | undefined {
  if (!contentType) return undefined;
  const m = /;\s*(?:messagetype|proto)\s*=\s*("?)([^";\s]+)\1/i.exec(contentType);
  return m ? m[2] : undefined;
}
