/**
 * The PUBACKs of one turn of an external MQTT connection, written to its
 * socket as one buffer.
 *
 * MQTT.js writes each PUBACK through mqtt-packet's writeToStream(), which
 * corks the stream and schedules its uncork (a nextTick per packet) and makes
 * three stream writes for the four bytes. On a connection that takes single
 * readings that was about 400 bytes of garbage per message, and a writev of
 * three chunks per message at the end of each turn. The connection node
 * already holds its acknowledgements in the corked stream until the turn is
 * journaled; while a turn is open the stream carries an AckBatch, and
 * installAckHook() makes writeToStream() append a plain PUBACK (MQTT 3.1.1, or
 * MQTT 5 with reason code 0 and no properties: the same four bytes) to it
 * instead. The node writes the batch when the turn's journal write is done,
 * just before it uncorks, and drops it when the write failed.
 *
 * Order on the wire is kept: any other packet written to a stream that
 * carries a batch first writes the PUBACKs before it, and PUBACKs leave in the
 * order MQTT.js hands them over (the order the PUBLISH packets arrived,
 * [MQTT-4.6.0-2]). Without the hook (another mqtt-packet copy) nothing is
 * batched and every PUBACK is written as before, into the corked stream.
 */
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';

interface AckPacket {
  cmd?: string;
  messageId?: number;
  reasonCode?: number;
  properties?: unknown;
}

type WriteToStream = ((packet: AckPacket, stream: Writable, opts?: { protocolVersion?: number }) => boolean) & { cacheNumbers?: boolean };

const BATCH = Symbol.for('upperstack.mqtt.ackBatch');
const PUBACK = 0x40;
const PUBACK_LENGTH = 2;
const ACK_BYTES = 4;

type WithBatch = Writable & { [BATCH]?: AckBatch };

/** PUBACKs waiting for the end of a turn, encoded as they will be sent. */
export class AckBatch {
  private buf: Buffer | undefined;
  private n = 0;

  /** Room for this many PUBACKs before the buffer grows (a turn's message maximum). */
  constructor(private capacity = 16) {}

  get size(): number {
    return this.n / ACK_BYTES;
  }

  add(messageId: number): void {
    let buf = this.buf;
    if (!buf) buf = this.buf = Buffer.allocUnsafe(this.capacity * ACK_BYTES);
    else if (this.n + ACK_BYTES > buf.length) {
      this.capacity *= 2;
      const grown = Buffer.allocUnsafe(this.capacity * ACK_BYTES);
      buf.copy(grown, 0, 0, this.n);
      buf = this.buf = grown;
    }
    const at = this.n;
    buf[at] = PUBACK;
    buf[at + 1] = PUBACK_LENGTH;
    buf[at + 2] = messageId >>> 8;
    buf[at + 3] = messageId & 0xff;
    this.n = at + ACK_BYTES;
  }

  /** Writes the PUBACKs held to the stream (one write) and starts empty. */
  writeTo(stream: Writable): void {
    const buf = this.buf;
    if (!buf || this.n === 0) return;
    // The stream keeps the buffer until it is sent: the next PUBACKs go into a new one.
    const out = buf.subarray(0, this.n);
    this.buf = undefined;
    this.n = 0;
    stream.write(out);
  }

  /** Forgets the PUBACKs held: they must never be sent. */
  clear(): void {
    this.buf = undefined;
    this.n = 0;
  }
}

/** PUBACKs written to this stream go to `batch` until stopCollecting(). */
export function collectAcks(stream: Writable, batch: AckBatch): void {
  (stream as WithBatch)[BATCH] = batch;
}

/** Ends collecting on the stream; `send`: write what was collected, else drop it. */
export function stopCollecting(stream: Writable, send: boolean): void {
  const s = stream as WithBatch;
  const batch = s[BATCH];
  if (!batch) return;
  delete s[BATCH];
  if (send) batch.writeTo(stream);
  else batch.clear();
}

/** A PUBACK whose encoding is the four bytes AckBatch writes. */
function isPlainAck(packet: AckPacket, opts: { protocolVersion?: number } | undefined): boolean {
  const id = packet.messageId;
  if (packet.cmd !== 'puback' || typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffff) return false;
  if (opts?.protocolVersion !== 5) return true;
  return packet.reasonCode === 0 && packet.properties === undefined;
}

let installed = false;

/**
 * Wraps writeToStream() of the mqtt-packet copy MQTT.js loads (resolved from
 * MQTT.js's own folder), once. Streams without a batch are not touched.
 */
export function installAckHook(): void {
  if (installed) return;
  installed = true;
  const mod = createRequire(require.resolve('mqtt'))('mqtt-packet') as { writeToStream: WriteToStream };
  const original = mod.writeToStream;
  const hooked: WriteToStream = function writeToStream(packet, stream, opts) {
    const batch = (stream as WithBatch)[BATCH];
    if (batch !== undefined) {
      if (isPlainAck(packet, opts)) {
        batch.add(packet.messageId as number);
        return true;
      }
      batch.writeTo(stream);
    }
    return original(packet, stream, opts);
  };
  // MQTT.js sets writeToStream.cacheNumbers (its writeCache option): it belongs to the original.
  Object.defineProperty(hooked, 'cacheNumbers', {
    get: () => original.cacheNumbers,
    set: (v: boolean) => {
      original.cacheNumbers = v;
    },
  });
  mod.writeToStream = hooked;
}
