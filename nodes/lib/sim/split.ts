/**
 * A busy device's batch can outgrow what the server takes in one message (the CoAP input's body limit, 256 KiB by
 * default; the HTTP input's, or its 10,000 readings): the server refuses it for its size (HTTP 413, CoAP 4.13),
 * and a device that dropped it would lose every reading in it. It goes again in parts instead, each within the
 * limit the server said (CoAP's Size1), else halves, until each part is taken or holds one reading. A transport
 * whose server cannot refuse for size (MQTT) names its limit instead, and a batch over it goes in parts at once.
 */
import { encode, type Format } from '../codec';
import { PayloadTooLargeError } from '../errors';
import type { Reading } from '../reading';
import type { SimDevice } from './simulator';
import type { Transport } from './transports';

export interface PartEvents {
  /** A message goes to the transport. */
  sent(): void;
  acked(): void;
  /** The server refused a message for its size: its readings go again in parts. */
  split(): void;
  failed(err: unknown): void;
  /** The server refused the device for good (a lasting RefusedError, a single reading too large): it sends nothing more. */
  refused?(err: unknown): void;
  /** True once nothing more should be sent (the run gave up waiting). */
  abandoned(): boolean;
}

/**
 * A refusal every later message of the device would get too (`lasting`): the server refused the request
 * itself (an HTTP 4xx or CoAP 4.xx: a device id, a format or a path it does not take). Not lasting: a login
 * (registering the device may fix it), a timeout or a rate (they pass), and a refusal of what the readings
 * held (HTTP 422, CoAP 4.22): a spike a schema's range refuses is followed by readings it takes.
 * The sender stops a device refused for good instead of repeating it.
 */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(message: string, readonly lasting: boolean) {
    super(message);
  }
}

const PASSING_HTTP = new Set([401, 403, 408, 422, 429]);
const PASSING_COAP = new Set(['4.01', '4.03', '4.08', '4.22', '4.29']);

/** The refusal of an HTTP status other than 2xx and 413 (413 is refusedForSize). */
export function refusedByHttp(message: string, status: number): RefusedError {
  return new RefusedError(message, status >= 400 && status < 500 && !PASSING_HTTP.has(status));
}

/** The refusal of a CoAP response code other than 2.xx and 4.13 (4.13 is refusedForSize). */
export function refusedByCoap(message: string, code: string): RefusedError {
  return new RefusedError(message, code.startsWith('4.') && !PASSING_COAP.has(code));
}

/** The server's refusal of a message for its size; `limit` in bytes when the server said it (CoAP Size1). */
export function refusedForSize(message: string, size: number, limit: number | undefined): PayloadTooLargeError {
  return new PayloadTooLargeError(size, limit ?? 0, message, { limit });
}

/**
 * Into how many parts a refused message of `bytes` goes. Each part carries the message's envelope again
 * (`overhead` bytes: brackets, headers), so only `limit - overhead` of each part is room for readings.
 */
export function partCount(bytes: number, readings: number, err: PayloadTooLargeError, overhead = 0): number {
  const limit = err.details.limit;
  const room = typeof limit === 'number' ? limit - overhead : 0;
  const wanted = room > 0 ? Math.ceil((bytes - overhead) / room) : 2;
  return Math.min(readings, Math.max(2, wanted));
}

/** The bytes a message of the format has with no reading in it (0 when the format cannot say). */
function envelopeBytes(format: Format): number {
  try {
    return encode(format, []).length;
  } catch {
    return 0;
  }
}

function splitInto<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < parts; i++) out.push(items.slice(Math.floor((i * items.length) / parts), Math.floor(((i + 1) * items.length) / parts)));
  return out;
}

/**
 * Consecutive parts each within `limit` bytes, counting every part's own envelope and one separator per reading
 * (readings differ in size, so an even split by count can still leave one part too large). Undefined when it
 * would not split at all.
 */
export function packInto(readings: readonly Reading[], format: Format, limit: number): Reading[][] | undefined {
  const envelope = envelopeBytes(format);
  const overhead = envelope + 8;
  const out: Reading[][] = [];
  let current: Reading[] = [];
  let used = overhead;
  for (const r of readings) {
    const size = encode(format, [r]).length - envelope + 1;
    if (current.length > 0 && used + size > limit) {
      out.push(current);
      current = [];
      used = overhead;
    }
    current.push(r);
    used += size;
  }
  if (current.length) out.push(current);
  return out.length < 2 ? undefined : out;
}

/** Sends the readings as one message, in order; parts of a refused one go one after the other, as a device's would. */
export async function sendInParts(transport: Transport, device: SimDevice, readings: Reading[], format: Format, contentType: string, on: PartEvents): Promise<void> {
  // A queue, not recursion: each refusal puts its parts in front.
  const queue: Reading[][] = [readings];
  while (queue.length && !on.abandoned()) {
    const part = queue.shift()!;
    let payload: Buffer;
    try {
      payload = encode(format, part.length === 1 ? part[0] : part);
    } catch (err) {
      on.failed(err);
      continue;
    }
    // Over MQTT nothing answers "too large": the input would acknowledge the message and dead-letter every
    // reading in it, so a batch over the limit is cut before it goes.
    const max = transport.maxMessageBytes;
    if (max !== undefined && payload.length > max && part.length > 1) {
      queue.unshift(...(packInto(part, format, max) ?? splitInto(part, 2)));
      continue;
    }
    on.sent();
    try {
      await transport.send(device, payload, contentType);
      on.acked();
    } catch (err) {
      // One reading too large is as large as the device's readings are: none of them would go.
      if ((err instanceof RefusedError && err.lasting) || (err instanceof PayloadTooLargeError && part.length < 2)) {
        on.failed(err);
        on.refused?.(err);
        return;
      }
      if (!(err instanceof PayloadTooLargeError)) {
        on.failed(err);
        continue;
      }
      on.split();
      const limit = err.details.limit;
      const parts = typeof limit === 'number' && limit > 0 ? packInto(part, format, limit) : undefined;
      queue.unshift(...(parts ?? splitInto(part, partCount(payload.length, part.length, err, envelopeBytes(format)))));
    }
  }
}
