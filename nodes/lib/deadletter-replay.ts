/**
 * What a dead letter keeps so it can be replayed later (e.g. once a schema is
 * fixed): the message as the pipeline last saw it, as bytes, with the facts
 * an input needs to take it again (content type, format, the input's extra
 * facts, which input journaled it, when it arrived).
 *
 * Raw bytes (a message decode could not read or refused whole) are kept as they
 * are; Readings (a reading validate or the store refused) as their JSON, which
 * decodes back to the same Readings; an item of a batch decode refused as
 * rejectedBody says. Anything else is written with the bounded, non-recursive
 * previewJson and kept only when it fits whole. A value JSON cannot hold would
 * come back as null and fail otherwise ("has no fields"): ±Infinity is written
 * as 1e309, and a message holding NaN is kept as CBOR.
 */
import { encodeCbor } from './codec/cbor';
import { encodeMsgpack } from './codec/msgpack';
import { DEFAULT_LIMITS } from './limits';
import { previewJson } from './preview';
import { isReading, type Reading } from './reading';
import { timeAsJson } from './reading-time';
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

/** The reading with a time its JSON decodes back to exactly (timeAsJson); the same object when its number does. */
function exactTime(r: Reading): Reading | (Omit<Reading, 'ts'> & { ts: number | string }) {
  const ts = timeAsJson(r.ts);
  return ts === r.ts ? r : { ...r, ts };
}

/** The Readings of a payload with exact times, or undefined when it is not a Reading or a batch of them. */
function readingsOf(payload: unknown): unknown {
  if (isReading(payload)) return exactTime(payload);
  if (Array.isArray(payload) && payload.length > 0 && payload.every(isReading)) return (payload as Reading[]).map(exactTime);
  return undefined;
}

/**
 * The numbers in `value` JSON cannot hold: none, ±Infinity only (JSON text of its own keeps them), or NaN.
 * A stack and a budget of values, not recursion: the payload may be deep or cyclic, and one with more values
 * than `budget` does not fit the kept size as JSON anyway (previewJson cuts it and it is not kept).
 */
function nonFiniteIn(value: unknown, budget: number): 'none' | 'infinite' | 'nan' {
  let found: 'none' | 'infinite' = 'none';
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length && budget-- > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return 'nan';
      if (!Number.isFinite(v)) found = 'infinite';
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v) || v instanceof Uint8Array || v instanceof Date) continue;
    seen.add(v);
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) stack.push(v[i]);
    else for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) stack.push((v as Record<string, unknown>)[k]);
  }
  return found;
}

/** A decoded payload (Readings or another value) in a form an input decodes back to the same value, or undefined when none fits `max`. */
function writtenAnew(payload: unknown, max: number): { bytes: Buffer; as: WrittenAs } | undefined {
  const readings = readingsOf(payload);
  const value = readings ?? payload;
  const kind = nonFiniteIn(value, max);
  if (kind === 'nan') {
    // JSON has no NaN at all: as null, the replay would fail for another reason or store the other fields.
    try {
      const cbor = encodeCbor(value);
      return cbor.length <= max ? { bytes: cbor, as: AS_CBOR } : undefined;
    } catch {
      return undefined;
    }
  }
  // Readings are flat (a few levels), so JSON.stringify is safe on them; anything else may be deep.
  const json = readings !== undefined && kind === 'none' ? JSON.stringify(readings) : previewJson(value, max + 1, { infinity: kind === 'infinite' });
  if (json.length > max || json.endsWith('…')) return undefined;
  return { bytes: Buffer.from(json, 'utf8'), as: AS_JSON };
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
    // Written anew: the original content type, format and route facts no longer describe it.
    const written = writtenAnew(p, max);
    if (written) {
      bytes = written.bytes;
      facts.contentType = written.as.contentType;
      facts.format = written.as.format;
    }
  }
  // The message's own bytes, not a copy: the letter is written while the message is still held.
  if (bytes && bytes.length <= max) facts.bytes = bytes;
  return facts;
}

