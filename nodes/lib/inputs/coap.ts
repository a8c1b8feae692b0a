/**
 * CoAP (RFC 7252) pieces of the CoAP input that need no socket: which codec a
 * Content-Format means, the answer to an outcome (the datagram checks made
 * before the library reassembles anything are in coap-checks.ts), the exchange cache that makes a
 * retransmitted confirmable request be stored once and answered the same, the
 * resource list of /.well-known/core, and the amplification bound (an answer to
 * an unauthenticated request is at most 3× the request's size, RFC 7252 §11.3).
 */
import { noReadingValid, type InputOutcome } from './request';
import { block1Value, parseBlock1 } from './block1';

/** What the CoAP input answers: code, an optional payload and options. */
export interface CoapAnswer {
  code: string;
  payload?: Buffer;
  /** Content-Format of the payload (media type), Max-Age, Size1... */
  options?: Record<string, string | number>;
}

/** Media types of the Content-Formats the input takes (node-coap names them; unknown numbers stay numbers). */
export const COAP_FORMATS: Record<number, string> = {
  0: 'text/plain',
  41: 'application/xml',
  42: 'application/octet-stream',
  50: 'application/json',
  60: 'application/cbor',
  110: 'application/senml+json',
  112: 'application/senml+cbor',
};

/** The media type of a request's Content-Format option as node-coap hands it over. */
export function coapContentType(format: unknown): string | undefined {
  if (format === undefined || format === null || format === '') return undefined;
  if (typeof format === 'number') return COAP_FORMATS[format] ?? `unknown/${format}`;
  return String(format);
}

/**
 * CoAP has no Content-Format for protobuf: a device sends it as octet-stream (42) with the Uri-Query
 * `format=protobuf` (and `messageType=<type>` to name the message type), whatever codec the node gives
 * other octet-stream bodies. The media type it stands for, as the journal keeps it; else `ct` unchanged.
 */
export function octetStreamType(ct: string | undefined, query: URLSearchParams): string | undefined {
  if (ct !== 'application/octet-stream' || query.get('format') !== 'protobuf') return ct;
  const type = query.get('messageType');
  return type && /^[A-Za-z0-9_.]{1,200}$/.test(type) ? `application/x-protobuf; messageType=${type}` : 'application/x-protobuf';
}

const DIAGNOSTIC = 'text/plain';

function diagnostic(code: string, text: string): CoapAnswer {
  return { code, payload: Buffer.from(text, 'utf8'), options: { 'Content-Format': DIAGNOSTIC } };
}

/** Refusals a partly accepted request's 2.04 lists: enough to show a device what was wrong, not its whole batch. */
const LISTED = 3;
/** Characters of one listed message: the answer should fit one datagram with room to spare. */
const LISTED_CHARS = 100;
/** A message cut shorter than this says nothing; its entry is left out instead. */
const LISTED_MIN_CHARS = 16;
const JSON_FORMAT = { 'Content-Format': 'application/json' } as const;

