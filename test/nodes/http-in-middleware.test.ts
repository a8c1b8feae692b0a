/**
 * upperstack-http-in with Node-RED's HTTP stack serving its write routes (`upperstack.httpFastPath: false`, as
 * with httpNodeAuth, httpNodeCors or httpNodeMiddleware set): requests refused on their headers alone are
 * answered as on the fast path, before any middleware, and other routes keep Node's own 100-continue.
 * The test helper's server serves none of the runtime's node routes (only the fast path reaches the input),
 * so they are put on it here, as Node-RED mounts `httpNode` on its server's app.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { RequestHandler } from 'express';
import { tempDir } from '../helpers/temp';
import { answerBody, assertAnswersBeforeParseError, assertLengthRequired, rawExchange } from '../helpers/http-raw';

/* eslint-disable @typescript-eslint/no-require-imports */
const httpIn = require('../../nodes/http-in/http-in');

helper.init(require.resolve('node-red'));

const url = () => (helper as unknown as { url(): string }).url();

/** The node routes of the flows loaded last (each load makes a new `httpNode`). */
let httpNode: RequestHandler | undefined;
const capturingHttpNode = (RED: { httpNode: RequestHandler }) => {
  httpNode = RED.httpNode;
};

before(async () => {
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: tempDir('us-http-middleware-'), httpFastPath: false } });
  await helper.startServer();
  const app = (helper as unknown as { _app: { use(h: RequestHandler): void } })._app;
  app.use((req, res, next) => (httpNode ? httpNode(req, res, next) : next()));
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

let loads = 0;

/** A fresh input; `journaled` resolves with the first message it journals. */
async function load(options: Record<string, unknown> = {}): Promise<{ journaled: Promise<unknown> }> {
  const id = `m${++loads}`;
  await helper.load([httpIn, capturingHttpNode], [
    { id, type: 'upperstack-http-in', configVersion: 2, ...options, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const ok = helper.getNode('ok');
  assert.ok(ok);
  return { journaled: new Promise((resolve) => ok.once('input', resolve)) };
}

test('a POST without Content-Length or Transfer-Encoding is answered 411 as on the fast path; with Content-Length HTTP/1.0 is served', async () => {
  const { journaled: firstJournaled } = await load();
  await assertLengthRequired(url());
  assert.match(JSON.stringify(await firstJournaled), /"temp":21\.5/);
});

test('Expect: 100-continue with a Content-Length over the limit is answered 413 without 100 Continue; within it, 100 Continue and the answer; other paths get 100 Continue as Node sends it', async () => {
  const { journaled: firstJournaled } = await load({ maxBytes: 1000 });
  // Connection: close, so every exchange ends once answered, whatever the answer.
  const head = (path: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`;
  // The body is never sent: the client waits for 100 Continue, and the server answers and closes instead.
  const over = await rawExchange(url(), head('/ingest/d1', 5000));
  assert.match(over, /^HTTP\/1\.1 413 /);
  assert.doesNotMatch(over, /100 Continue/);
  assert.match(over, /\r\nConnection: close\r\n/i);
  assert.deepEqual(answerBody(over), { error: { code: 'PAYLOAD_TOO_LARGE', message: 'payload is 5000 bytes, more than the limit of 1000 bytes', size: 5000, limit: 1000 } });
  const v2 = await rawExchange(url(), head('/api/v2/write?org=o&bucket=b', 5000));
  assert.match(v2, /^HTTP\/1\.1 413 /);
  assert.deepEqual(answerBody(v2), { code: 'request too large', message: 'payload is 5000 bytes, more than the limit of 1000 bytes' });

  const payload = '{"t":3}';
  const within = await rawExchange(url(), head('/ingest/d1', payload.length), payload);
  assert.match(within, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 [^]*\{"accepted":1,"deadLettered":0\}$/);
  assert.match(JSON.stringify(await firstJournaled), /"t":3/);
  // Not an input route: Node's own 100 Continue, then that route's answer (here the JSON 404).
  const other = await rawExchange(url(), head('/elsewhere', 5000), 'x'.repeat(5000));
  assert.match(other, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 404 /);
});

test('valid requests followed by bytes the parser refuses on the same connection get their own 202 and 204 first, then the 400, as on the fast path', async () => {
  const { journaled: firstJournaled } = await load();
  await assertAnswersBeforeParseError(url());
  assert.match(JSON.stringify(await firstJournaled), /"temp":21\.5/);
});

test('GET /query asks for the device login as POST /query does: 401 without it, SHOW DATABASES with it', async () => {
  await helper.load([httpIn, capturingHttpNode], [{ id: 'login-in', type: 'upperstack-http-in', configVersion: 2, wires: [[], []] }], { 'login-in': { username: 'dev', password: 'secret' } });
  const get = (query: string) => rawExchange(url(), `GET /query?${query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  for (const method of ['GET', 'POST']) {
    const refused = await rawExchange(url(), `${method} /query?q=SHOW+DATABASES HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.match(refused, /^HTTP\/1\.1 401 /, method);
  }
  const shown = await get('q=SHOW+DATABASES&u=dev&p=secret');
  assert.match(shown, /^HTTP\/1\.1 200 /);
  // The names other tests' writes gave are listed too (the list is the runtime's).
  const series = (answerBody(shown) as { results: Array<{ series: Array<{ name: string; columns: string[] }> }> }).results[0].series[0];
  assert.deepEqual([series.name, series.columns], ['databases', ['name']]);
  assert.match(await get('q=SHOW+DATABASES&u=dev&p=wrong'), /^HTTP\/1\.1 401 /);
});
