/** Builds the dead-letter record of a message that failed, with a reason a person can act on. */
import type { DeadLetter } from './store/types';
import { previewJson } from './preview';
import { quotedIn } from './security/reason-redaction';
import { isRefusedAlike } from './errors';

const MAX_PAYLOAD = 4096;

function payloadText(payload: unknown): string {
  if (payload === undefined || payload === null) return '';
  if (Buffer.isBuffer(payload) || payload instanceof Uint8Array) {
    const buf = Buffer.from(payload);
    const slice = buf.subarray(0, MAX_PAYLOAD);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(slice);
    } catch {
      return `base64:${slice.toString('base64')}`;
    }
  }
  if (typeof payload === 'string') return payload.length > MAX_PAYLOAD ? payload.slice(0, MAX_PAYLOAD) : payload;
  // Whatever a device sent, however deep or wide: written without recursion and cut at the limit.
  return previewJson(payload, MAX_PAYLOAD);
}

export interface FailedMessage {
  device?: unknown;
  topic?: unknown;
  source?: unknown;
  payload?: unknown;
  error?: unknown;
}

/** Whether `message` names byte `offset` ("at byte 4", "byte 4 of 6"), not another byte whose number starts so. */
function namesByte(message: string, offset: number): boolean {
  return new RegExp(`\\bbyte ${offset}(?!\\d)`).test(message);
}

export function toDeadLetter(msg: FailedMessage, now = Date.now()): DeadLetter {
  const err = (typeof msg.error === 'object' && msg.error !== null ? msg.error : { message: typeof msg.error === 'string' ? msg.error : previewJson(msg.error ?? 'unknown error', 200) }) as Record<string, unknown>;
  const payloadDevice = typeof msg.payload === 'object' && msg.payload !== null && !Buffer.isBuffer(msg.payload) ? (msg.payload as { device?: unknown }).device : undefined;
  const device = typeof msg.device === 'string' && msg.device ? msg.device : typeof payloadDevice === 'string' && payloadDevice ? payloadDevice : 'unknown';
  const source = typeof msg.source === 'string' ? msg.source : typeof msg.topic === 'string' ? `mqtt:${msg.topic}` : 'flow';
  const message = typeof err.message === 'string' ? err.message.slice(0, MAX_PAYLOAD) : previewJson(err.message ?? 'unknown error', 200);
  // The place is added only where the message does not name it already (the codecs' own messages say
  // "ends early at byte 4 of 6"): the reason would otherwise say it twice.
  const where = typeof err.path === 'string' && err.path ? (message.includes(err.path) ? '' : ` (at ${err.path})`) : typeof err.offset === 'number' && !namesByte(message, err.offset) ? ` (at byte ${err.offset})` : '';
  // Found in the message before "(at …)" is added: a value the cut left a part of ends the message.
  const quoted = quotedIn(message, err.quoted);
  return {
    ts: now,
    device,
    source,
    code: typeof err.code === 'string' && err.code ? err.code : 'INTERNAL',
    reason: message + where,
    payload: payloadText(msg.payload),
    ...(quoted.length ? { quoted } : {}),
  };
}

/**
 * Failures whose body a dead letter does not keep: a message that names
 * another device than its path or topic (DEVICE_MISMATCH) is an impostor's,
 * so only why it was refused is recorded, whichever input it came through.
 */
const BODY_NOT_KEPT: ReadonlySet<string> = new Set(['DEVICE_MISMATCH']);

/** The failed message as its dead letter may keep it: without the body when the failure is an impostor's. */
export function keptOf<T extends FailedMessage>(msg: T): T {
  const err = msg.error as { code?: unknown } | undefined;
  if (typeof err !== 'object' || err === null || typeof err.code !== 'string' || !BODY_NOT_KEPT.has(err.code)) return msg;
  return { ...msg, payload: undefined };
}

/**
 * Whether a dead letter keeps the failed message for a replay. A letter is replayable when replaying its message
 * could go otherwise, after a change the user can make: the schema, the input's format or decoder settings
 * (protobuf definitions, MQTT's fixed format, which reads whatever content type a publish names), the device
 * registry, limits, the store. It is not when the message alone decides the refusal on the input that took it,
 * whatever the settings (errors marked by refusedAlike: an empty message; over HTTP and CoAP a content type the
 * route does not read): replayed, it would only be refused the same way. Its letter keeps the readable excerpt.
 */
export function keepsForReplay(msg: FailedMessage): boolean {
  return !isRefusedAlike(msg.error);
}

/** A device name safe to use as one topic level. */
export function topicLevel(device: string): string {
  const clean = device.replace(/[+#/\u0000\uFFFD]/g, '_');
  return clean || 'unknown';
}

/** A letter as JSON can hold it: `bytes` becomes `body` (base64). */
export function spoolSafe(l: DeadLetter): DeadLetter {
  if (l.bytes === undefined) return l;
  const { bytes, ...rest } = l;
  return { ...rest, body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
}
