/**
 * The journal record of MQTT messages before version 2 (no version byte). New
 * journals are written with nodes/lib/ingest/record.ts, whose decodeRecord()
 * still reads these, so journals left by an older release replay after an
 * upgrade. Kept to write such journals in tests.
 */
import type { RecordEncoder } from '../journal/journal';

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  /** MQTT 5 content type, when the publisher set one. */
  contentType?: string;
  qos: number;
  receivedAt: number;
}

const HEAD = 8 + 4 + 2 + 1; // f64 receivedAt, u32 topic length, u16 content-type length, u8 qos

/** Writes records straight into the journal's group buffer (no buffer per message). */
export const RECORD_ENCODER: RecordEncoder<ReceivedMessage> = {
  size: (m) => HEAD + Buffer.byteLength(m.topic, 'utf8') + (m.contentType ? Buffer.byteLength(m.contentType, 'utf8') : 0) + m.payload.length,
  write(m, buf, offset) {
    buf.writeDoubleLE(m.receivedAt, offset);
    let off = offset + HEAD;
    const topicLen = buf.write(m.topic, off, 'utf8');
    off += topicLen;
    const ctLen = m.contentType ? buf.write(m.contentType, off, 'utf8') : 0;
    off += ctLen;
    m.payload.copy(buf, off);
    buf.writeUInt32LE(topicLen, offset + 8);
    buf.writeUInt16LE(ctLen, offset + 12);
    buf.writeUInt8(m.qos, offset + 14);
  },
};

export function encodeRecord(m: ReceivedMessage): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_ENCODER.size(m));
  RECORD_ENCODER.write(m, buf, 0);
  return buf;
}

export function decodeRecord(buf: Buffer): ReceivedMessage {
  const receivedAt = buf.readDoubleLE(0);
  const topicLen = buf.readUInt32LE(8);
  const ctLen = buf.readUInt16LE(12);
  const qos = buf.readUInt8(14);
  let off = HEAD;
  const topic = buf.toString('utf8', off, off + topicLen);
  off += topicLen;
  const contentType = ctLen ? buf.toString('utf8', off, off + ctLen) : undefined;
  off += ctLen;
  return { topic, payload: buf.subarray(off), contentType, qos, receivedAt };
}
