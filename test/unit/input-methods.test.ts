/**
 * The methods each route of the HTTP input takes, for the 405 a request with another method gets, and how that
 * refusal reaches the client (status, code, the methods for `Allow`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wrongMethod } from '../../nodes/lib/inputs/methods';
import { httpErrorOf } from '../../nodes/lib/api/http-errors';
import { answerError } from '../../nodes/lib/inputs/answers';

test('another method on a route of the input is refused naming the methods it takes and the setting that serves it', () => {
  const put = wrongMethod('PUT', '/ingest/dev1');
  assert.equal(put?.route, 'ingest');
  assert.equal(put?.error.message, 'PUT is not accepted on /ingest/{device}: send readings with POST');
  assert.deepEqual(put?.error.details.allow, ['POST', 'OPTIONS']);
  assert.deepEqual(httpErrorOf(put?.error), { status: 405, code: 'METHOD_NOT_ALLOWED', message: put?.error.message, details: { allow: ['POST', 'OPTIONS'] }, internal: false });
  assert.equal(wrongMethod('get', '/Write/')?.route, 'influx-v1');
  assert.equal(wrongMethod('DELETE', '/api/v2/write')?.route, 'influx-v2');
  assert.equal(wrongMethod('PATCH', '/insert/d')?.route, 'insert');
  assert.deepEqual(wrongMethod('POST', '/fetch/d')?.error.details.allow, ['GET', 'HEAD', 'OPTIONS']);
  assert.deepEqual(wrongMethod('PUT', '/query')?.error.details.allow, ['GET', 'HEAD', 'POST', 'OPTIONS']);
});

test('a method the route takes, or a path that is no route of the input, is not refused here (the 404 stays)', () => {
  assert.equal(wrongMethod('POST', '/ingest/dev1'), undefined);
  assert.equal(wrongMethod('GET', '/query'), undefined);
  assert.equal(wrongMethod('HEAD', '/ping'), undefined);
  // Every route answers OPTIONS (a CORS preflight, or 204 with Allow).
  assert.equal(wrongMethod('OPTIONS', '/ingest/dev1'), undefined);
  assert.equal(wrongMethod('options', '/write'), undefined);
  assert.equal(wrongMethod('PUT', '/ingest'), undefined);
  assert.equal(wrongMethod('PUT', '/ingest/dev1/more'), undefined);
  assert.equal(wrongMethod('PUT', '/no/such/path'), undefined);
});

test('a method name that is not one is not repeated in the message', () => {
  assert.match(wrongMethod('X<B>', '/write')?.error.message ?? '', /^this method is not accepted on \/write/);
});

test('InfluxDB 2 clients read the 405 code by status as InfluxDB names it', () => {
  assert.equal(JSON.parse(answerError('influx-v2', 405, { code: 'METHOD_NOT_ALLOWED', message: 'm' }).body).code, 'method not allowed');
});
