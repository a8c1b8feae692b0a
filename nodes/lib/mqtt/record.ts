/** The journal record of one received MQTT message: compact binary, no JSON on the hot path. */

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  /** MQTT 5 content type, when the publisher set one. */
  contentType?: string;
  qos: number;
  receivedAt: number;
}

export function encodeRecord(m: ReceivedMessage): Buffer {
  const topic = Buffer.from(m.topic, 'utf8');
  const ct = Buffer.from(m.contentType ?? '', 'utf8');
  const head = Buffer.allocUnsafe(8 + 4 + 2 + 1);
  head.writeDoubleLE(m.receivedAt, 0);
  head.writeUInt32LE(topic.length, 8);
  head.writeUInt16LE(ct.length, 12);
  head.writeUInt8(m.qos, 14);
  return Buffer.concat([head, topic, ct, m.payload]);
}

export function decodeRecord(buf: Buffer): ReceivedMessage {
  const receivedAt = buf.readDoubleLE(0);
  const topicLen = buf.readUInt32LE(8);
  const ctLen = buf.readUInt16LE(12);
  const qos = buf.readUInt8(14);
  let off = 15;
  const topic = buf.toString('utf8', off, off + topicLen);
  off += topicLen;
  const contentType = ctLen ? buf.toString('utf8', off, off + ctLen) : undefined;
  off += ctLen;
  return { topic, payload: buf.subarray(off), contentType, qos, receivedAt };
}
