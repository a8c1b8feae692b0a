/**
 * The journal record of one received message, the same for every protocol.
 *
 * Layout (version 2), little-endian, written straight into the journal's group
 * buffer (no buffer per message):
 *
 *   u8  version (2)
 *   u8  qos (255: the protocol has none)
 *   f64 receivedAt (epoch ms)
 *   u32 length of source, remote, contentType, device, meta (in that order)
 *   ... those strings (UTF-8; meta is JSON), then the payload to the end
 *
 * Journals written before version 2 hold the MQTT-only record of
 * nodes/lib/mqtt/record.ts, which starts with receivedAt as a float64. Its first
 * byte is the lowest byte of the mantissa, always 0 for a whole number of
 * milliseconds below 2^44 (the year 2527), and its eighth byte holds the sign
 * and exponent (0x40 to 0x7f for any time after 1970). No version-2 record
 * starts with 0, so the first byte tells them apart and old journals replay
 * after an upgrade.
 */
import type { RecordEncoder } from '../journal/journal';
import { JournalError } from '../errors';
import { putUtf8 } from '../utf8-put';

export const RECORD_VERSION = 2;

/** One received message, whatever protocol brought it. */
export interface Received {
  /** Protocol and address: `mqtt:<topic>`, `http:<path>`, `coap:<path>`, `replay:<what>`. */
  source: string;
  payload: Buffer;
  /** Epoch ms. */
  receivedAt: number;
  /** The peer's address (`host:port`), when the transport knows it. */
  remote?: string;
  /** MQTT 5 content type, HTTP Content-Type, CoAP Content-Format as a media type. */
  contentType?: string;
  /**
   * Who sent it (the login, as the audit log names it: `device:<id>`, `anonymous`...), when the transport knows.
   * Not journaled: a replayed message is not sent again by anyone.
   */
  actor?: string;
  /** The device, when the transport names it (an authenticated client, a path segment). */
  device?: string;
  /** MQTT QoS; absent for protocols without one. */
  qos?: number;
  /** Protocol details a decoder may need (e.g. an HTTP `precision` parameter). */
  meta?: Record<string, string>;
}

const HEAD = 1 + 1 + 8 + 5 * 4;
const NO_QOS = 255;
const MAX_META = 64 * 1024;

// size() and write() both need a record's meta as text, and an input asks for the size before the
// journal does: the last one made is kept (HTTP metas are mostly one small object per request).
let lastMeta: object | undefined;
let lastMetaText = '';

function metaText(meta: Record<string, string> | undefined): string {
  if (!meta) return '';
  if (meta === lastMeta) return lastMetaText;
  let text = JSON.stringify(meta);
  if (text === '{}') text = '';
  lastMeta = meta;
  lastMetaText = text;
  return text;
}

// The strings of a record are short and mostly ASCII (topics, paths, addresses, media types):
// measured and copied here, not through a call into the runtime for each one.
const SHORT = 64;

function len(s: string | undefined): number {
  if (!s) return 0;
  const n = s.length;
  if (n > SHORT) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return n;
}

/** Writes s at off; returns the bytes written. */
function put(s: string | undefined, buf: Buffer, off: number): number {
  return s ? putUtf8(s, buf, off) : 0;
}

/** Writes s at off and its length at lenAt; returns the offset after it. */
function putField(s: string | undefined, buf: Buffer, off: number, lenAt: number): number {
  const n = put(s, buf, off);
  buf.writeUInt32LE(n, lenAt);
  return off + n;
}

/** Writes version-2 records straight into the journal's group buffer. */
export const RECORD_ENCODER: RecordEncoder<Received> = {
  size(r) {
    let metaLen = 0;
    if (r.meta) {
      metaLen = len(metaText(r.meta));
      if (metaLen > MAX_META) throw new JournalError(`the protocol details of a message from ${r.source} take ${metaLen} bytes, more than ${MAX_META}`);
    }
    return HEAD + len(r.source) + len(r.remote) + len(r.contentType) + len(r.device) + metaLen + r.payload.length;
  },
  write(r, buf, offset) {
    buf[offset] = RECORD_VERSION;
    buf[offset + 1] = r.qos === undefined ? NO_QOS : r.qos;
    buf.writeDoubleLE(r.receivedAt, offset + 2);
    let off = offset + HEAD;
    // Field by field (no array per record): this runs for every message an input receives.
    off = putField(r.source, buf, off, offset + 10);
    off = putField(r.remote, buf, off, offset + 14);
    off = putField(r.contentType, buf, off, offset + 18);
    off = putField(r.device, buf, off, offset + 22);
    off = putField(r.meta ? metaText(r.meta) : undefined, buf, off, offset + 26);
    r.payload.copy(buf, off);
  },
};

