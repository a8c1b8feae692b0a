/**
 * What an HTTP or CoAP request carries, turned into the readings to store and
 * the failures to dead-letter, without any transport. The input runs it when a
 * request arrives (so it can answer 400, 403, 415 or 422 and say how many
 * readings were accepted) and again when the journaled request is replayed after
 * a restart: the same bytes and receive time give the same outcome.
 */
import { decodeJson } from '../codec/json';
import { decodeReadings } from '../codec/readings';
import { formatFromMediaType, mediaTypeOf, type Format } from '../codec';
import { DecodeError, UnsupportedFormatError, UpperstackError, ConfigError, TooManyReadingsError, refusedAlike } from '../errors';
import { REQUEST_LIMITS } from '../limits';
import { normalizeReadings, type NormalizeResult, type Reading } from '../reading';
import type { ReadingValidator } from '../schema/validator';
import { influxPrecision, parseInfluxLines } from './influx';
import { insertReadings } from './cromflag';
import { DeviceMismatchError } from './errors';
import { rejectedBody, type WrittenAs } from '../deadletter-replay';

/** Which route a request came in on. */
export type InputRoute = 'ingest' | 'insert' | 'influx-v1' | 'influx-v2' | 'coap';

export interface InputRequest {
  route: InputRoute;
  /** The device the path names (ingest, insert, coap). */
  device?: string;
  contentType?: string;
  /** The body, already inflated. */
  payload: Buffer;
  receivedAt: number;
  /** Route parameters: `precision` (line protocol times; every route but /insert) (other keys, such as `route`, are ignored). */
  meta?: Record<string, string>;
}

export interface InputOptions {
  validate: ReadingValidator;
  /** Payload size limit of the decoders (bytes). */
  maxBytes: number;
  /** Protobuf message type for application/x-protobuf. */
  protoType?: string;
  protoDir?: string;
  /**
   * Devices only they may send readings of (the registry's). A body may name other devices than its path's (a
   * gateway's SenML pack, a `device` member), as an MQTT payload may its topic's, but not one of these. Without
   * it, a body naming any other device is refused.
   */
  registered?: (device: string) => boolean;
  /** Format of CoAP application/octet-stream bodies (Content-Format 42). */
  octetFormat?: Format;
  /** Line protocol tag that names the device (default `device`). */
  deviceTag?: string;
}

export interface InputFailure {
  error: UpperstackError;
  /** What failed: the body, one item of it, or one line. */
  payload: unknown;
  /** Position of the item in the body's batch. */
  index?: number;
  line?: number;
  device?: string;
  /** The payload is the item written anew, not the request's bytes, in this content type and format (nodes/lib/deadletter-replay.ts rejectedBody). */
  as?: WrittenAs;
}

/** Why the request as a whole is turned down (its failures are still dead-lettered). */
export type Refusal = 'malformed' | 'forbidden' | 'unsupported';

export interface InputOutcome {
  readings: Reading[];
  failures: InputFailure[];
  refusal?: Refusal;
  /**
   * How many of `failures` are decoded readings the schema refused; the rest
   * failed to decode (or the request was refused as a whole). /metrics counts
   * them as a validate and a decode node would (invalid_total by stage).
   */
  schemaRefused?: number;
}

/**
 * The request was read but not one reading in it is valid: each was refused for what it held (a schema
 * violation, an invalid reading, a timestamp out of range). HTTP answers it 422 and CoAP 4.22; a request
 * that cannot be read at all carries a `refusal` instead (400 / 4.00, 403 / 4.03, 415 / 4.15).
 */
export function noReadingValid(o: InputOutcome): boolean {
  return !o.refusal && o.readings.length === 0 && o.failures.length > 0;
}

/**
 * What a journaled request holds in flight, for the input's readings mark: its
 * readings, and the items it dead-letters (each leaves as a message of its own).
 */
export function outcomeWeight(o: InputOutcome): number {
  return o.readings.length + o.failures.length;
}

/** Media types /ingest takes, for 415 answers. */
export const INGEST_TYPES = [
  'application/json',
  'application/cbor',
  'application/msgpack',
  'application/x-msgpack',
  'application/x-protobuf',
  'application/xml',
  'text/xml',
  'text/plain (InfluxDB line protocol)',
  'application/senml+json',
  'application/senml+cbor',
];

function refuse(refusal: Refusal, error: UpperstackError, payload: Buffer, device?: string): InputOutcome {
  return { readings: [], failures: [{ error, payload, ...(device ? { device } : {}) }], refusal };
}

// Devices send the same Content-Type request after request: the last one's format is kept.
let lastType: string | undefined;
let lastFormat: Format | undefined;

/** CoAP names its media types by Content-Format number: the ones /telemetry takes, for 4.15 diagnostics. */
const COAP_TYPES = '50 (JSON), 60 (CBOR), 110 (SenML JSON), 112 (SenML CBOR), 42 (octet-stream: the node\'s codec, or protobuf with the query ?format=protobuf), 41 (XML), 0 (line protocol)';

