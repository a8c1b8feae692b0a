/**
 * One entry point for every payload format. decode() gives what the format holds
 * (normalizeReadings() turns it into Readings); line protocol and the upperstack
 * protobuf messages already come out in Reading shape. Every failure is a
 * DecodeError saying where the bytes went wrong.
 */
import type { Reading } from '../reading';
import { InvalidReadingError, UnsupportedFormatError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import { decodeCbor, encodeCbor } from './cbor';
import { decodeJson, encodeJson } from './json';
import { checkPrecision, parseLineProtocol, serializeLineProtocol, type Precision } from './lineprotocol';
import { decodeMsgpack, encodeMsgpack } from './msgpack';
import { decodeProtobuf, encodeProtobuf } from './protobuf';
import { decodeSenmlCbor, decodeSenmlJson, encodeSenmlCbor, toSenmlPack } from './senml';
import { decodeXml, encodeXml } from './xml';

export type Format = 'json' | 'cbor' | 'msgpack' | 'protobuf' | 'lineprotocol' | 'senml' | 'senml-cbor' | 'xml';
export const FORMATS: readonly Format[] = ['json', 'cbor', 'msgpack', 'protobuf', 'lineprotocol', 'senml', 'senml-cbor', 'xml'];

export interface CodecOptions {
  /**
   * Protobuf message type, e.g. "upperstack.Batch"; default upperstack.Reading (decode) or by value shape (encode).
   * On decode upperstack.Reading and upperstack.Batch are told apart by their bytes.
   */
  protoType?: string;
  /** Protobuf message type the sender named (its content type): decoded as exactly that. */
  messageType?: string;
  /** Folder of .proto files; default the package's proto/. */
  protoDir?: string;
  /** Line protocol timestamp precision; default ns. */
  precision?: Precision;
  /** What one payload may hold (depth, widths, string lengths); checked before decoding. Default DEFAULT_LIMITS. */
  limits?: Limits;
}

export type { Precision, LineReading } from './lineprotocol';
export { sniff, sniffDecoded, formatFromContentType, formatFromMediaType, mediaTypeOf, protobufMessageType, type Sniffed } from './sniff';
export { listProtoTypes, clearProtoCache, defaultProtoDir, READING_TYPE, BATCH_TYPE } from './protobuf';
export { parseLineProtocol, serializeLineProtocol } from './lineprotocol';
export { resolveSenml, isSenmlPack, isSenmlCborPack, toSenmlPack, type SenmlRecord, type SenmlReading } from './senml';
export { decodeXml, encodeXml, type XmlReading } from './xml';

export function isFormat(value: unknown): value is Format {
  return typeof value === 'string' && (FORMATS as readonly string[]).includes(value);
}

function asReadingList(value: unknown): Reading[] {
  const list = Array.isArray(value) ? value : [value];
  list.forEach((r, i) => {
    if (typeof r !== 'object' || r === null || typeof (r as Reading).device !== 'string' || typeof (r as Reading).fields !== 'object' || (r as Reading).fields === null) {
      throw new InvalidReadingError(`[${i}] must be a Reading with a device and a fields object`, { path: `[${i}]` });
    }
  });
  return list as Reading[];
}

function unsupported(format: unknown): never {
  throw new UnsupportedFormatError(`unknown payload format "${String(format)}"; use one of ${FORMATS.join(', ')}`, { format });
}

export function decode(format: Format, buf: Uint8Array, opts: CodecOptions = {}): unknown {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  switch (format) {
    case 'json':
      return decodeJson(buf, limits);
    case 'cbor':
      return decodeCbor(buf, limits);
    case 'msgpack':
      return decodeMsgpack(buf, limits);
    case 'protobuf':
      return decodeProtobuf(buf, opts.protoType, opts.protoDir, limits, opts.messageType);
    case 'lineprotocol':
      return parseLineProtocol(buf, checkPrecision(opts.precision), limits);
    case 'senml':
      return decodeSenmlJson(buf, limits);
    case 'senml-cbor':
      return decodeSenmlCbor(buf, limits);
    case 'xml':
      return decodeXml(buf, limits);
    default:
      return unsupported(format);
  }
}

/** Line protocol, SenML, XML and the upperstack protobuf messages take Readings; the other formats take any value. */
export function encode(format: Format, value: unknown, opts: CodecOptions = {}): Buffer {
  switch (format) {
    case 'json':
      return encodeJson(value);
    case 'cbor':
      return encodeCbor(value);
    case 'msgpack':
      return encodeMsgpack(value);
    case 'protobuf':
      return encodeProtobuf(value, opts.protoType, opts.protoDir);
    case 'lineprotocol':
      return Buffer.from(serializeLineProtocol(value as Reading | Reading[], checkPrecision(opts.precision)), 'utf8');
    case 'senml':
      return encodeJson(toSenmlPack(asReadingList(value)));
    case 'senml-cbor':
      return encodeSenmlCbor(toSenmlPack(asReadingList(value), true));
    case 'xml':
      return encodeXml(asReadingList(value));
    default:
      return unsupported(format);
  }
}