/** `text` within `chars` characters, an ellipsis marking a cut, never splitting a surrogate pair. */
function shorten(text: string, chars: number): string {
  if (text.length <= chars) return text;
  let end = chars - 1;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

interface Listed {
  code: string;
  message: string;
  index?: number;
  line?: number;
}

/**
 * The 2.04 body of a request some of whose items were refused: the counts and the first refusals (code, a
 * short message, the item's index or line) as fit in `room` bytes, so an answer to an anonymous request stays
 * within the amplification bound whole, as JSON, instead of being cut mid-string. The message of the last
 * entry that fits only in part is shortened; the counts always come first.
 */
function partialBody(outcome: InputOutcome, room: number): string {
  const counts = { accepted: outcome.readings.length, deadLettered: outcome.failures.length };
  const plain = JSON.stringify(counts);
  if (outcome.failures.length === 0) return plain;
  const errors: Listed[] = [];
  let body = plain;
  for (const f of outcome.failures.slice(0, LISTED)) {
    const entry: Listed = { code: f.error.code, message: shorten(f.error.message, LISTED_CHARS) };
    if (f.index !== undefined) entry.index = f.index;
    if (f.line !== undefined) entry.line = f.line;
    errors.push(entry);
    let text = JSON.stringify({ ...counts, errors });
    let over = Buffer.byteLength(text) - room;
    const fits = over <= 0;
    // Each character cut takes at least one byte off; the ellipsis adds up to three.
    while (over > 0 && entry.message.length - over - 3 >= LISTED_MIN_CHARS) {
      entry.message = shorten(entry.message, entry.message.length - over - 3);
      text = JSON.stringify({ ...counts, errors });
      over = Buffer.byteLength(text) - room;
    }
    if (over > 0) break;
    body = text;
    // Cut to fit: there is no room for another.
    if (!fits) break;
  }
  return body;
}

/**
 * The answer once the request is journaled: 2.04 with the counts (and the first refusals, when some items were
 * refused), or 4.xx with a diagnostic: 4.00 for a request that cannot be read, 4.03 for a device it may not
 * name, 4.15 for a format it is not in, and 4.22 (Unprocessable Entity, RFC 8132) for one that was read but
 * whose readings were all refused for what they held, as HTTP answers 422 (noReadingValid()). `room` is the
 * most payload bytes the 2.04 may have (outcomeRoom() for an anonymous request).
 */
export function coapOutcomeAnswer(outcome: InputOutcome, room = Infinity): CoapAnswer {
  const { failures, refusal } = outcome;
  const unprocessable = noReadingValid(outcome);
  if (refusal || unprocessable) {
    const f = failures[0];
    const code = unprocessable ? '4.22' : refusal === 'forbidden' ? '4.03' : refusal === 'unsupported' ? '4.15' : '4.00';
    const where = f.index !== undefined ? ` (item ${f.index})` : '';
    // With several items rejected the count comes right after the code, so a shortened diagnostic still has both.
    const count = failures.length > 1 ? `${failures.length} rejected; ` : '';
    return diagnostic(code, `${f.error.code}: ${count}${f.error.message}${where}`);
  }
  return { code: '2.04', payload: Buffer.from(partialBody(outcome, room)), options: { ...JSON_FORMAT } };
}

/** Payload bytes a 2.04 answer to a request of `requestBytes` may have within the amplification bound. */
export function outcomeRoom(requestBytes: number, tokenLength: number): number {
  return answerRoom(JSON_FORMAT, requestBytes, tokenLength);
}

/**
 * The stable error code of a CoAP error answer that has no more precise one: the code HTTP's status of the
 * same class carries (4.13 and 413 PAYLOAD_TOO_LARGE, 4.01 and 401 UNAUTHORIZED...), and a name of its own
 * for the CoAP codes HTTP has no counterpart of.
 */
const STABLE_CODES: Record<string, string> = {
  '4.00': 'BAD_REQUEST',
  '4.01': 'UNAUTHORIZED',
  '4.02': 'BAD_OPTION',
  '4.03': 'FORBIDDEN',
  '4.04': 'NOT_FOUND',
  '4.05': 'METHOD_NOT_ALLOWED',
  '4.08': 'REQUEST_INCOMPLETE',
  '4.13': 'PAYLOAD_TOO_LARGE',
  '4.15': 'UNSUPPORTED_MEDIA_TYPE',
  '4.29': 'TOO_MANY_REQUESTS',
  '5.03': 'UNAVAILABLE',
  '5.05': 'PROXYING_NOT_SUPPORTED',
};

export function stableCode(code: string): string {
  return STABLE_CODES[code] ?? (code.startsWith('5.') ? 'INTERNAL' : 'BAD_REQUEST');
}

/**
 * An error answer whose diagnostic starts with its stable code (`CODE: message`), as HTTP's error body has
 * one, so a device can tell refusals apart without reading the prose: the error's own code when it has one,
 * else the one of the CoAP code (stableCode()).
 */
export function coapError(code: string, error: string | { code: string; message: string }, options: Record<string, string | number> = {}): CoapAnswer {
  const a = diagnostic(code, typeof error === 'string' ? `${stableCode(code)}: ${error}` : `${error.code}: ${error.message}`);
  a.options = { ...a.options, ...options };
  return a;
}

/** Most bytes an answer's option takes on the wire (header, extended delta and value), by option. */
const OPTION_BYTES: Record<string, number> = { 'Content-Format': 3, 'Max-Age': 5, Size1: 6, Block2: 5 };

/** Header, token, options and payload marker of an answer: what it costs beyond its payload (an upper bound). */
function answerOverhead(options: Record<string, string | number> | undefined, tokenLength: number): number {
  let n = 4 + tokenLength + 1;
  for (const k of Object.keys(options ?? {})) n += OPTION_BYTES[k] ?? 7;
  return n;
}

/** Payload bytes an answer with these options may have within 3× the request. */
function answerRoom(options: Record<string, string | number> | undefined, requestBytes: number, tokenLength: number): number {
  return Math.max(0, 3 * requestBytes - answerOverhead(options, tokenLength));
}

/** The parts of a parsed request that make its size. */
export interface CoapPacketShape {
  token?: Buffer;
  payload?: Buffer;
  options?: ReadonlyArray<{ value?: unknown }>;
}

/**
 * The fewest bytes the datagram of a parsed request can have had: header,
 * token, one byte per option besides its value, payload and marker. A lower
 * bound, so 3× of it never lets an answer grow past 3× the real request.
 */
export function requestSize(packet: CoapPacketShape | undefined): number {
  if (!packet) return 4;
  let n = 4 + (packet.token?.length ?? 0);
  for (const o of packet.options ?? []) n += 1 + (Buffer.isBuffer(o.value) ? o.value.length : 0);
  const payload = packet.payload?.length ?? 0;
  return payload > 0 ? n + 1 + payload : n;
}

/**
 * Cuts the payload so the whole answer stays within 3× the request (RFC 7252
 * §11.3); diagnostics are cut at a character boundary and may vanish entirely.
 * `tokenLength` is the request's token, which the answer repeats (8, the most,
 * when unknown).
 */
export function boundAmplification(answer: CoapAnswer, requestBytes: number, tokenLength = 8): CoapAnswer {
  if (!answer.payload) return answer;
  const room = answerRoom(answer.options, requestBytes, tokenLength);
  if (answer.payload.length <= room) return answer;
  if (room === 0) return { code: answer.code, options: stripContentFormat(answer.options) };
  let cut = room;
  // Do not split a UTF-8 character.
  while (cut > 0 && (answer.payload[cut] & 0xc0) === 0x80) cut--;
  if (cut === 0) return { code: answer.code, options: stripContentFormat(answer.options) };
  return { ...answer, payload: answer.payload.subarray(0, cut) };
}

/** One block of a Block2 answer (RFC 7959): the payload slice and the option's value. */
export interface Block2Answer {
  payload: Buffer;
  block2?: Buffer;
}

/**
 * NUM and SZX of a request's Block2 option, read as Block1's (RFC 7959 §2.2 gives both one format); undefined
 * when it cannot be read or names the reserved size exponent 7. The coap package's own parseBlock2 is not
 * part of its API (dist/lib/helpers) and reads an empty value, NUM 0 and SZX 0 (16 bytes), as block size 0.
 */
export function parseBlock2(value: Buffer): { num: number; szx: number } | undefined {
  const block = parseBlock1(value);
  return block && block.szx !== 7 ? { num: block.num, szx: block.szx } : undefined;
}

/**
 * A resource body answered to an unauthenticated request (e.g. /.well-known/core,
 * the classic amplification target): whole when it fits within 3× the request,
 * otherwise block-wise (Block2) in the largest block size that does, starting
 * with the block the client asked for (at most the size it asked for).
 * Undefined: the block asked for is past the end (4.02).
 */
export function boundedBlock2(body: Buffer, requestBytes: number, tokenLength: number, requested?: { num: number; szx: number }, options: Record<string, string | number> = {}): Block2Answer | undefined {
  const overhead = answerOverhead(options, tokenLength);
  if (!requested && body.length <= 3 * requestBytes - overhead) return { payload: body };
  const room = 3 * requestBytes - overhead - OPTION_BYTES.Block2;
  let szx = 0;
  while (szx < 6 && 2 ** (szx + 5) <= room) szx++;
  if (requested && requested.szx < szx) szx = requested.szx;
  let num = requested?.num ?? 0;
  if (requested && requested.szx > szx) num = Math.floor((num * 2 ** (requested.szx + 4)) / 2 ** (szx + 4)); // RFC 7959 §2.4: same offset, smaller blocks
  const size = 2 ** (szx + 4);
  const start = num * size;
  if (start >= body.length && !(start === 0 && body.length === 0)) return undefined;
  const more = start + size < body.length;
  return { payload: body.subarray(start, start + size), block2: block1Value({ num, more, szx }) };
}

function stripContentFormat(options: Record<string, string | number> | undefined): Record<string, string | number> | undefined {
  if (!options) return undefined;
  const { 'Content-Format': _cf, ...rest } = options;
  return rest;
}

/** RFC 7252 EXCHANGE_LIFETIME (s): how long a message ID may be retransmitted. */
export const EXCHANGE_LIFETIME_MS = 247_000;

interface Exchange {
  at: number;
  answer?: CoapAnswer;
}

/**
 * Confirmable requests by (endpoint, message ID): a retransmission that comes
 * while the first is being journaled is dropped (the answer goes out once it is
 * durable and the client's next retransmission gets it), one that comes later
 * gets the same answer. Bounded in size and age.
 */
export class ExchangeCache {
  private readonly entries = new Map<string, Exchange>();
  constructor(private readonly maxEntries = 20_000, private readonly lifetimeMs = EXCHANGE_LIFETIME_MS) {}

  /** 'new' (handle it), 'pending' (drop it) or the answer to send again. */
  begin(key: string, now = Date.now()): 'new' | 'pending' | CoapAnswer {
    const e = this.entries.get(key);
    if (e && now - e.at < this.lifetimeMs) return e.answer ?? 'pending';
    if (e) this.entries.delete(key);
    this.entries.set(key, { at: now });
    this.prune(now);
    return 'new';
  }

  finish(key: string, answer: CoapAnswer): void {
    const e = this.entries.get(key);
    if (e) e.answer = answer;
  }

  /** The request was refused before it was kept (e.g. 5.03): a retransmission is handled anew. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(now: number): void {
    // Oldest first (insertion order): drop what is expired, then what is over the bound.
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxEntries && now - e.at < this.lifetimeMs) break;
      this.entries.delete(k);
    }
  }
}

/** CoRE Link Format (RFC 6690) of the input's resources. */
export function wellKnownCore(): string {
  return [
    '</telemetry>;rt="upperstack.telemetry";if="core.p";ct="50 60 110 112 42 41 0";title="POST or PUT /telemetry/{device}"',
    '</commands>;rt="upperstack.commands";if="core.s";obs;ct=50;title="GET /commands/{device} with Observe"',
  ].join(',');
}