/** Formats that are text: their bytes are read as UTF-8. */
const TEXT_FORMATS: ReadonlySet<Format> = new Set<Format>(['json', 'senml', 'lineprotocol', 'xml']);

/**
 * JSON is UTF-8 by definition (RFC 8259 §8.1; application/json has no charset parameter) and so is line
 * protocol; the body is journaled and decoded as UTF-8 bytes. A text body labelled with another charset
 * (latin1, utf-16...) would be read wrongly without a word, so it is refused with 415 naming the charset,
 * as Express's body parser (Node-RED's own `http in`) does. UTF-8 and its subset US-ASCII pass.
 */
export function checkCharset(contentType: string | undefined, format: Format): void {
  if (!contentType || !TEXT_FORMATS.has(format)) return;
  const m = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType);
  if (!m) return;
  const charset = m[1].toLowerCase();
  if (charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii' || charset === 'ascii') return;
  const named = m[1].slice(0, 40);
  throw new UnsupportedFormatError(`Content-Type charset ${named} is not supported: send the body as UTF-8 (charset=utf-8, or no charset)`, { contentType: contentType.slice(0, 100), charset: named });
}

/** The format of a body, or why there is none; CoAP's octet-stream takes the configured codec. */
export function formatOf(req: InputRequest, opts: InputOptions): Format {
  if (lastFormat !== undefined && req.contentType === lastType) return lastFormat;
  const ct = req.contentType ? mediaTypeOf(req.contentType) : undefined;
  if (!ct) {
    if (req.route === 'coap') throw new UnsupportedFormatError(`a Content-Format is required; use ${COAP_TYPES}`);
    throw new UnsupportedFormatError(`a Content-Type is required; use one of ${INGEST_TYPES.join(', ')}`);
  }
  if (ct === 'application/octet-stream' && req.route === 'coap' && opts.octetFormat) return opts.octetFormat;
  const f = formatFromMediaType(ct);
  if (!f && req.route === 'coap') throw new UnsupportedFormatError(`Content-Format ${ct.slice(0, 60)} is not supported; use ${COAP_TYPES}`, { contentFormat: ct });
  if (!f) throw new UnsupportedFormatError(`Content-Type ${ct.slice(0, 60)} is not supported; use one of ${INGEST_TYPES.join(', ')}`, { contentType: ct });
  checkCharset(req.contentType, f);
  // Not octet-stream: its format depends on the route and the node, not on the type alone.
  if (ct !== 'application/octet-stream') {
    lastType = req.contentType;
    lastFormat = f;
  }
  return f;
}

/**
 * processRequest for an input: a bug in a decoder (any throw that is not one of
 * ours) fails this request alone as DECODE_FAILED (400, CoAP 4.00), never the
 * input. Not a 5xx: the device would resend the same body and meet the same bug.
 */
export function requestOutcome(req: InputRequest, opts: InputOptions): InputOutcome {
  try {
    return processRequest(req, opts);
  } catch (err) {
    const error = err instanceof UpperstackError
      ? err
      : new DecodeError(`(internal) ${err instanceof Error ? err.message : String(err)}`, { format: req.contentType ?? 'unknown' }, { cause: err });
    return refuse('malformed', error, req.payload, req.device);
  }
}

/**
 * The refusal of a request of more readings than one request may hold, or undefined. HTTP answers it 413
 * and CoAP 4.13 before anything is kept: the client splits the batch and resends it, where a 400 or 4.00
 * tells it to drop the batch. Its message says so, as the request's limits are fixed.
 */
export function tooManyRequestReadings(outcome: InputOutcome): TooManyReadingsError | undefined {
  const err = outcome.refusal ? outcome.failures[0]?.error : undefined;
  return err instanceof TooManyReadingsError ? err : undefined;
}

