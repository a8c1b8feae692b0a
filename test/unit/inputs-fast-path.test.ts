import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { answerClientErrors } from '../../nodes/lib/client-errors';
import { fastPathAllowed, installFastPath, matchRoute, parseQuery, type FastRoute, type RouteRequest } from '../../nodes/lib/inputs/fast-path';

/** A server whose own listener (the framework) answers 299 with its path, and the fast path in front of it. */
async function serve(root: string) {
  const seen: Array<{ route: FastRoute; req: RouteRequest }> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    res.statusCode = 299;
    res.end(`framework ${req.method} ${req.url}`);
  });
  installFastPath(server, root, (route, rr, res) => {
    seen.push({ route, req: rr });
    rr.raw.resume();
    rr.raw.on('end', () => {
      res.statusCode = 202;
      res.end(`fast ${route} ${rr.device ?? ''}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string) => {
    const res = await fetch(base + path, { method, body: method === 'POST' ? '{}' : undefined });
    return { status: res.status, text: await res.text() };
  };
  return { server, seen, call, close: () => new Promise<void>((r) => server.close(() => r())) };
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
  installFastPath(server, '/', (_route, rr, res) => {
    taken++;
    rr.raw.resume();
    rr.raw.on('end', () => res.end('fast'));
  });
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
    installFastPath(s.server, '/nodes', (_route, rr, res) => {
      rr.raw.resume();
      res.statusCode = 204;
      res.end();
    });
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
