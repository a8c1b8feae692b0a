/**
 * The runtime's HTTP server keeps an idle keep-alive connection open longer than Node's default 5 s
 * (nodes/lib/server-timeouts.ts): a client that holds a connection idle for 6 s sends its next request on
 * the same socket and is answered, instead of racing the server's close (ECONNRESET on a reused socket).
 * One socket at most (maxSockets 1), so "the same socket" is what the client's agent says (reusedSocket)
 * and the local port it used.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { startRuntime, type Runtime } from '../helpers/runtime';

let rt: Runtime;
before(async () => {
  rt = await startRuntime();
});
after(async () => {
  await rt?.stop();
});

function get(agent: Agent, path: string): Promise<{ status: number; reused: boolean; localPort?: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${rt.url}${path}`, { agent, headers: { authorization: `Bearer ${rt.apiKey}` } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, localPort: req.socket?.localPort, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a keep-alive connection idle for 6 s is still open and answers the next request', { timeout: 60_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, timeout: 120_000 });
  try {
    const first = await get(agent, '/health');
    assert.equal(first.status, 200, first.body);
    assert.equal(first.reused, false);
    // Longer than Node's default keepAliveTimeout (5 s), which would have closed the socket by now.
    await new Promise((r) => setTimeout(r, 6000));
    const second = await get(agent, '/api/v1/rules');
    assert.equal(second.status, 200, second.body);
    assert.equal(second.reused, true, 'sent on the connection kept from the first request');
    assert.equal(second.localPort, first.localPort);
  } finally {
    agent.destroy();
  }
});

test('requests the HTTP parser refuses are answered with a JSON error that names the problem, not a bare status line', async () => {
  const { connect } = await import('node:net');
  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(rt.url);
      const s = connect(Number(url.port), url.hostname, () => s.write(text));
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
  const body = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
  const badLength = await raw('POST /ingest/dev1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{"t":1}');
  assert.match(badLength, /^HTTP\/1\.1 400 /);
  assert.match(badLength, /Content-Type: application\/json/i);
  assert.deepEqual(body(badLength).error, { code: 'MALFORMED_REQUEST', message: 'the Content-Length header is not a single number' });
  const big = await raw(`POST /ingest/dev1 HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.equal(body(big).error.code, 'HEADERS_TOO_LARGE');
  const junk = await raw('\u0001\u0002 / HTTP/1.1\r\n\r\n');
  assert.match(junk, /^HTTP\/1\.1 400 /);
  assert.equal(body(junk).error.code, 'MALFORMED_REQUEST');
  // The server goes on answering.
  const health = await fetch(`${rt.url}/health`);
  assert.equal(health.status, 200);
});
