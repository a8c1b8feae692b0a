/** What the package sets up on the runtime's HTTP server (nodes/shared/server-setup.ts), whoever started it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerOptions, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { answerClientErrors, clientErrorResponse } from '../../nodes/lib/client-errors';
import { prepareServer } from '../../nodes/shared/server-setup';
import { KEEP_ALIVE_TIMEOUT_MS, NODE_DEFAULT_KEEP_ALIVE_MS } from '../../nodes/lib/server-timeouts';
import { eventually } from '../helpers/intake';
import { rawExchange } from '../helpers/http-raw';

test('the parser-error answer is installed once per server however many callers ask (npm start, the plugin, each HTTP node)', async () => {
  const server = createServer((_req, res) => res.end('ok'));
  answerClientErrors(server);
  assert.equal(prepareServer({ server }), true);
  answerClientErrors(server);
  assert.equal(server.listenerCount('clientError'), 1);
  assert.equal(prepareServer({ server: null }), false);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n'));
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.equal(answer, clientErrorResponse({ name: 'Error', message: '', code: 'HPE_INVALID_CONTENT_LENGTH' } as Error));
    assert.match(answer, /"code":"MALFORMED_REQUEST"/);
  } finally {
    server.close();
  }
});

test('the runtime server keeps idle keep-alive connections 65 s unless its owner set a timeout of their own', () => {
  const fresh = createServer();
  assert.equal(fresh.keepAliveTimeout, NODE_DEFAULT_KEEP_ALIVE_MS);
  prepareServer({ server: fresh });
  assert.equal(fresh.keepAliveTimeout, KEEP_ALIVE_TIMEOUT_MS);
  assert.ok(fresh.headersTimeout > fresh.keepAliveTimeout);
  const owned = createServer();
  owned.keepAliveTimeout = 10_000;
  prepareServer({ server: owned });
  assert.equal(owned.keepAliveTimeout, 10_000);
});

/** What a raw client reads back for `head` (a request line and headers) sent to a server with the JSON answers. */
async function rawAnswer(head: string): Promise<string> {
  const server = createServer((_req, res) => res.end('ok'));
  answerClientErrors(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await rawExchange(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, head);
  } finally {
    server.close();
  }
}

test('two Content-Length headers are told apart from a Content-Length beside Transfer-Encoding', async () => {
  const twice = await rawAnswer('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd');
  assert.match(twice, /^HTTP\/1\.1 400 /);
  assert.match(twice, /"code":"MALFORMED_REQUEST","message":"the request has more than one Content-Length header; send exactly one"/);
  assert.doesNotMatch(twice, /chunked|Transfer-Encoding/);
  for (const order of ['Content-Length: 3\r\nTransfer-Encoding: chunked', 'Transfer-Encoding: chunked\r\nContent-Length: 3']) {
    const both = await rawAnswer(`POST / HTTP/1.1\r\nHost: x\r\n${order}\r\n\r\n0\r\n\r\n`);
    assert.match(both, /^HTTP\/1\.1 400 /);
    assert.match(both, /"message":"the request has both Content-Length and Transfer-Encoding; send one of them"/, order);
  }
});

