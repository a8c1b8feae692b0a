/**
 * What the CoAP input's socket does with a datagram before the library sees
 * it: sizes are checked, and Block1 transfers are reassembled per endpoint and
 * resource (clients such as libcoap give each block its own token, which the
 * library's own reassembly does not expect), so the library sees one request.
 * Options the input cannot honour are answered here, and an Observe the
 * library would refuse on a POST or PUT is taken off (checkRequestOptions).
 * The first block of an upload is asked about first (its resource and login,
 * which every block carries): a refused one is answered and nothing is kept.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket, RemoteInfo } from 'node:dgram';
import { generate, parse as parsePacket } from 'coap-packet';
import { describeError } from '../lib/errors';
import { boundAmplification, coapError, EXCHANGE_LIFETIME_MS, type CoapAnswer } from '../lib/inputs/coap';
import { checkDatagram, checkRequestOptions } from '../lib/inputs/coap-checks';
import { Block1Assembler, block1Value, parseBlock1, type BlockResult } from '../lib/inputs/block1';
import { resourceRefusal, uriQueryOf } from '../lib/inputs/coap-request';

/** Content-Format 0 (text/plain; charset=utf-8), the diagnostic's: the number 0 is sent as an empty value. */
const TEXT_PLAIN = { name: 'Content-Format', value: Buffer.alloc(0) };

/** Method names of the request codes (RFC 7252 §12.1.1, RFC 8132), as the library gives them. */
const METHODS: Record<string, string> = { '0.01': 'GET', '0.02': 'POST', '0.03': 'PUT', '0.04': 'DELETE', '0.05': 'FETCH', '0.06': 'PATCH', '0.07': 'iPATCH' };

/** What the first block of a Block1 upload says of the request it makes: what the input asks before keeping it. */
export interface BlockStart {
  /** The Uri-Path segments as sent. */
  segments: string[];
  method: string;
  /** The Uri-Query options (the login), as uriQueryOf() reads them. */
  query: URLSearchParams;
  remote: string;
}

/** The answer to the first block of an upload that is not to be kept, or undefined to keep it. */
export type FirstBlockCheck = (start: BlockStart) => CoapAnswer | undefined | Promise<CoapAnswer | undefined>;

/** An answer's options on the wire: Content-Format (a diagnostic's text/plain) and numbers such as Max-Age. */
function wireOptions(options: CoapAnswer['options']): Array<{ name: string; value: Buffer }> {
  const out: Array<{ name: string; value: Buffer }> = [];
  for (const [name, value] of Object.entries(options ?? {})) {
    if (name === 'Content-Format') {
      if (value === 'text/plain') out.push(TEXT_PLAIN);
    } else out.push({ name, value: typeof value === 'number' ? uint(value) : Buffer.from(value) });
  }
  return out;
}

/**
 * The datagram the library is to see (a reassembled one for a last block), or undefined once it is answered
 * here. `firstBlock` is asked about the first block of every upload before anything of it is kept.
 */