export function encodeRecord(r: Received): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_ENCODER.size(r));
  RECORD_ENCODER.write(r, buf, 0);
  return buf;
}

/** Reads a record of either version; throws JournalError for anything else. */
export function decodeRecord(buf: Buffer): Received {
  if (buf.length >= 15 && buf[0] === 0 && buf[7] >= 0x40 && buf[7] < 0x80) return decodeLegacy(buf);
  if (buf.length < HEAD || buf[0] !== RECORD_VERSION) {
    throw new JournalError(`unreadable journal record (version byte ${buf.length ? buf[0] : 'missing'}, ${buf.length} bytes); it was written by another version of Upperstack`, { version: buf.length ? buf[0] : undefined });
  }
  const qos = buf[1];
  const receivedAt = buf.readDoubleLE(2);
  let off = HEAD;
  const strings: Array<string | undefined> = [];
  for (let i = 0; i < 5; i++) {
    const n = buf.readUInt32LE(10 + i * 4);
    if (off + n > buf.length) throw new JournalError(`truncated journal record: field ${i} needs ${n} bytes at ${off} of ${buf.length}`);
    strings.push(n ? buf.toString('utf8', off, off + n) : undefined);
    off += n;
  }
  const [source, remote, contentType, device, meta] = strings;
  const r: Received = { source: source ?? '', payload: buf.subarray(off), receivedAt };
  if (remote !== undefined) r.remote = remote;
  if (contentType !== undefined) r.contentType = contentType;
  if (device !== undefined) r.device = device;
  if (qos !== NO_QOS) r.qos = qos;
  if (meta !== undefined) {
    try {
      r.meta = JSON.parse(meta) as Record<string, string>;
    } catch (err) {
      throw new JournalError(`journal record from ${r.source} has unreadable protocol details`, {}, { cause: err });
    }
  }
  return r;
}

/** The MQTT-only record of journals written before version 2 (nodes/lib/mqtt/record.ts). */
function decodeLegacy(buf: Buffer): Received {
  const receivedAt = buf.readDoubleLE(0);
  const topicLen = buf.readUInt32LE(8);
  const ctLen = buf.readUInt16LE(12);
  const qos = buf.readUInt8(14);
  let off = 15;
  if (off + topicLen + ctLen > buf.length) throw new JournalError(`truncated journal record: topic and content type need ${topicLen + ctLen} bytes at ${off} of ${buf.length}`);
  const topic = buf.toString('utf8', off, off + topicLen);
  off += topicLen;
  const contentType = ctLen ? buf.toString('utf8', off, off + ctLen) : undefined;
  off += ctLen;
  const r: Received = { source: `mqtt:${topic}`, payload: buf.subarray(off), receivedAt, qos };
  if (contentType !== undefined) r.contentType = contentType;
  return r;
}

/** The time a record was received, without decoding the rest (for the age of a backlog). */
export function receivedAtOf(buf: Buffer): number | undefined {
  if (buf.length >= 15 && buf[0] === 0) return buf.readDoubleLE(0);
  if (buf.length >= HEAD && buf[0] === RECORD_VERSION) return buf.readDoubleLE(2);
  return undefined;
}

/** `mqtt` of `mqtt:devices/a/telemetry`. */
export function protocolOf(source: string): string {
  const i = source.indexOf(':');
  return i < 0 ? source : source.slice(0, i);
}

/** `devices/a/telemetry` of `mqtt:devices/a/telemetry`: the topic or path the protocol names. */
export function addressOf(source: string): string {
  const i = source.indexOf(':');
  return i < 0 ? source : source.slice(i + 1);
}
