/**
 * From raw bytes to Readings: pick the format, check the limits, decode,
 * normalise. Used by the decode node and by every input that decodes by itself
 * (HTTP, CoAP).
 */
import { decode, sniffDecoded, type Format, type Precision } from './index';
import { protobufMessageType } from './sniff';
import { normalizeReadings, type NormalizeResult } from '../reading';
import { DecodeError, PayloadTooLargeError, refusedAlike, UnsupportedFormatError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import { resolveSenml, senmlPackIn, type SenmlRecord } from './senml';

export interface DecodeReadingsOptions {
  format: Format | 'auto';
  device?: string;
  receivedAt: number;
  protoType?: string;
  protoDir?: string;
  /** The MQTT 5 content type or Content-Type it came with: a protobuf message type named in it wins over protoType. */
  contentType?: string;
  /** Payload size limit in bytes; overrides limits.maxBytes when given. */
  maxBytes?: number;
  /** Depth, fields per reading, string length and readings per message; default DEFAULT_LIMITS. */
  limits?: Limits;
  /**
   * With format 'json': a body that has the shape of a SenML pack or lone record (senmlPackIn, the rule sniffing uses) is
   * SenML. For inputs whose senders label SenML as plain JSON (HTTP application/json, CoAP Content-Format 50).
   */
  senmlInJson?: boolean;
  /** Line protocol timestamps' unit (default ns): the request's `precision` on the HTTP and CoAP inputs. */
  precision?: Precision;
}

/** `format` is the format the payload was decoded from ('senml' for a SenML pack in JSON); 'object' for an already decoded value. */
export function decodeReadings(payload: Uint8Array | string, opts: DecodeReadingsOptions): NormalizeResult & { format: Format };
export function decodeReadings(payload: unknown, opts: DecodeReadingsOptions): NormalizeResult & { format: Format | 'object' };
export function decodeReadings(payload: unknown, opts: DecodeReadingsOptions): NormalizeResult & { format: Format | 'object' } {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const maxBytes = opts.maxBytes ?? limits.maxBytes;
  let data: unknown = payload;
  let format: Format | 'object' = 'object';
  if (typeof payload === 'string') {
    // Checked before the copy: a UTF-8 string is at least as many bytes as it has code units.
    if (payload.length > maxBytes) throw new PayloadTooLargeError(Buffer.byteLength(payload, 'utf8'), maxBytes);
    payload = Buffer.from(payload, 'utf8');
  }
  if (payload instanceof Uint8Array) {
    const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (buf.length > maxBytes) throw new PayloadTooLargeError(buf.length, maxBytes);
    // Nothing to read, whatever its format: DECODE_FAILED, as HTTP (400) and CoAP (4.00) refuse an empty body; no
    // setting changes that, so its dead letter is not replayable.
    if (buf.length === 0) throw refusedAlike(new DecodeError('the payload is empty', { format: opts.format === 'auto' ? 'none' : opts.format }));
    const sniffed = opts.format === 'auto' ? sniffDecoded(buf, limits) : { format: opts.format };
    if (!sniffed) throw new UnsupportedFormatError('cannot tell the payload format from its bytes (protobuf needs a fixed format); set the format or an MQTT 5 content type', { bytes: buf.length });
    format = sniffed.format;
    data = sniffed.decoded ? sniffed.decoded.value : decode(format, buf, { protoType: opts.protoType, protoDir: opts.protoDir, messageType: format === 'protobuf' ? protobufMessageType(opts.contentType) : undefined, precision: opts.precision, limits });
    const pack = format === 'json' && opts.senmlInJson ? senmlPackIn(data) : undefined;
    if (pack) {
      format = 'senml';
      data = pack;
    }
    // SenML times may be relative to receipt and its base name may name the device: resolved here, where both are known.
    if (format === 'senml' || format === 'senml-cbor') data = resolveSenml(data as SenmlRecord[], { device: opts.device, receivedAt: opts.receivedAt }, format);
  }
  const out = normalizeReadings(data, { device: opts.device, receivedAt: opts.receivedAt, limits, epochMs: format === 'lineprotocol' }) as NormalizeResult & { format: Format | 'object' };
  out.format = format;
  return out;
}