export function datagramFilter(maxBytes: number, firstBlock: FirstBlockCheck): (msg: Buffer, rinfo: RemoteInfo, sock: Socket) => Buffer | undefined {
  const blocks = new Block1Assembler(maxBytes);
  // Requests decided here by endpoint and message ID: a retransmitted last block is the same reassembled request
  // again, a retransmitted first block that was refused gets the same answer without its login checked again.
  const decided = new Map<string, { at: number; forward?: Buffer; answer?: Buffer }>();
  // First blocks whose check is under way, by endpoint and message ID: a retransmission meanwhile is dropped.
  const checking = new Set<string>();
  const remember = (exchange: string, entry: { forward?: Buffer; answer?: Buffer }) => {
    const now = Date.now();
    for (const [k, v] of decided) {
      if (decided.size < 1000 && now - v.at < EXCHANGE_LIFETIME_MS) break;
      decided.delete(k);
    }
    decided.set(exchange, { at: now, ...entry });
  };
  const reply = (sock: Socket, rinfo: RemoteInfo, check: { messageId?: number; token?: Buffer; confirmable?: boolean }, code: string, payload: Buffer | undefined, options: Array<{ name: string; value: Buffer }>, requestBytes: number): Buffer => {
    // The options count against the 3x bound as well; a diagnostic cut away entirely takes its Content-Format with it.
    const counted = Object.fromEntries(options.map((o) => [o.name, 0]));
    const bounded = boundAmplification({ code, payload, options: counted }, requestBytes, check.token?.length ?? 8);
    const sent = bounded.payload ? options : options.filter((o) => o !== TEXT_PLAIN);
    const out = generate({ code, messageId: check.messageId, token: check.token, ack: check.confirmable, confirmable: false, reset: false, payload: bounded.payload, options: sent as Parameters<typeof generate>[0]['options'] });
    sock.send(out, rinfo.port, rinfo.address);
    return out;
  };
  return (msg: Buffer, rinfo: RemoteInfo, sock: Socket): Buffer | undefined => {
    const check = checkDatagram(msg, Infinity);
    if (check.messageId === undefined) {
      // Not a message we can read. The library would answer it 5.00 with its parser's error, to any
      // (forgeable) sender; RFC 7252 §4.2-4.3: a malformed confirmable message gets a Reset, anything else nothing.
      const rst = resetFor(msg);
      if (rst) sock.send(rst, rinfo.port, rinfo.address);
      return undefined;
    }
    const exchange = `${rinfo.address}:${rinfo.port}/${check.messageId}`;
    const again = decided.get(exchange);
    if (again?.answer) sock.send(again.answer, rinfo.port, rinfo.address);
    if (again) return again.forward;
    if (checking.has(exchange)) return undefined;
    const packet = parsePacket(msg);
    // Uri-Path is UTF-8 text (RFC 7252 §5.10.1); the library would read bad bytes as U+FFFD and the
    // request would go on under a device name the device never sent.
    for (const o of packet.options) {
      if ((o.name === 'Uri-Path' || o.name === 'Uri-Query') && !isUtf8(o.value)) {
        reply(sock, rinfo, check, '4.00', diagnostic('4.00', `a ${o.name} option is not UTF-8 text`), [], msg.length);
        return undefined;
      }
    }
    let forward = msg;
    // Every request code (0.01-0.31), the unassigned ones too: the library refuses an Observe on any but GET and
    // FETCH with an answer of its own, outside the exchange.
    if (/^0\.(0[1-9]|[12]\d|3[01])$/.test(packet.code)) {
      const options = checkRequestOptions(packet.code, packet.options);
      if (options.refuse) {
        reply(sock, rinfo, check, options.refuse.code, options.refuse.payload, [], msg.length);
        return undefined;
      }
      if (packet.code === '0.05') {
        // No resource here takes FETCH, and the library answers one without a Content-Format itself, outside
        // the exchange: a non-confirmable 4.15 without the token, sent to the sender's port on this host rather
        // than to the sender, so the client never gets an answer and retransmits until it gives up.
        const segments = packet.options.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString('utf8'));
        const refusal = resourceRefusal(segments, 'FETCH');
        if (refusal) {
          reply(sock, rinfo, check, refusal.code, refusal.payload, [TEXT_PLAIN], msg.length);
          return undefined;
        }
      }
      if (options.dropObserve) {
        packet.options = packet.options.filter((o) => o.name !== 'Observe');
        // Without the option the datagram is shorter: deltas merge, one option header less.
        forward = generate(packet, msg.length);
      }
    }
    const b1 = packet.options.find((o) => o.name === 'Block1');
    if (!b1) {
      if (packet.payload.length > maxBytes) {
        reply(sock, rinfo, check, '4.13', diagnostic('4.13', `the payload is more than ${maxBytes} bytes`), [{ name: 'Size1', value: uint(maxBytes) }], msg.length);
        return undefined;
      }
      return forward;
    }
    const block = parseBlock1(b1.value);
    if (!block) {
      reply(sock, rinfo, check, '4.00', diagnostic('4.00', 'the Block1 option cannot be read'), [], msg.length);
      return undefined;
    }
    const segments = packet.options.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString('utf8'));
    const path = segments.join('/');
    // Request-Tag (RFC 9175): two uploads to one resource from one endpoint at once are told apart by it.
    // coap-packet names an option it does not know by its number as a string; a zero-length tag is a tag
    // of its own, not the absence of one.
    const requestTag = packet.options.find((o) => String(o.name) === '292');
    const tag = requestTag ? `#${requestTag.value.toString('hex')}` : '';
    const size1 = packet.options.find((o) => o.name === 'Size1')?.value;
    const announced = size1 === undefined || size1.length > 4 ? undefined : size1.length === 0 ? 0 : size1.readUIntBE(0, size1.length);
    const key = `${rinfo.address}:${rinfo.port}/${path}${tag}`;
    const answer = (result: BlockResult): Buffer | undefined => {
      if (result.type === 'error') {
        reply(sock, rinfo, check, result.code, diagnostic(result.code, result.message), result.code === '4.13' ? [{ name: 'Size1', value: uint(maxBytes) }] : [], msg.length);
        return undefined;
      }
      if (result.type === 'continue') {
        reply(sock, rinfo, check, '2.31', undefined, [{ name: 'Block1', value: block1Value(block) }], msg.length);
        return undefined;
      }
      const whole = generate({ ...packet, options: packet.options.filter((o) => o.name !== 'Block1' && o.name !== 'Size1'), payload: result.payload }, result.payload.length + 2048);
      remember(exchange, { forward: whole });
      return whole;
    };
    const keep = (): Buffer | undefined => answer(blocks.add(key, block, packet.payload, Date.now(), announced));
    // An upload is kept only once the request it makes could be taken: until then nothing of it is held. A
    // block that is refused on its own (past the limit, Size1) is answered so first, as a single request is.
    if (!block.more || block.num !== 0 || blocks.refusal(block, packet.payload, announced)) return keep();
    const refuse = (a: CoapAnswer) => {
      const sent = reply(sock, rinfo, check, a.code, a.payload, wireOptions(a.options), msg.length);
      // One that says to come back later is asked again then.
      if (a.options?.['Max-Age'] === undefined) remember(exchange, { answer: sent });
    };
    const verdict = firstBlock({ segments, method: METHODS[packet.code] ?? packet.code, query: uriQueryOf(packet.options), remote: rinfo.address });
    if (!(verdict instanceof Promise)) {
      if (!verdict) return keep();
      refuse(verdict);
      return undefined;
    }
    checking.add(exchange);
    // Block 0 of several: kept, it is answered 2.31 and nothing is handed on, so nothing is lost by deciding later.
    verdict
      .then((a) => (a ? refuse(a) : keep()), (err: unknown) => reply(sock, rinfo, check, '4.00', diagnostic('4.00', describeError(err).message), [], msg.length))
      // The socket was closed meanwhile (a redeploy): there is nobody to answer.
      .catch(() => undefined)
      .finally(() => checking.delete(exchange));
    return undefined;
  };
}

/** The diagnostic payload of an error answered here, starting with its stable code as every other one does. */
function diagnostic(code: string, message: string): Buffer | undefined {
  return coapError(code, message).payload;
}

/** A Reset (4 bytes, empty) for a confirmable CoAP 1 message that cannot be parsed; undefined for anything else. */
function resetFor(msg: Buffer): Buffer | undefined {
  if (msg.length < 4 || msg[0] >> 6 !== 1 || ((msg[0] >> 4) & 3) !== 0) return undefined;
  return Buffer.from([0x70, 0, msg[2], msg[3]]);
}

function uint(n: number): Buffer {
  if (n < 256) return Buffer.from([n]);
  if (n < 65536) return Buffer.from([n >> 8, n & 255]);
  if (n < 16777216) return Buffer.from([n >> 16, (n >> 8) & 255, n & 255]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
