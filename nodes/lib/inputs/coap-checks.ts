/**
 * The checks a CoAP datagram passes before the CoAP library handles it: the message format of RFC 7252 §3,
 * a payload or Block1 transfer already past the size limit (4.13 before anything is reassembled), and the
 * options the input refuses or drops. Apart from coap.ts, which answers requests, as these run on what
 * arrives before there is a request to answer.
 */
import { parse as parsePacket } from 'coap-packet';
import { coapError, type CoapAnswer } from './coap';

export interface DatagramCheck {
  /** Set when the datagram must be answered now with this code (4.13 with Size1). */
  reject?: CoapAnswer;
  messageId?: number;
  confirmable?: boolean;
  token?: Buffer;
}

/**
 * Whether a datagram is a well-formed CoAP message as RFC 7252 §3 lays it out. The parser lets through
 * what the RFC calls message format errors: a reserved token length (9-15), an option whose value runs
 * past the end of the datagram (the parser hands on the bytes there are, so a cut-off Uri-Path would
 * name another resource or device), a reserved option nibble (15) that is not the payload marker, a
 * payload marker with no payload after it (§3: processed as a format error), and an Empty message (0.00)
 * with bytes after its header (§4.1). Each of these is answered like any unreadable message.
 */
export function wellFormed(raw: Buffer): boolean {
  if (raw.length < 4) return false;
  const tokenLength = raw[0] & 0x0f;
  if (tokenLength > 8) return false;
  if (raw[1] === 0) return raw.length === 4;
  let pos = 4 + tokenLength;
  if (pos > raw.length) return false;
  // Each nibble: 0-12 as is, 13 one extended byte (+13), 14 two (+269), 15 reserved.
  const extended = (nibble: number): number | undefined => {
    if (nibble < 13) return nibble;
    if (nibble === 15) return undefined;
    const size = nibble === 13 ? 1 : 2;
    if (pos + size > raw.length) return undefined;
    const v = size === 1 ? raw[pos] + 13 : raw.readUInt16BE(pos) + 269;
    pos += size;
    return v;
  };
  while (pos < raw.length) {
    const head = raw[pos++];
    if (head === 0xff) return pos < raw.length;
    if (extended(head >> 4) === undefined) return false;
    const length = extended(head & 0x0f);
    if (length === undefined || pos + length > raw.length) return false;
    pos += length;
  }
  return true;
}

/**
 * Checks a datagram before the library handles it: a payload, or a Block1
 * transfer whose announced position already passes the size limit, is refused
 * with 4.13 and Size1 before anything is reassembled or allocated.
 */
export function checkDatagram(raw: Buffer, maxBytes: number): DatagramCheck {
  if (!wellFormed(raw)) return {};
  let packet;
  try {
    packet = parsePacket(raw);
  } catch {
    return {};
  }
  const out: DatagramCheck = { messageId: packet.messageId, confirmable: packet.confirmable, token: packet.token };
  let end = packet.payload?.length ?? 0;
  for (const o of packet.options ?? []) {
    if (o.name !== 'Block1' || !Buffer.isBuffer(o.value)) continue;
    const v = o.value;
    let n = 0;
    for (const b of v) n = n * 256 + b;
    const szx = n & 7;
    const num = Math.floor(n / 16);
    if (szx === 7) return { ...out, reject: coapError('4.00', 'Block1 size exponent 7 is reserved') };
    end = num * 2 ** (szx + 4) + (packet.payload?.length ?? 0);
  }
  if (end > maxBytes) return { ...out, reject: coapError('4.13', `the payload would be more than ${maxBytes} bytes`, { Size1: maxBytes }) };
  return out;
}

/**
 * Critical options (odd numbers) the parser names but the input does not act on. Other critical options
 * it names (Uri-Host, Uri-Port, Uri-Path, Uri-Query, Accept, Block1, Block2) are handled; the ones it does
 * not name come as their number.
 */
const UNHANDLED_CRITICAL = new Map<string, number>([
  ['If-Match', 1],
  ['If-None-Match', 5],
  ['OSCORE', 9],
  ['Q-Block1', 19],
  ['Q-Block2', 31],
  ['OCF-Accept-Content-Format-Version', 2049],
  ['OCF-Content-Format-Version', 2053],
]);
const PROXY_OPTIONS = new Set(['Proxy-Uri', 'Proxy-Scheme']);

/** What the input does with a request's options before the library sees the request. */
export interface OptionCheck {
  /** Answer the request with this and go no further. */
  refuse?: CoapAnswer;
  /** The request carries Observe but is no GET or FETCH: handle it without the option. */
  dropObserve: boolean;
}

/**
 * A critical option the input does not understand makes it refuse the request with 4.02 naming the
 * option (RFC 7252 §5.4.1: acting on it as if it were absent could do what the client did not ask for);
 * Proxy-Uri and Proxy-Scheme get 5.05, the input being no proxy (§5.7.2). Observe outside a GET or
 * FETCH means nothing (RFC 7641 §2) and is to be ignored; the library would answer such a request with
 * an unacknowledged 5.00 instead, so the option is dropped. `code` is the request's code ("0.02").
 */
export function checkRequestOptions(code: string, options: ReadonlyArray<{ name: string | number }>): OptionCheck {
  let dropObserve = false;
  for (const o of options) {
    // The parser names the options it knows and gives the others as their number, in a string.
    const name = String(o.name);
    if (PROXY_OPTIONS.has(name)) return { refuse: coapError('5.05', `this endpoint is not a proxy (${name}); send the request to the server itself`), dropObserve };
    const named = UNHANDLED_CRITICAL.get(name);
    const number = named ?? (/^\d+$/.test(name) ? Number(name) : undefined);
    if (number !== undefined && number % 2 === 1) {
      const known = named !== undefined ? ` (${name})` : '';
      return { refuse: coapError('4.02', `critical option ${number}${known} is not supported: send the request without it`), dropObserve };
    }
    if (name === 'Observe' && code !== '0.01' && code !== '0.05') dropObserve = true;
  }
  return { dropObserve };
}