test('a client that keeps its socket after the parser-error answer does not keep the server\'s connection open', async () => {
  const server = createServer((_req, res) => res.end('ok'));
  answerClientErrors(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // As a slow or hostile client does: it reads the answer and never closes its side.
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  try {
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('error', () => undefined);
    s.write('NOT-HTTP\r\n\r\n');
    await eventually(() => got.includes('MALFORMED_REQUEST'), 'the 400 answer');
    const open = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    let n = await open();
    const deadline = performance.now() + 30_000;
    while (n > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      n = await open();
    }
    assert.equal(n, 0, 'the server closed its side of the connection');
  } finally {
    s.destroy();
    server.close();
  }
});

test('an HTTP/1.1 request without a Host header and an Expect other than 100-continue get JSON errors, not a bare status line', async () => {
  const noHost = await rawAnswer('POST /ingest/d1 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"v":1}');
  assert.match(noHost, /^HTTP\/1\.1 400 /);
  assert.match(noHost, /Connection: close/i);
  assert.match(noHost, /\{"error":\{"code":"MALFORMED_REQUEST","message":"an HTTP\/1\.1 request needs a Host header"\}\}$/);
  // HTTP/1.0 needs no Host, and a request with one goes to the server's own listener.
  assert.match(await rawAnswer('GET / HTTP/1.0\r\n\r\n'), /\r\n\r\nok$/);
  assert.match(await rawAnswer('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /\r\n\r\nok$/);
  const expect = await rawAnswer('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 200-ok\r\n\r\n{"v":1}');
  assert.match(expect, /^HTTP\/1\.1 417 /);
  assert.match(expect, /\{"error":\{"code":"EXPECTATION_FAILED","message":"Expect: \\"200-ok\\" is not supported; send Expect: 100-continue or no Expect header"\}\}$/);
});

/**
 * A server with the JSON answers whose requests wait for `release` to be answered 202 with their path, and what
 * a raw client reads back for `head` (sent in one write) until the server closes the connection. `release` runs
 * once the parser has failed on the connection, so an answer written at once would come first.
 */
async function pipelined(head: string, release: (pending: Array<{ url: string; res: ServerResponse }>) => void, options: ServerOptions = {}): Promise<string> {
  const pending: Array<{ url: string; res: ServerResponse }> = [];
  const server = createServer(options, (req, res) => {
    req.resume();
    req.on('end', () => pending.push({ url: req.url ?? '', res }));
  });
  answerClientErrors(server);
  server.on('clientError', () => setImmediate(() => release(pending)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await rawExchange(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, head);
  } finally {
    server.close();
  }
}

const accept = ({ url, res }: { url: string; res: ServerResponse }) => {
  const text = `taken ${url}`;
  res.writeHead(202, { 'Content-Type': 'text/plain', 'Content-Length': text.length });
  res.end(text);
};
const post = (path: string, body = '{"t":1}') => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

test('valid requests followed by bytes the parser refuses get their own answers first, in order, then the 400, then the connection closes', async () => {
  const answer = await pipelined(`${post('/ingest/a')}${post('/ingest/b')}GARBAGE\r\n\r\n`, (pending) => pending.forEach(accept));
  assert.deepEqual(answer.match(/HTTP\/1\.1 \d{3} [^\r]*/g), ['HTTP/1.1 202 Accepted', 'HTTP/1.1 202 Accepted', 'HTTP/1.1 400 Bad Request'], answer);
  assert.match(answer, /\r\n\r\ntaken \/ingest\/aHTTP\/1\.1 202 [^]*\r\n\r\ntaken \/ingest\/bHTTP\/1\.1 400 /);
  assert.ok(answer.endsWith(clientErrorResponse({ name: 'Error', message: '', code: 'HPE_INVALID_METHOD' } as Error)), answer);
  // Headers over the limit in the request after a valid one: its answer, then the 431.
  const big = await pipelined(`${post('/ingest/a')}POST /ingest/b HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, (pending) => pending.forEach(accept));
  assert.deepEqual(big.match(/HTTP\/1\.1 \d{3} [^\r]*/g), ['HTTP/1.1 202 Accepted', 'HTTP/1.1 431 Request Header Fields Too Large'], big);
  assert.match(big, /"code":"HEADERS_TOO_LARGE"/);
});

test('a request whose own body the parser fails in is answered 400 at once, after the answers due before it', async () => {
  // The second request's chunk size is not hex: the 400 is its answer, and it is never released to the handler's answer.
  const bad = 'POST /ingest/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n';
  const answer = await pipelined(`${post('/ingest/a')}${bad}`, (pending) => pending.forEach(accept));
  assert.deepEqual(answer.match(/HTTP\/1\.1 \d{3} [^\r]*/g), ['HTTP/1.1 202 Accepted', 'HTTP/1.1 400 Bad Request'], answer);
  assert.match(answer, /"message":"a chunk size of the chunked body is not valid"/);
});

test('an answer that never comes holds the parser error for the server\'s request timeout at most, then the 400 goes out and the connection closes', async () => {
  // The first request is answered, the second never: the 400 follows the first answer once the wait is given up.
  const answer = await pipelined(`${post('/ingest/a')}${post('/ingest/b')}GARBAGE\r\n\r\n`, (pending) => accept(pending[0]), { requestTimeout: 300, headersTimeout: 300 });
  assert.deepEqual(answer.match(/HTTP\/1\.1 \d{3} [^\r]*/g), ['HTTP/1.1 202 Accepted', 'HTTP/1.1 400 Bad Request'], answer);
  assert.match(answer, /taken \/ingest\/aHTTP\/1\.1 400 [^]*"code":"MALFORMED_REQUEST"/);
});