export function processRequest(req: InputRequest, opts: InputOptions): InputOutcome {
  if (req.route === 'influx-v1' || req.route === 'influx-v2') return influx(req, opts);
  if (req.payload.length === 0) return refuse('malformed', refusedAlike(new DecodeError('the payload is empty', { format: 'none' })), req.payload, req.device);
  let items: NormalizeResult;
  // The format the body turned out to be in, for the dead letters of its refused items.
  let format: Format;
  try {
    if (req.route === 'insert') {
      const ct = req.contentType ? mediaTypeOf(req.contentType) : undefined;
      if (ct && ct !== 'application/json') throw new UnsupportedFormatError(`Content-Type ${ct.slice(0, 60)} is not supported here; /insert takes application/json`, { contentType: ct });
      checkCharset(req.contentType, 'json');
      items = insertReadings(decodeJson(req.payload, REQUEST_LIMITS), req.device ?? '', req.receivedAt);
      format = 'json';
    } else {
      // A SenML pack labelled as plain JSON is SenML, as MQTT tells it from its bytes: its records are never fields "n" and "v".
      // A line protocol body's times in the unit the request names, as on /write: ns, us, ms or s (InfluxDB 2's set).
      const precision = req.meta?.precision === undefined ? undefined : influxPrecision(req.meta.precision, 'v2').parse;
      const decoded = decodeReadings(req.payload, { format: formatOf(req, opts), device: req.device, receivedAt: req.receivedAt, contentType: req.contentType, protoType: opts.protoType, protoDir: opts.protoDir, maxBytes: opts.maxBytes, limits: REQUEST_LIMITS, senmlInJson: true, precision });
      items = decoded;
      format = decoded.format;
    }
  } catch (err) {
    if (err instanceof DeviceMismatchError) return refuse('forbidden', err, req.payload, req.device);
    // The request's own content type (missing, unknown, not UTF-8): the route has no setting that reads it otherwise, so a
    // replay through it is refused the same way. A type the node's settings refuse (ConfigError) may pass once they change.
    if (err instanceof UnsupportedFormatError && /Content-(Type|Format)/.test(err.message)) return refuse('unsupported', refusedAlike(err), req.payload, req.device);
    if (err instanceof ConfigError) return refuse('unsupported', new UnsupportedFormatError(`this input cannot decode ${req.contentType ?? 'the body'}: ${err.message}`), req.payload, req.device);
    if (err instanceof UpperstackError) return refuse('malformed', err, req.payload, req.device);
    throw err;
  }
  if (req.device !== undefined && req.route !== 'insert') {
    let other = -1;
    let checked: string | undefined;
    for (let i = 0; i < items.readings.length; i++) {
      const d = items.readings[i].device;
      if (d === req.device || d === checked) continue;
      if (!opts.registered || opts.registered(d)) {
        other = i;
        break;
      }
      checked = d;
    }
    if (other !== -1) {
      const named = items.readings[other].device;
      const why = opts.registered ? `"${named.slice(0, 60)}" is a registered device: only it may send its readings` : 'a device may only send its own readings';
      return refuse('forbidden', new DeviceMismatchError(`the body names device "${named.slice(0, 60)}" but the path names "${req.device}"; ${why}`, { path: Array.isArray(items.readings) && items.readings.length > 1 ? `[${other}].device` : 'device', claimed: named.slice(0, 128) }), req.payload, req.device);
    }
  }
  return validateAll(items, opts, req.device, undefined, { bytes: req.payload, format });
}

function validateAll(items: NormalizeResult, opts: InputOptions, device?: string, lines?: number[], body?: { bytes: Uint8Array; format: Format }): InputOutcome {
  const all = items.readings;
  // The array normalising built is the answer while every reading passes; a copy only from the first that fails.
  let kept: Reading[] | undefined;
  const failures: InputFailure[] = [];
  for (const r of items.rejected) {
    const f: InputFailure = { error: r.error, payload: r.item, index: r.index, ...(lines ? { line: lines[r.index] } : {}), ...(device ? { device } : {}) };
    if (body !== undefined) {
      const carried = rejectedBody(r.item, { bytes: body.bytes, readings: all.length, rejected: items.rejected.length, format: body.format });
      f.payload = carried.payload;
      if (carried.as) f.as = carried.as;
    }
    failures.push(f);
  }
  // The item each reading came from (readings skip the rejected items): a failure names the item of the
  // request, as the rejected ones do, not its place among the readings that were left.
  let item = 0;
  let nextRejected = 0;
  for (let i = 0; i < all.length; i++) {
    const r = all[i];
    const v = opts.validate(r);
    if (v.ok) {
      if (kept) kept.push(r);
    } else {
      kept ??= all.slice(0, i);
      for (; nextRejected < items.rejected.length && items.rejected[nextRejected].index <= item + i; nextRejected++) item++;
      const failure: InputFailure = { error: v.error, payload: r, index: item + i, device: r.device };
      if (lines) failure.line = lines[item + i];
      failures.push(failure);
    }
  }
  return { readings: kept ?? all, failures, schemaRefused: failures.length - items.rejected.length };
}

function influx(req: InputRequest, opts: InputOptions): InputOutcome {
  let parsed;
  try {
    parsed = parseInfluxLines(req.payload, req.meta?.precision, opts.deviceTag || 'device');
  } catch (err) {
    if (err instanceof UpperstackError) return refuse('malformed', err, req.payload);
    throw err;
  }
  const items = normalizeReadings(parsed.readings, { receivedAt: req.receivedAt, epochMs: true });
  const out = validateAll(items, opts, undefined, parsed.lines);
  for (const f of parsed.failures) out.failures.push(f.device === undefined ? { error: f.error, payload: f.text, line: f.line } : { error: f.error, payload: f.text, line: f.line, device: f.device });
  // Failures in the order of their lines: the answer names the first, as InfluxDB does.
  if (out.failures.length > 1) out.failures.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (out.readings.length === 0 && out.failures.length > 0) out.refusal = 'malformed';
  return out;
}
