/** HTTP error mapping, the login throttle and the package's library entry point. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { httpErrorOf, errorBody } from '../../nodes/lib/api/http-errors';
import { addressKey, loginThrottle } from '../../nodes/lib/security/login';
import { BadParameterError, PayloadTooLargeError, StoreUnavailableError, UpperstackError } from '../../nodes/lib/errors';

const ROOT = join(__dirname, '..', '..', '..');

describe('httpErrorOf', () => {
  const parserError = (type: string, status: number, extra: Record<string, unknown> = {}) => Object.assign(new Error('parser says no'), { type, status, statusCode: status, expose: true, ...extra });

  test('body-parser failures: malformed 400, too large 413 with the limit, charset and encoding 415', () => {
    assert.deepEqual(
      [httpErrorOf(parserError('entity.parse.failed', 400)).status, httpErrorOf(parserError('entity.parse.failed', 400)).code],
      [400, 'MALFORMED_BODY'],
    );
    const big = httpErrorOf(parserError('entity.too.large', 413, { limit: 1024, length: 4096 }));
    assert.deepEqual([big.status, big.code, big.details], [413, 'PAYLOAD_TOO_LARGE', { limit: 1024, size: 4096 }]);
    assert.equal(httpErrorOf(parserError('charset.unsupported', 415, { charset: 'latin-9' })).status, 415);
    assert.equal(httpErrorOf(parserError('encoding.unsupported', 415, { encoding: 'br' })).code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('Upperstack errors keep their code, message and details; status by kind', () => {
    const bad = httpErrorOf(new BadParameterError('from', '"from" is not a time'));
    assert.deepEqual([bad.status, bad.code, bad.message, bad.details], [400, 'BAD_PARAMETER', '"from" is not a time', { parameter: 'from' }]);
    assert.equal(httpErrorOf(new PayloadTooLargeError(10, 5)).status, 413);
    assert.equal(httpErrorOf(new StoreUnavailableError('down')).status, 503);
    assert.equal(httpErrorOf(new UpperstackError('JOURNAL_FAILED', 'disk')).status, 500);
  });

  test('anything else is a 500 with a generic message: no stack, no path', () => {
    const e = httpErrorOf(new TypeError('cannot read x of undefined at /usr/lib/node_modules/upperstack/dist/a.js:1'));
    assert.deepEqual([e.status, e.code, e.internal], [500, 'INTERNAL', true]);
    assert.doesNotMatch(e.message, /usr|node_modules|undefined/);
    // Client errors from other middleware keep their status.
    assert.equal(httpErrorOf(Object.assign(new Error('Not Found'), { status: 404, expose: true })).status, 404);
  });

  test('the body shape: code and message win over details of the same name', () => {
    assert.deepEqual(JSON.parse(errorBody('X', 'y', { code: 'other', limit: 3 })), { error: { code: 'X', message: 'y', limit: 3 } });
  });
});

describe('addressKey', () => {
  test('IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
    assert.equal(addressKey('2001:db8:0:1:bbbb:cccc:dddd:eeee'), '2001:db8:0:1::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey(undefined), 'unknown');
  });
});

describe('loginThrottle', () => {
  let server: Server;
  let port = 0;
  const blocked: string[] = [];
  let passed = 0;

  before(async () => {
    const app = express();
    app.use(
      loginThrottle({
        verify: async (u, p) => {
          // As slow as bcrypt, so parallel guesses overlap.
          await new Promise((r) => setTimeout(r, 20));
          return u === 'admin' && p === 'right';
        },
        maxFailures: 3,
        onBlocked: (address) => blocked.push(address),
      }),
    );
    app.post('/auth/token', (_req, res) => {
      passed++;
      res.json({ access_token: 'token' });
    });
    server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
  });

  const login = (password: string, from: string) =>
    new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
      const body = `grant_type=password&username=admin&password=${password}`;
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/auth/token', localAddress: from, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  test('parallel guesses from one address: only maxFailures are checked, the rest are 429', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => login(`guess${i}`, '127.0.1.1')));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    assert.deepEqual(blocked, ['127.0.1.1'], 'the block is told once');
    const right = await login('right', '127.0.1.1');
    assert.equal(right.status, 429);
    assert.ok(Number(right.retryAfter) > 0);
    assert.equal(passed, 0);
  });

  test('another address is not affected; a success clears its own failures', async () => {
    assert.equal((await login('wrong', '127.0.1.2')).status, 401);
    assert.equal((await login('wrong', '127.0.1.2')).status, 401);
    assert.equal((await login('right', '127.0.1.2')).status, 200);
    // Counting starts again: three more wrong ones are still answered 401.
    for (let i = 0; i < 3; i++) assert.equal((await login('wrong', '127.0.1.2')).status, 401);
    assert.equal((await login('wrong', '127.0.1.2')).status, 429);
    assert.equal(passed, 1);
  });
});

describe('package entry point', () => {
  test('package.json main exists and is the library without Node-RED', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };
    const main = join(ROOT, pkg.main);
    assert.ok(existsSync(main), `${pkg.main} exists`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require(main) as Record<string, unknown> & { codec: { decode: unknown }; anomaly: { AnomalyEngine: unknown } };
    for (const name of ['DuckDbStore', 'DurableWriter', 'loginThrottle', 'UpperstackError', 'describeError']) assert.equal(typeof lib[name], 'function', name);
    assert.equal(typeof lib.codec.decode, 'function');
    assert.equal(typeof lib.anomaly.AnomalyEngine, 'function');
    // Loaded on its own, it pulls in neither Node-RED nor Express.
    const probe = `require(${JSON.stringify(main)}); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules[\\\\/](node-red|@node-red|express)[\\\\/]/.test(k))))`;
    assert.deepEqual(JSON.parse(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' })), []);
  });
});
