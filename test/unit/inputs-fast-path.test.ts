import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { answerClientErrors } from '../../nodes/lib/client-errors';
import { fastPathAllowed, installInputFront, matchRoute, parseQuery, type FastHandler, type FastRoute, type InputFront, type RouteRequest } from '../../nodes/lib/inputs/fast-path';

/** The dispatcher's view of an input with a body limit of `limit` bytes (null: none serving); refusals answer their route, status and code. */
function front(serve: FastHandler | undefined, limit: number | null = 1000): InputFront {
  return {
    serve,
    serves: () => limit !== null,
    limit: () => limit ?? 0,
    refuse: (route, res, status, err) => {
      const text = `refused ${route} ${err.code}: ${err.message}`;
      res.writeHead(status, { Connection: 'close', 'Content-Length': text.length });
      res.end(text);
    },
  };
}

/** A server whose own listener (the framework) answers 299 with its path, and the fast path in front of it. */
async function serve(root: string) {
  const seen: Array<{ route: FastRoute; req: RouteRequest }> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    res.statusCode = 299;
    res.end(`framework ${req.method} ${req.url}`);
  });
  installInputFront(server, root, front((route, rr, res) => {
    seen.push({ route, req: rr });
    rr.raw.resume();
    rr.raw.on('end', () => {
      res.statusCode = 202;
      res.end(`fast ${route} ${rr.device ?? ''}`);
    });
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string) => {
    const res = await fetch(base + path, { method, body: method === 'POST' ? '{}' : undefined });
    return { status: res.status, text: await res.text() };
  };
  return { server, base, seen, call, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('POSTs to the write routes are taken ahead of the framework, everything else reaches it unchanged', async () => {
  const s = await serve('/');
  try {
    assert.deepEqual(await s.call('POST', '/ingest/dev%201?x=1&x=2&y=3'), { status: 202, text: 'fast ingest dev 1' });
    assert.equal(s.seen[0].req.path, '/ingest/dev%201');
    assert.deepEqual({ ...s.seen[0].req.query }, { x: ['1', '2'], y: '3' });
    assert.deepEqual(await s.call('POST', '/insert/plug1'), { status: 202, text: 'fast insert plug1' });
    assert.deepEqual(await s.call('POST', '/write?db=x'), { status: 202, text: 'fast influx-v1 ' });
    assert.deepEqual(await s.call('POST', '/api/v2/write?bucket=b'), { status: 202, text: 'fast influx-v2 ' });
    // Not write routes, or not POST: the framework answers.
    assert.deepEqual(await s.call('GET', '/ingest/dev1'), { status: 299, text: 'framework GET /ingest/dev1' });
    assert.deepEqual(await s.call('POST', '/ingest/a/b'), { status: 299, text: 'framework POST /ingest/a/b' });
    assert.deepEqual(await s.call('POST', '/api/v1/devices'), { status: 299, text: 'framework POST /api/v1/devices' });
    assert.deepEqual(await s.call('POST', '/ingest/%E0%A4%A'), { status: 299, text: 'framework POST /ingest/%E0%A4%A' });
    assert.equal(s.seen.length, 4);
  } finally {
    await s.close();
  }
});

test('a write route without a Host header is refused in JSON when the fast path wraps the server after the JSON error answers', async () => {
  // The order of the runtime when the HTTP input starts after npm start set up the server: that answer first.
  const server = createServer((_req, res) => res.end('framework'));
  answerClientErrors(server);
  let taken = 0;
  installInputFront(server, '/', front((_route, rr, res) => {
    taken++;
    rr.raw.resume();
    rr.raw.on('end', () => res.end('fast'));
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect((server.address() as AddressInfo).port, '127.0.0.1', () => c.write('POST /ingest/d1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}'));
      let got = '';
      c.on('data', (b: Buffer) => (got += b.toString('latin1')));
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /"code":"MALFORMED_REQUEST","message":"an HTTP\/1\.1 request needs a Host header"/);
    assert.equal(taken, 0);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('under a node root only paths below it are taken; installing again replaces the handler', async () => {
  const s = await serve('/nodes/');
  try {
    assert.deepEqual(await s.call('POST', '/nodes/ingest/d1'), { status: 202, text: 'fast ingest d1' });
    assert.equal(s.seen[0].req.path, '/ingest/d1');
    assert.deepEqual(await s.call('POST', '/ingest/d1'), { status: 299, text: 'framework POST /ingest/d1' });
    assert.match(await exchange(Number(new URL(s.base).port), 'POST /nodes/ingest/d1 HTTP/1.0\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 411 [^]*refused ingest LENGTH_REQUIRED: POST \/nodes\/ingest\/d1 needs/);
    installInputFront(s.server, '/nodes', front((_route, rr, res) => {
      rr.raw.resume();
      res.statusCode = 204;
      res.end();
    }));
    assert.equal(s.server.listenerCount('request'), 1);
    assert.equal((await s.call('POST', '/nodes/write')).status, 204);
    assert.equal((await s.call('GET', '/nodes/write')).status, 299);
  } finally {
    await s.close();
  }
});

test('route matching and query parsing', () => {
  assert.deepEqual(matchRoute('/ingest/a%2Fb'), { route: 'ingest', device: 'a/b' });
  assert.equal(matchRoute('/ingest/'), undefined);
  assert.equal(matchRoute('/query'), undefined);
  assert.equal(matchRoute('/writes'), undefined);
  assert.deepEqual({ ...parseQuery('a=1&b=%20x&a=2&a=3') }, { a: ['1', '2', '3'], b: ' x' });
  assert.deepEqual({ ...parseQuery('') }, {});
});

test('the fast path stays off when the settings put something in front of node routes', () => {
  assert.equal(fastPathAllowed({ httpNodeRoot: '/' }), true);
  assert.equal(fastPathAllowed({ httpNodeMiddleware: [] }), true);
  assert.equal(fastPathAllowed({ httpNodeAuth: { user: 'u', pass: 'x' } }), false);
  assert.equal(fastPathAllowed({ httpNodeMiddleware: () => undefined }), false);
  assert.equal(fastPathAllowed({ httpNodeCors: { origin: '*' } }), false);
  assert.equal(fastPathAllowed({ httpNodeRoot: false }), false);
  assert.equal(fastPathAllowed({ upperstack: { httpFastPath: false } }), false);
});

/** Writes `head` on a raw connection (and `body` once told 100 Continue) and reads until the server closes it. */
function exchange(port: number, head: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => c.write(head));
    let got = '';
    c.on('data', (b: Buffer) => {
      const first = got === '';
      got += b.toString('latin1');
      if (first && body !== undefined && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) c.write(body);
    });
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
}

/** The server of `serve`, with the JSON parser-error answers installed first as the runtime has them. */
async function serveBehindClientErrors(serveWrites: boolean, limit: number | null = 1000) {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = 299;
      res.end(`framework ${req.method} ${req.url}`);
    });
  });
  answerClientErrors(server);
  installInputFront(server, '/', front(serveWrites ? (route, rr, res) => {
    rr.raw.resume();
    rr.raw.on('end', () => {
      res.statusCode = 202;
      res.end(`fast ${route}`);
    });
  } : undefined, limit));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

for (const serveWrites of [true, false]) {
  test(`a POST to a write route without Content-Length or Transfer-Encoding is answered 411, its body sent after the headers too; with Content-Length it is taken (${serveWrites ? 'fast path' : 'framework serves the routes'})`, async () => {
    const s = await serveBehindClientErrors(serveWrites);
    try {
      const body = '{"t":1}';
      for (const version of ['1.0', '1.1']) {
        // The body follows the headers in the same write: the parser reads it as a next request and fails on it.
        for (const trailing of [body, '']) {
          const answer = await exchange(s.port, `POST /ingest/d1 HTTP/${version}\r\nHost: x\r\nContent-Type: application/json\r\n\r\n${trailing}`);
          assert.equal(answer.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `one answer only: ${answer}`);
          assert.match(answer, /^HTTP\/1\.1 411 /);
          assert.match(answer, /\r\nConnection: close\r\n/i);
          assert.match(answer, /refused ingest LENGTH_REQUIRED: /);
        }
      }
      assert.match(await exchange(s.port, `POST /write?db=x HTTP/1.0\r\nHost: x\r\n\r\nm v=1\n`), /^HTTP\/1\.1 411 [^]*refused influx-v1 LENGTH_REQUIRED: /);
      const served = await exchange(s.port, `POST /ingest/d1 HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      assert.match(served, serveWrites ? /^HTTP\/1\.1 202 [^]*fast ingest$/ : /^HTTP\/1\.1 299 [^]*framework POST \/ingest\/d1$/);
      const chunked = await exchange(s.port, `POST /ingest/d1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n${body}\r\n0\r\n\r\n`);
      assert.match(chunked, serveWrites ? /^HTTP\/1\.1 202 / : /^HTTP\/1\.1 299 /);
      // Other paths are left to the framework as they come.
      assert.match(await exchange(s.port, 'POST /api/v1/x HTTP/1.0\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 299 /);
    } finally {
      await s.close();
    }
  });
}

test('with the framework serving the write routes, Expect: 100-continue over the limit is answered 413 without 100 Continue; within it, and on other paths, 100 Continue goes out at once', async () => {
  const s = await serveBehindClientErrors(false, 1000);
  const head = (path: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`;
  try {
    const over = await exchange(s.port, head('/api/v2/write?bucket=b', 5000));
    assert.doesNotMatch(over, /100 Continue/);
    assert.match(over, /^HTTP\/1\.1 413 [^]*refused influx-v2 PAYLOAD_TOO_LARGE: payload is 5000 bytes/);
    const body = '{"t":1}';
    assert.match(await exchange(s.port, head('/ingest/d1', body.length), body), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 299 [^]*framework POST \/ingest\/d1$/);
    assert.match(await exchange(s.port, head('/api/v1/x', body.length), body), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 299 /);
  } finally {
    await s.close();
  }
  // No input serving the routes (none deployed, or the route turned off): Node's own behaviour, the route answers.
  const none = await serveBehindClientErrors(false, null);
  try {
    assert.match(await exchange(none.port, head('/ingest/d1', 2), '{}'), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 299 /);
    assert.match(await exchange(none.port, 'POST /ingest/d1 HTTP/1.0\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 299 /);
  } finally {
    await none.close();
  }
});
