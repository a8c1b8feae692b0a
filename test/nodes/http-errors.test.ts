/**
 * JSON errors on both of Node-RED's Express apps, mounted the way Node-RED's
 * own server mounts them (admin app, then node app, on one top-level app):
 * body-parser failures (400 malformed, 413 too large, 415 wrong type) and
 * unknown paths (404) on httpNode and httpAdmin routes.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { serveApp } from '../helpers/node-red';
import { tempDir } from '../helpers/temp';

helper.init(require.resolve('node-red'));

const KEY = 'http-errors-test-key';
let app: express.Express;
let red: NodeAPI | undefined;
/** Runs first among the node modules: the apps are mounted before the nodes register routes, as in Node-RED. */
const mount = (r: NodeAPI) => {
  red = r;
  app = express();
  app.use(r.httpAdmin);
  app.use(r.httpNode);
};
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [mount, require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/anomaly/anomaly')];

const flow = [
  { id: 'tab', type: 'tab', label: 'test' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
  { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
];

interface ErrorBody {
  error: { code: string; message: string; parameter?: string; pointer?: string; limit?: number };
}

async function expectError(res: Response, status: number, code: string): Promise<ErrorBody['error']> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, text);
  const body = JSON.parse(text) as ErrorBody;
  assert.equal(body.error.code, code, text);
  assert.equal(typeof body.error.message, 'string');
  assert.doesNotMatch(text, /node_modules|\n\s*at |<html|<pre/i);
  return body.error;
}

describe('JSON errors on httpNode and httpAdmin', () => {
  let served: Awaited<ReturnType<typeof serveApp>>;
  let url = '';

  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-http-errors-'), apiKey: KEY } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  beforeEach(async () => {
    await helper.load(nodes, flow);
    await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
    served = await serveApp(app);
    url = served.url;
  });
  afterEach(async () => {
    await served.close();
    await helper.unload();
  });

  const post = (path: string, body: string | Uint8Array, type = 'application/json') =>
    fetch(url + path, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${KEY}` }, body: body as BodyInit });

  test('httpNode route: malformed JSON 400, null 400, too large 413, wrong type 415, no body 400', async () => {
    const path = '/api/v1/anomaly/backtest';
    const bad = await expectError(await post(path, '{"device":'), 400, 'MALFORMED_BODY');
    assert.equal(bad.parameter, 'body');
    // Node-RED's admin parser (strict, as here) refuses a bare null itself; Upperstack's settings let the route name it.
    const nul = await post(path, 'null');
    assert.equal(nul.status, 400);
    assert.equal(((await nul.json()) as ErrorBody).error.parameter, 'body');
    const big = await expectError(await post(path, JSON.stringify({ device: 'd', field: 'f', pad: 'x'.repeat(200 * 1024) })), 413, 'PAYLOAD_TOO_LARGE');
    assert.equal(big.limit, 64 * 1024);
    await expectError(await post(path, '<reading/>', 'application/xml'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectError(await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } }), 400, 'MALFORMED_BODY');
    // Valid JSON that JSON.parse reads as Infinity: named by its pointer (in an array, the parameter is the body).
    const huge = await expectError(await post(path, '{"device":"d","field":"f","config":{"threshold":1e309}}'), 400, 'BAD_PARAMETER');
    assert.deepEqual([huge.parameter, huge.pointer, huge.message], ['config', '/config/threshold', '/config/threshold is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)']);
    const listed = await expectError(await post(path, '[1, -1e400]'), 400, 'BAD_PARAMETER');
    assert.deepEqual([listed.parameter, listed.pointer, listed.message], ['body', '/1', '/1 is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)']);
  });

  test('httpAdmin route: malformed JSON 400 and too large 413 from the admin parser, wrong type 415', async () => {
    const path = '/upperstack-anomaly/backtest';
    // The admin app's own parser (5 MB, as Node-RED's) fails before the route: the runtime's handler answers.
    await expectError(await post(path, '{"config":'), 400, 'MALFORMED_BODY');
    await expectError(await post(path, Buffer.alloc(6 * 1024 * 1024, 0x20)), 413, 'PAYLOAD_TOO_LARGE');
    await expectError(await post(path, 'a,b\n1,2', 'text/csv'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // A body the admin parser read is checked by the route's reader all the same.
    const huge = await expectError(await post(path, '{"config":{"threshold":1e309}}'), 400, 'BAD_PARAMETER');
    assert.equal(huge.pointer, '/config/threshold');
  });

  test('unknown paths are 404 JSON; a route a node adds later is still reached', async () => {
    await expectError(await fetch(`${url}/api/v1/no-such-thing`), 404, 'NOT_FOUND');
    // A route that takes other methods is there: 405 with the methods it takes.
    await expectError(await fetch(`${url}/api/v1/readings`, { method: 'PUT' }), 405, 'METHOD_NOT_ALLOWED');
    await expectError(await fetch(`${url}/later`), 404, 'NOT_FOUND');
    // The HTTP input's routes without the device: the answer says where the device goes.
    const bare = await expectError(await fetch(`${url}/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":1}' }), 404, 'NOT_FOUND');
    assert.match(bare.message, /POST \/ingest\/\{device\} names the device in the path/);
    assert.match((await expectError(await fetch(`${url}/fetch/`), 404, 'NOT_FOUND')).message, /GET \/fetch\/\{device\}/);
    assert.doesNotMatch((await expectError(await fetch(`${url}/ingestx`, { method: 'POST' }), 404, 'NOT_FOUND')).message, /\{device\}/);
    red!.httpNode.get('/later', (_req, res) => void res.send('served'));
    const later = await fetch(`${url}/later`);
    assert.equal(later.status, 200);
    assert.equal(await later.text(), 'served');
  });

  test('a path parameter that is not valid percent-encoding is a 400 that says so', async () => {
    red!.httpNode.get('/things/:id', (_req, res) => void res.send('served'));
    for (const bad of ['%ff', '%', 'a%2']) {
      const err = await expectError(await fetch(`${url}/things/${bad}`), 400, 'BAD_PATH');
      assert.match(err.message, new RegExp(`the path cannot be decoded \\(Failed to decode param '${bad}'\\): percent-encode it as UTF-8`));
    }
    assert.equal(await (await fetch(`${url}/things/%C3%BC`)).text(), 'served');
  });

  test('a bug in a route is a 500 JSON error with a generic message; the details stay in the log', async () => {
    red!.httpNode.get('/boom', () => {
      throw new Error('secret at /opt/install/path');
    });
    const err = await expectError(await fetch(`${url}/boom`), 500, 'INTERNAL');
    assert.doesNotMatch(err.message, /secret|\/opt/);
  });
});