/** How a failure carries one item decoding rejected: its payload, and the format it is written in when it is no longer the message's bytes. */
export interface RejectedBody {
  payload: unknown;
  /** The payload is the item written anew: the message's content type, format and route facts no longer describe it. */
  as?: WrittenAs;
}

export interface WrittenAs {
  contentType: string;
  format: 'json' | 'cbor' | 'msgpack';
}

const AS_JSON: WrittenAs = { contentType: 'application/json', format: 'json' };
const AS_CBOR: WrittenAs = { contentType: 'application/cbor', format: 'cbor' };
const AS_MSGPACK: WrittenAs = { contentType: 'application/msgpack', format: 'msgpack' };

/**
 * What JSON keeps of a decoded item: all of it ('plain'), all but ±Infinity, which only JSON text of
 * its own (`1e309`) keeps ('infinite'), or less (NaN, byte strings, dates, undefined...: 'other').
 * Walked with a stack: the item is decoded data, bounded by the decoder's limits, not by recursion.
 */
function jsonKeeps(item: unknown): 'plain' | 'infinite' | 'other' {
  let infinite = false;
  const stack: unknown[] = [item];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) continue;
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return 'other';
      if (!Number.isFinite(v)) infinite = true;
      continue;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
      continue;
    }
    if (typeof v !== 'object') return 'other';
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return 'other';
    for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k)) stack.push((v as Record<string, unknown>)[k]);
  }
  return infinite ? 'infinite' : 'plain';
}

/** The item in a form that decodes back to the same value: its message's own binary format, else JSON when that keeps it all, else CBOR. */
function itemWritten(item: object, format: string | undefined): RejectedBody {
  try {
    if (format === 'msgpack') return { payload: encodeMsgpack(item), as: AS_MSGPACK };
    if (format === 'cbor') return { payload: encodeCbor(item), as: AS_CBOR };
    const keeps = jsonKeeps(item);
    // A plain object stays as it is: replayFacts writes it as JSON.
    if (keeps === 'plain') return { payload: item };
    if (keeps === 'infinite') {
      const text = previewJson(item, MAX_REPLAY_BYTES + 1, { infinity: true });
      // A cut text is not the item: CBOR holds it whole, or replayFacts finds it too large to keep.
      if (!text.endsWith('…')) return { payload: Buffer.from(text, 'utf8'), as: AS_JSON };
    }
    return { payload: encodeCbor(item), as: AS_CBOR };
  } catch {
    // Not writable in that format (the encoder refused it): kept as the readable excerpt says.
    return { payload: item };
  }
}

/**
 * An item decoding refused, kept so that a replay meets the same refusal. When it is the whole message,
 * the message's bytes as they came (a decoded `{"a":1e309}` or `"on"` written anew would be other bytes:
 * `{"a":null}`, `on`). Inside a batch, the item alone, so a replay does not take the batch's other readings
 * again: a scalar as its own JSON, an object in its message's binary format (MessagePack, CBOR) or as JSON
 * when JSON keeps every value, else as CBOR (NaN, byte strings).
 */
export function rejectedBody(item: unknown, message: { bytes: unknown; readings: number; rejected: number; format?: string }): RejectedBody {
  const b = message.bytes;
  if (message.readings === 0 && message.rejected === 1 && (typeof b === 'string' || b instanceof Uint8Array)) return { payload: b };
  if (typeof item === 'object' && item !== null) return itemWritten(item, message.format);
  // Scalars only: JSON.stringify cannot recurse here.
  return { payload: Buffer.from(JSON.stringify(item) ?? 'null', 'utf8'), as: AS_JSON };
}

/** The failure message's facts for a RejectedBody: as it came, or as the item is now written. */
export function withRejectedBody<T extends { payload?: unknown; contentType?: unknown; format?: unknown; meta?: unknown }>(msg: T, body: RejectedBody): T {
  if (!body.as) return { ...msg, payload: body.payload };
  const { meta: _meta, ...rest } = msg;
  return { ...rest, payload: body.payload, contentType: body.as.contentType, format: body.as.format } as T;
}
