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
