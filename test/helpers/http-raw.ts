/** HTTP over a raw socket, for requests no HTTP client library sends as they are (no Content-Length, Expect). */
import assert from 'node:assert/strict';
import { connect } from 'node:net';

/**
 * Writes `head` (request line, headers and whatever follows them) to the server at `base`, and `body` once the
 * server answers `100 Continue`; resolves with everything read until the server closes the connection.
 */
export function rawExchange(base: string, head: string, body?: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(head));
    let got = '';
    s.on('data', (c: Buffer) => {
      const first = got === '';
      got += c.toString('utf8');
      if (first && body !== undefined && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) s.write(body);
    });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

/** The JSON body of a raw answer. */
export function answerBody(answer: string): unknown {
  return JSON.parse(answer.slice(answer.lastIndexOf('\r\n\r\n') + 4));
}

/**
 * What every way of serving the HTTP input's write routes answers a POST without Content-Length or
 * Transfer-Encoding (411 in the route's shape, its body never taken as empty nor read as a next request) and
 * one with Content-Length over HTTP/1.0 (taken: 202). `base` is the server's URL.
 */
export async function assertLengthRequired(base: string): Promise<void> {
  const body = '{"temp":21.5}';
  for (const version of ['1.0', '1.1']) {
    for (const trailing of [body, '']) {
      const answer = await rawExchange(base, `POST /ingest/d1 HTTP/${version}\r\nHost: x\r\nContent-Type: application/json\r\n\r\n${trailing}`);
      const what = `HTTP/${version}, ${trailing ? 'body after the headers' : 'no body'}`;
      assert.equal(answer.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `one answer (${what}): ${answer}`);
      assert.match(answer, /^HTTP\/1\.1 411 Length Required\r\n/, what);
      assert.match(answer, /\r\nConnection: close\r\n/i, what);
      const error = (answerBody(answer) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'LENGTH_REQUIRED', what);
      assert.match(error.message, /^POST \/ingest\/d1 needs a Content-Length header giving the size of the body \(or, over HTTP\/1\.1, Transfer-Encoding: chunked\); without either the request has no body, and nothing was stored$/);
    }
  }
  // The InfluxDB routes answer in their own shapes.
  const v1 = await rawExchange(base, 'POST /write?db=x HTTP/1.0\r\nHost: x\r\n\r\nm,device=d1 t=1\n');
  assert.match(v1, /^HTTP\/1\.1 411 /);
  assert.match((answerBody(v1) as { error: string }).error, /^POST \/write needs a Content-Length header/);
  const v2 = answerBody(await rawExchange(base, 'POST /api/v2/write?bucket=b HTTP/1.1\r\nHost: x\r\n\r\nm,device=d1 t=1\n')) as { code: string; message: string };
  assert.equal(v2.code, 'invalid');
  assert.match(v2.message, /^POST \/api\/v2\/write needs a Content-Length header/);
  const served = await rawExchange(base, `POST /ingest/d1 HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.match(served, /^HTTP\/1\.1 202 [^]*\r\n\r\n\{"accepted":1,"deadLettered":0\}$/);
}

/**
 * What every way of serving the write routes answers a connection whose valid requests are followed by bytes
 * the HTTP parser refuses (sent in one write, as a pipelining client does): each request its own answer, in
 * request order, then the parser's 400 (431 for headers over the limit), then the connection closes.
 * `base` is the server's URL; the readings of `d1` are taken (three of them).
 */
export async function assertAnswersBeforeParseError(base: string): Promise<void> {
  const reading = '{"temp":21.5}';
  const ingest = `POST /ingest/d1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${reading.length}\r\n\r\n${reading}`;
  const line = 'm,device=d1 t=1\n';
  const write = `POST /write?db=x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${line.length}\r\n\r\n${line}`;
  const answer = await rawExchange(base, `${ingest}${write}GARBAGE\r\n\r\n`);
  assert.deepEqual(answer.match(/HTTP\/1\.1 \d{3} /g), ['HTTP/1.1 202 ', 'HTTP/1.1 204 ', 'HTTP/1.1 400 '], answer);
  assert.match(answer, /^HTTP\/1\.1 202 [^]*\r\n\r\n\{"accepted":1,"deadLettered":0\}HTTP\/1\.1 204 /);
  const refused = answer.slice(answer.lastIndexOf('HTTP/1.1 '));
  assert.match(refused, /\r\nConnection: close\r\n/i);
  assert.equal((answerBody(refused) as { error: { code: string } }).error.code, 'MALFORMED_REQUEST');
  // Headers over the limit after a valid request: its answer, then the 431.
  const big = await rawExchange(base, `${ingest}POST /ingest/d1 HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.deepEqual(big.match(/HTTP\/1\.1 \d{3} /g), ['HTTP/1.1 202 ', 'HTTP/1.1 431 '], big);
  assert.equal((answerBody(big) as { error: { code: string } }).error.code, 'HEADERS_TOO_LARGE');
}
