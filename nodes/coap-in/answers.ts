/**
 * How the CoAP input answers: an answer onto the library's response (an
 * error to an Observe GET included), /.well-known/core block-wise within the
 * amplification bound, and the request packet the library keeps.
 */
import type { OutgoingMessage, IncomingMessage } from 'coap';
import { boundAmplification, boundedBlock2, coapError, parseBlock2, wellKnownCore, type CoapAnswer, type CoapPacketShape } from '../lib/inputs/coap';
import { uriQueryOf } from '../lib/inputs/coap-request';

/**
 * The library's answer to a GET with Observe (its ObserveWriteStream) reads `statusCode`, not `code`,
 * and sends whatever is written as a notification with an Observe option.
 */
interface ObserveStream {
  statusCode?: string;
  _doSend?: (data?: Buffer) => void;
}

export function send(res: OutgoingMessage, a: CoapAnswer): void {
  res.code = a.code;
  for (const [k, v] of Object.entries(a.options ?? {})) res.setOption(k as Parameters<OutgoingMessage['setOption']>[0], v);
  const observe = res as unknown as ObserveStream;
  if (typeof observe._doSend === 'function' && !a.code.startsWith('2.')) {
    // An error ends the observation it was asked for: sent once with its own code and no Observe
    // option (RFC 7641 §4.2), not as a 2.05 notification the client would take for a registration.
    // Not ended afterwards: ending a stream that wrote nothing sends its (empty) answer again.
    observe.statusCode = a.code;
    observe._doSend(a.payload);
    return;
  }
  res.end(a.payload);
}

export interface RequestPacket extends CoapPacketShape {
  messageId?: number;
  code?: string;
  confirmable?: boolean;
  reset?: boolean;
  ack?: boolean;
  options?: Array<{ name: string | number; value: Buffer }>;
}

/** The parsed request node-coap keeps on the message (header, token, options, payload). */
export function packetOf(req: IncomingMessage): RequestPacket | undefined {
  return (req as unknown as { _packet?: RequestPacket })._packet;
}

/**
 * The request's Uri-Path segments as sent (RFC 7252 §6.4): the library joins them into `url` with "/",
 * which would make a segment holding a "/" (sent as a%2Fb) two.
 */
export function uriPathOf(req: IncomingMessage): string[] {
  const options = packetOf(req)?.options;
  if (!options) return new URL(req.url, 'coap://device').pathname.split('/').slice(1);
  // The library turns option values into text in place once it has read them; before, they are bytes.
  return options.filter((o) => o.name === 'Uri-Path').map((o) => (Buffer.isBuffer(o.value) ? o.value.toString('utf8') : String(o.value)));
}

/** The request's Uri-Query parameters as its options carry them: `url` would percent-decode them a second time. */
export function queryOf(req: IncomingMessage, url?: URL): URLSearchParams {
  const options = packetOf(req)?.options;
  return options ? uriQueryOf(options) : (url ?? new URL(req.url, 'coap://device')).searchParams;
}

const LINK_FORMAT = 'application/link-format';

/** The link-format of /.well-known/core: the same for every request, the one most often asked for by a flood. */
const WELL_KNOWN_CORE = Buffer.from(wellKnownCore());

/**
 * /.well-known/core, the resource an attacker would ask for with a forged
 * source address: sent block-wise (Block2) in blocks small enough that no
 * answer is more than 3× its request. The library's own Block2 handling is
 * kept out of it (it would send 1 KiB blocks and cache them per token).
 */
export function wellKnown(packet: RequestPacket | undefined, res: OutgoingMessage, requestBytes: number, tokenLength: number): void {
  const asked = packet?.options?.find((o) => o.name === 'Block2');
  const requested = asked ? parseBlock2(asked.value) : undefined;
  if (asked && packet?.options) packet.options = packet.options.filter((o) => o !== asked);
  if (asked && !requested) return send(res, boundAmplification(coapError('4.02', 'the Block2 option cannot be read'), requestBytes, tokenLength));
  const block = boundedBlock2(WELL_KNOWN_CORE, requestBytes, tokenLength, requested, { 'Content-Format': LINK_FORMAT });
  if (!block) return send(res, boundAmplification(coapError('4.02', 'no such block'), requestBytes, tokenLength));
  res.setOption('Content-Format', LINK_FORMAT);
  if (block.block2) res.setOption('Block2', block.block2);
  res.end(block.payload);
}

/** The CoAP code of an HTTP status: 401 → 4.01, 429 → 4.29, 503 → 5.03. */
export function coapCode(status: number): string {
  return `${Math.floor(status / 100)}.${String(status % 100).padStart(2, '0')}`;
}
