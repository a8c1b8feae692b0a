/**
 * Requests Node's HTTP parser refuses before any route sees them (a malformed request line or header, a
 * Content-Length that is not a number or given twice, headers over the size limit) get Node's default
 * answer: a status line and no body. Devices and their developers are told what is wrong instead, in the
 * same JSON error shape as every other answer of the server, after the answers still due on the connection
 * (answerInTurn). The connection is closed afterwards, as the parser cannot tell where the next request would start.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

interface ParserError extends Error {
  code?: string;
  /** llhttp's own wording, which tells apart failures that share a code. */
  reason?: string;
}

const REASONS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'the request headers are larger than the server takes (16 KiB)'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT', 'the request did not arrive in time'],
  HPE_INVALID_CONTENT_LENGTH: [400, 'MALFORMED_REQUEST', 'the Content-Length header is not a single number'],
  // llhttp's code for a second Content-Length header, whether or not it repeats the first.
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'MALFORMED_REQUEST', 'the request has more than one Content-Length header; send exactly one'],
  HPE_INVALID_TRANSFER_ENCODING: [400, 'MALFORMED_REQUEST', 'the Transfer-Encoding header is not valid'],
  HPE_INVALID_CHUNK_SIZE: [400, 'MALFORMED_REQUEST', 'a chunk size of the chunked body is not valid'],
  HPE_INVALID_METHOD: [400, 'MALFORMED_REQUEST', 'the request method is not valid'],
  HPE_INVALID_URL: [400, 'MALFORMED_REQUEST', 'the request target is not valid'],
  HPE_INVALID_HEADER_TOKEN: [400, 'MALFORMED_REQUEST', 'a header name or value holds characters HTTP does not allow'],
};

/**
 * Content-Length with Transfer-Encoding is reported under the code of whichever header came second
 * (HPE_INVALID_CONTENT_LENGTH or HPE_INVALID_TRANSFER_ENCODING); only the reason names the clash.
 */
const BOTH_LENGTHS = /can't be present with/;
const BOTH_LENGTHS_MESSAGE = 'the request has both Content-Length and Transfer-Encoding; send one of them';

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** The raw response for a parser error: status line, JSON headers and body. */
export function clientErrorResponse(err: ParserError): string {
  const [status, code, message] = typeof err.reason === 'string' && BOTH_LENGTHS.test(err.reason)
    ? [400, 'MALFORMED_REQUEST', BOTH_LENGTHS_MESSAGE]
    : (REASONS[err.code ?? ''] ?? [400, 'MALFORMED_REQUEST', `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`]);
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** A JSON error answer that closes the connection, for requests refused before any route sees them. */
function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
}

/**
 * Node answers an `Expect` other than `100-continue` with a bare 417, unless the server has a
 * `checkExpectation` listener; this one says what is wrong. The body is not read, so the connection closes.
 */
function answerExpectation(req: IncomingMessage, res: ServerResponse): void {
  refuse(res, 417, 'EXPECTATION_FAILED', `Expect: ${JSON.stringify(req.headers.expect ?? '')} is not supported; send Expect: 100-continue or no Expect header`);
}

/**
 * An HTTP/1.1 request without a Host header (RFC 9112 §3.2: 400) gets Node's bare 400 with no body, which
 * leaves a device's developer guessing; Node's own check is turned off and the same 400 is answered in JSON
 * before the listeners the server already had (Node-RED's web app) see the request.
 */
function answerMissingHost(server: Pick<Server, 'on' | 'listeners' | 'removeAllListeners'> & { requireHostHeader?: boolean }): void {
  const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  if (listeners.length === 0) return;
  server.requireHostHeader = false;
  server.removeAllListeners('request');
  server.on('request', function (this: unknown, req: IncomingMessage, res: ServerResponse) {
    if (refusedForHost(req, res)) return;
    for (const l of listeners) l.call(this, req, res);
  });
}

/**
 * Answers an HTTP/1.1 request that has no Host header (true) or leaves it to the caller (false). A listener
 * that wraps the server's listeners after answerClientErrors did (the HTTP input's write routes) asks too.
 */
export function refusedForHost(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1 || req.headers.host !== undefined) return false;
  refuse(res, 400, 'MALFORMED_REQUEST', 'an HTTP/1.1 request needs a Host header');
  return true;
}

/** What a connection holds of Node's HTTP state: the response being written and the request being parsed. */
interface ServerSocket extends Duplex {
  _httpMessage?: (ServerResponse & { req?: IncomingMessage }) | null;
  parser?: { incoming?: IncomingMessage | null } | null;
}

/** Connections whose parser error is answered or waits its turn: the parser reports it again on every later read. */
const refusedConnections = new WeakSet<Duplex>();

/** How long a parser-error answer waits for the answers due before it, when the server sets no timeout. */
const FALLBACK_WAIT_MS = 60_000;

export function answerClientErrors(server: Pick<Server, 'on' | 'listenerCount' | 'listeners' | 'removeAllListeners'> & { requestTimeout?: number; headersTimeout?: number }): void {
  if ((server as unknown as { upperstackClientErrors?: boolean }).upperstackClientErrors) return;
  (server as unknown as { upperstackClientErrors?: boolean }).upperstackClientErrors = true;
  if (server.listenerCount('checkExpectation') === 0) server.on('checkExpectation', answerExpectation);
  answerMissingHost(server);
  server.on('clientError', (err: ParserError, socket: Duplex) => {
    if (refusedConnections.has(socket)) return;
    refusedConnections.add(socket);
    // A reset or a socket already half gone has nobody to read an answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const wait = [server.requestTimeout, server.headersTimeout].find((t): t is number => typeof t === 'number' && t > 0) ?? FALLBACK_WAIT_MS;
    answerInTurn(socket as ServerSocket, clientErrorResponse(err), wait);
  });
}

/**
 * Writes a parser error's answer after the answers due before it on the connection (HTTP/1.1 answers in
 * request order): a valid request followed by bytes the parser refuses, pipelined or sent right after, has
 * been taken and gets its own answer (202) first, then the 400, then the connection closes. Writing the 400
 * at once would close the connection before that answer, and the client would take a stored request as failed.
 * The request whose body the parser failed in (a bad chunk size) is the one the error answers: nothing waits
 * for its own response. Answers that do not come within `waitMs` are given up: the error is answered, if no
 * answer has begun, and the connection closes.
 */
function answerInTurn(socket: ServerSocket, answer: string, waitMs: number): void {
  const incoming = socket.parser?.incoming;
  const failing = incoming && !incoming.complete ? incoming : undefined;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const settle = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.off('close', settle);
    if (socket.destroyed) return;
    // Ended by an answer that asked for it (Connection: close): it goes once that answer is written.
    if (!socket.writable) {
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
      return;
    }
    // An answer begun and not finished in time cannot be cut in on.
    if (socket._httpMessage?.headersSent === true) {
      socket.destroy();
      return;
    }
    // The server is half-open (allowHalfOpen): end() alone would keep the connection for as long as the
    // client does, so a client that never closes (slowloris) holds it; once the answer is written it goes.
    socket.end(answer, () => socket.destroy());
  };
  // Node hands the connection to the next queued response within the previous one's 'finish', before this runs.
  const next = (): void => {
    if (settled) return;
    const res = socket._httpMessage;
    if (!res || res.req === failing || socket.destroyed) {
      settle();
      return;
    }
    res.once('finish', next);
  };
  const res = socket._httpMessage;
  if (res && res.req !== failing) {
    timer = setTimeout(settle, waitMs);
    socket.once('close', settle);
  }
  next();
}
