import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, Agent, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { bufferedBody, readRequestBody } from '../../nodes/lib/inputs/body';
import { PayloadTooLargeError } from '../../nodes/lib/errors';

const LIMIT = 1024;
const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * A server that answers how it got each body: "buffered" (taken at once),
 * "read" (readRequestBody) or the error's name; and counts requests that ended and closed.
 */
async function serve() {
  const seen = { ended: 0, closed: 0 };
  // Called once the route has looked at the body: the rest of a split body is sent only then, so the
  // body is not all there when it looks, however late a loaded machine runs the route.
  let looked: (() => void) | undefined;
  const server = createServer((req: IncomingMessage, res) => {
    req.on('end', () => seen.ended++);
    req.on('close', () => seen.closed++);
    void (async () => {
      // As the route does: its checks take a turn or two before the body is wanted.
      await turn();
      await turn();
      const b = bufferedBody(req, LIMIT);
      looked?.();
      looked = undefined;
      if (b !== undefined) return res.end(`buffered ${b.toString('utf8')}`);
      try {
        res.end(`read ${(await readRequestBody(req, LIMIT)).toString('utf8')}`);
      } catch (err) {
        res.end(`error ${(err as Error).name}`);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  /** `parts` are written one by one, the second once the route has looked (the body is not all there when it looks). */
  const post = (headers: Record<string, string | number>, parts: Array<string | Buffer>) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/ingest/d1', agent, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      if (parts.length === 1) return req.end(parts[0]);
      looked = () => req.end(parts[1]);
      req.write(parts[0]);
    });
  return { seen, post, close: () => new Promise<void>((r) => { agent.destroy(); server.close(() => r()); }) };
}

test('a body all there is taken at once; the request still ends and closes, and the connection serves the next', async () => {
  const s = await serve();
  try {
    for (let i = 0; i < 3; i++) assert.equal(await s.post({ 'content-length': 11 }, ['{"t":21.5}\n']), 'buffered {"t":21.5}\n');
    assert.equal(await s.post({ 'content-length': 0 }, ['']), 'buffered ');
    await turn();
    assert.deepEqual(s.seen, { ended: 4, closed: 4 });
  } finally {
    await s.close();
  }
});

test('bodies not all there, chunked, encoded or over the limit are left to readRequestBody, which reads or refuses them whole', async () => {
  const s = await serve();
  try {
    assert.equal(await s.post({ 'content-length': 10 }, ['01234', '56789']), 'read 0123456789');
    assert.equal(await s.post({ 'transfer-encoding': 'chunked' }, ['abc']), 'read abc');
    const gz = gzipSync(Buffer.from('{"t":1}'));
    assert.equal(await s.post({ 'content-length': gz.length, 'content-encoding': 'gzip' }, [gz]), 'read {"t":1}');
    assert.equal(await s.post({ 'content-length': LIMIT + 1 }, ['x'.repeat(LIMIT + 1)]), `error ${new PayloadTooLargeError(LIMIT + 1, LIMIT).name}`);
  } finally {
    await s.close();
  }
});

test('a 413 names only sizes that are true: the limit, and for a gzip bomb or a cut-off stream what was sent, never a made-up payload size', async () => {
  const server = createServer((req, res) => {
    readRequestBody(req, LIMIT).then(
      (b) => res.end(`read ${b.length}`),
      (err: PayloadTooLargeError) => res.end(JSON.stringify({ message: err.message, details: err.details })),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const post = (headers: Record<string, string | number>, body: Buffer | string) =>
    new Promise<{ message: string; details: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/', headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve(JSON.parse(text) as { message: string; details: Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body);
    });
  try {
    // 256 KiB of zeros gzips to about 300 bytes: under the limit as sent, 256 times over it inflated.
    const bomb = gzipSync(Buffer.alloc(256 * 1024));
    assert.ok(bomb.length < LIMIT);
    const inflated = await post({ 'content-length': bomb.length, 'content-encoding': 'gzip' }, bomb);
    assert.equal(inflated.message, `the gzip body inflates to more than the limit of ${LIMIT} bytes (${bomb.length} bytes as sent)`);
    assert.deepEqual(inflated.details, { limit: LIMIT, contentEncoding: 'gzip' });
    const streamed = await post({ 'transfer-encoding': 'chunked' }, 'x'.repeat(LIMIT * 3));
    assert.match(streamed.message, new RegExp(`^the body is more than the limit of ${LIMIT} bytes \\(cut off after \\d+ bytes\\)$`));
    assert.deepEqual(streamed.details, { limit: LIMIT });
    const declared = await post({ 'content-length': LIMIT + 5 }, 'x'.repeat(LIMIT + 5));
    assert.equal(declared.message, `payload is ${LIMIT + 5} bytes, more than the limit of ${LIMIT} bytes`);
  } finally {
    server.close();
  }
});
