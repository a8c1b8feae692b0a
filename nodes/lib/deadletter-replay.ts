/**
 * What a dead letter keeps so it can be replayed later (e.g. once a schema is
 * fixed): the message as the pipeline last saw it, as bytes, with the facts
 * an input needs to take it again (content type, format, the input's extra
 * facts, which input journaled it, when it arrived).
 *
 * Raw bytes (a message decode could not read) are kept as they are; Readings
 * (a reading validate or the store refused) as their JSON, which decodes back
 * to the same Readings; a scalar item decode refused as rejectedBody says. Anything else is written with the bounded,
 * non-recursive previewJson and kept only when it fits whole.
 */
import { DEFAULT_LIMITS } from './limits';
import { previewJson } from './preview';
import { isReading } from './reading';
import type { DeadLetter } from './store/types';

/** The largest message kept for replay: the default payload limit of the inputs. */
export const MAX_REPLAY_BYTES = DEFAULT_LIMITS.maxBytes;

export type ReplayFacts = Pick<DeadLetter, 'bytes' | 'contentType' | 'format' | 'meta' | 'input' | 'receivedAt'>;

export interface FailedMessageFacts {
  payload?: unknown;
  contentType?: unknown;
  format?: unknown;
  meta?: unknown;
  receivedAt?: unknown;
  upperstack?: { receipts?: unknown };
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string' || ++n > 32) return undefined;
    out[k] = x;
  }
  return out;
}

function inputOf(receipts: unknown): string | undefined {
  if (!Array.isArray(receipts) || receipts.length === 0) return undefined;
  const j = (receipts[0] as { j?: unknown } | null)?.j;
  return typeof j === 'string' ? j : undefined;
}

function readingsJson(payload: unknown): string | undefined {
  if (isReading(payload)) return JSON.stringify(payload);
  if (Array.isArray(payload) && payload.length > 0 && payload.every(isReading)) return JSON.stringify(payload);
  return undefined;
}

export function replayFacts(msg: FailedMessageFacts, max = MAX_REPLAY_BYTES): ReplayFacts {
  const facts: ReplayFacts = {};
  const input = inputOf(msg.upperstack?.receipts);
  if (input) facts.input = input;
  if (typeof msg.receivedAt === 'number' && Number.isFinite(msg.receivedAt)) facts.receivedAt = msg.receivedAt;
  const p = msg.payload;
  let bytes: Buffer | undefined;
  if (Buffer.isBuffer(p) || p instanceof Uint8Array || typeof p === 'string') {
    // The message as it came (or, for a line of line protocol, as text): the input's facts still apply.
    bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    if (typeof msg.contentType === 'string') facts.contentType = msg.contentType;
    if (typeof msg.format === 'string') facts.format = msg.format;
    const meta = stringMap(msg.meta);
    if (meta) facts.meta = meta;
  } else if (p !== undefined && p !== null) {
    // Written anew as JSON: the original content type, format and route facts no longer describe it.
    // Readings are flat (a few levels), so JSON.stringify is safe on them; anything else may be deep.
    const json = readingsJson(p) ?? previewJson(p, max + 1);
    if (json.length <= max && !json.endsWith('…')) {
      bytes = Buffer.from(json, 'utf8');
      facts.contentType = 'application/json';
      facts.format = 'json';
    }
  }
  // The message's own bytes, not a copy: the letter is written while the message is still held.
  if (bytes && bytes.length <= max) facts.bytes = bytes;
  return facts;
}

/** How a failure carries one item decoding rejected: its payload, and whether that payload is now JSON of its own. */
export interface RejectedBody {
  payload: unknown;
  /** The payload is the item written as JSON: the message's content type, format and route facts no longer describe it. */
  json?: true;
}

/**
 * A decoded scalar (a JSON `"on"`, a `null`) is not the bytes that arrived: kept as text it would
 * replay as other bytes (`on`, nothing) and fail for another reason. When the item is the whole
 * message, the message's bytes are kept as they came; inside an array, the item's own JSON. An
 * object item stays as it is (replayFacts writes it as JSON).
 */
export function rejectedBody(item: unknown, message: { bytes: unknown; readings: number; rejected: number }): RejectedBody {
  if (typeof item === 'object' && item !== null) return { payload: item };
  const b = message.bytes;
  if (message.readings === 0 && message.rejected === 1 && (typeof b === 'string' || b instanceof Uint8Array)) return { payload: b };
  // Scalars only: JSON.stringify cannot recurse here.
  return { payload: Buffer.from(JSON.stringify(item) ?? 'null', 'utf8'), json: true };
}

/** The failure message's facts for a RejectedBody: as it came, or as JSON. */
export function withRejectedBody<T extends { payload?: unknown; contentType?: unknown; format?: unknown; meta?: unknown }>(msg: T, body: RejectedBody): T {
  if (!body.json) return { ...msg, payload: body.payload };
  const { meta: _meta, ...rest } = msg;
  return { ...rest, payload: body.payload, contentType: 'application/json', format: 'json' } as T;
}
