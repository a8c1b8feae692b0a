/**
 * The HTTP surface of the real runtime (`dist/scripts/start.js`): editor login
 * throttling per source address, JSON errors everywhere, a quiet start.
 * Requests come from two loopback source addresses (127.0.0.1 and 127.0.0.2,
 * chosen with `localAddress`) to a runtime listening on 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { eventually, startRuntime, startRuntimeAsAdmin, type Runtime } from '../helpers/runtime';
import { answerBody, rawExchange } from '../helpers/http-raw';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function call(rt: Runtime, method: string, path: string, opts: { from?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      // Kept alive, so a server that answers before reading a large body drains it instead of closing mid-upload.
      { host: '127.0.0.1', port: rt.httpPort, method, path, headers: opts.headers, agent: new Agent({ keepAlive: true, localAddress: opts.from ?? '127.0.0.1' }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function login(rt: Runtime, password: string, from: string): Promise<Answer> {
  const body = new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '', username: 'admin', password }).toString();
  return call(rt, 'POST', '/auth/token', { from, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

/** The body is `{"error":{"code","message"}}` JSON with no stack trace or install path in it. */
function jsonError(a: Answer, status: number, code: string): { code: string; message: string } & Record<string, unknown> {
  assert.equal(a.status, status, a.text);
  assert.match(String(a.headers['content-type']), /^application\/json/, a.text);
  const body = JSON.parse(a.text) as { error: { code: string; message: string } & Record<string, unknown> };
  assert.equal(body.error.code, code, a.text);
  assert.equal(typeof body.error.message, 'string');
  assert.doesNotMatch(a.text, /node_modules|\n\s*at |\(\/|\/work\/|<html|<pre/i, 'no stack trace, path or HTML');
  return body.error;
}

const PASSWORD = 'test-admin-password';

describe('editor login throttling per source address', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
  });

  test('wrong passwords from one address block that address with 429; the admin on another logs in', async () => {
    for (let i = 0; i < 5; i++) {
      const a = await login(rt, `wrong-${i}`, '127.0.0.1');
      jsonError(a, 401, 'LOGIN_FAILED');
    }
    // The right password from the blocked address waits too: the block is per address, not per guess.
    const blocked = await login(rt, PASSWORD, '127.0.0.1');
    const err = jsonError(blocked, 429, 'TOO_MANY_REQUESTS');
    const retry = Number(blocked.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry > 0, `Retry-After ${String(blocked.headers['retry-after'])}`);
    assert.equal(err.retryAfter, retry);

    const admin = await login(rt, PASSWORD, '127.0.0.2');
    assert.equal(admin.status, 200, admin.text);
    const token = (JSON.parse(admin.text) as { access_token?: string }).access_token;
    assert.ok(token, admin.text);
    const flows = await call(rt, 'GET', '/flows', { from: '127.0.0.2', headers: { authorization: `Bearer ${token}` } });
    assert.equal(flows.status, 200);
  });

  test("Node-RED's lockout after 5 failures of a user name cannot be reached from many addresses", async () => {
    // 3 addresses × 4 wrong passwords: 12 failures for "admin", none of them blocked per address.
    for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      for (let i = 0; i < 4; i++) jsonError(await login(rt, `guess-${from}-${i}`, from), 401, 'LOGIN_FAILED');
    }
    // Several right logins at once, as from a few open browser tabs.
    const logins = await Promise.all(['127.0.0.6', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9', '127.0.0.10', '127.0.0.11'].map((from) => login(rt, PASSWORD, from)));
    for (const a of logins) assert.equal(a.status, 200, a.text);
  });

  test('a malformed login is a 400 JSON error, never a 500', async () => {
    const a = await call(rt, 'POST', '/auth/token', { from: '127.0.0.20', body: '{"grant_type":', headers: { 'content-type': 'application/json' } });
    jsonError(a, 400, 'MALFORMED_BODY');
    const b = await call(rt, 'POST', '/auth/token', { from: '127.0.0.20', body: 'grant_type=password', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    jsonError(b, 400, 'BAD_REQUEST');
  });
});

describe('every HTTP error is JSON', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
  });

  const backtest = (body: string | Buffer, type = 'application/json', key?: string) =>
    call(rt, 'POST', '/api/v1/anomaly/backtest', { body, headers: { 'content-type': type, authorization: `Bearer ${key ?? rt.apiKey}` } });

  test('POST /api/v1/anomaly/backtest: malformed JSON and null are 400, not an HTML stack trace', async () => {
    const bad = jsonError(await backtest('{"device": "d", '), 400, 'MALFORMED_BODY');
    assert.match(bad.message, /not valid JSON/);
    const nul = jsonError(await backtest('null'), 400, 'BAD_PARAMETER');
    assert.equal(nul.parameter, 'body');
  });

  test('a 6 MB body is 413 JSON naming the limit; a text body is 415; no key is 401', async () => {
    const big = jsonError(await backtest(Buffer.alloc(6 * 1024 * 1024, 0x20)), 413, 'PAYLOAD_TOO_LARGE');
    assert.equal(typeof big.limit, 'number');
    jsonError(await backtest('device=d', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    jsonError(await backtest('{}', 'application/json', 'wrong-key'), 401, 'UNAUTHORIZED');
  });

  test('unknown API paths are 404 JSON, another method on an API route 405', async () => {
    jsonError(await call(rt, 'GET', '/api/v1/nothing-here', { headers: { authorization: `Bearer ${rt.apiKey}` } }), 404, 'NOT_FOUND');
    jsonError(await call(rt, 'DELETE', '/api/v1/readings'), 405, 'METHOD_NOT_ALLOWED');
  });

  test("Node-RED's admin API without a token: 401 JSON instead of an empty answer", async () => {
    jsonError(await call(rt, 'GET', '/flows'), 401, 'UNAUTHORIZED');
    jsonError(await call(rt, 'POST', '/upperstack-anomaly/backtest', { body: '{}', headers: { 'content-type': 'application/json' } }), 401, 'UNAUTHORIZED');
  });

  test("Node-RED's admin routes: malformed and oversized JSON bodies are JSON errors too", async () => {
    const token = (JSON.parse((await login(rt, PASSWORD, '127.0.0.1')).text) as { access_token: string }).access_token;
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    jsonError(await call(rt, 'POST', '/flows', { headers: auth, body: '[{"id":' }), 400, 'MALFORMED_BODY');
    jsonError(await call(rt, 'POST', '/flows', { headers: auth, body: Buffer.alloc(6 * 1024 * 1024, 0x20) }), 413, 'PAYLOAD_TOO_LARGE');
    // The editor's backtest route on the admin API.
    jsonError(await call(rt, 'POST', '/upperstack-anomaly/backtest', { headers: auth, body: '{' }), 400, 'MALFORMED_BODY');
    jsonError(await call(rt, 'POST', '/upperstack-anomaly/backtest', { headers: { ...auth, 'content-type': 'text/csv' }, body: 'a,b' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('a body that does not parse, to a path nothing serves', () => {
  let rt: Runtime;
  let token: string;
  before(async () => {
    ({ rt, token } = await startRuntimeAsAdmin());
    // A user's flow: an http in for POST /hello and one for GET /only-get, each answered by an http response.
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
    const current = JSON.parse((await call(rt, 'GET', '/flows', { headers })).text) as { rev: string; flows: unknown[] };
    const added = [
      { id: 'user-tab', type: 'tab', label: 'user' },
      { id: 'user-post', type: 'http in', z: 'user-tab', url: '/hello', method: 'post', wires: [['user-res']] },
      { id: 'user-get', type: 'http in', z: 'user-tab', url: '/only-get', method: 'get', wires: [['user-res']] },
      // A user's route on a path of the HTTP input, with a method the input does not answer.
      { id: 'user-put', type: 'http in', z: 'user-tab', url: '/ingest/:device', method: 'put', wires: [['user-res']] },
      { id: 'user-res', type: 'http response', z: 'user-tab', statusCode: '', headers: {}, wires: [] },
    ];
    const body = JSON.stringify({ rev: current.rev, flows: [...current.flows, ...added] });
    const deployed = await call(rt, 'POST', '/flows', { headers: { ...headers, 'Node-RED-Deployment-Type': 'full' }, body });
    assert.equal(deployed.status, 200, deployed.text);
    await eventually(async () => ((await call(rt, 'POST', '/hello', { headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).status === 200 ? true : undefined), 30_000, 'POST /hello');
  });
  after(async () => {
    await rt?.stop();
  });

  const send = (method: string, path: string, body: string, headers: Record<string, string> = {}) =>
    call(rt, method, path, { body, headers: { 'content-type': 'application/json', ...headers } });

  test('POST, PUT and PATCH get the 404 a well-formed body gets, named after the method and path', async () => {
    for (const method of ['POST', 'PUT', 'PATCH']) {
      for (const path of ['/no/such/path', '/only-get']) {
        const good = await send(method, path, '{"a":1}');
        const broken = await send(method, path, '{"a":');
        const error = jsonError(broken, 404, 'NOT_FOUND');
        assert.equal(error.message, `nothing is served at ${method} ${path}`);
        assert.equal(broken.text, good.text, `${method} ${path}`);
        assert.equal(good.status, 404);
      }
    }
    // As curl sends it, over a raw socket.
    const body = '{"a":';
    const raw = await rawExchange(rt.url, `POST /no/such/path HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    assert.match(raw, /^HTTP\/1\.1 404 /);
    assert.deepEqual(answerBody(raw), { error: { code: 'NOT_FOUND', message: 'nothing is served at POST /no/such/path' } });
  });

  test('every route that serves the path still answers the broken body 400 with its reason', async () => {
    const admin = { authorization: `Bearer ${token}` };
    const malformed = [
      ['/hello', {}], // the user's http in
      ['/flows', admin], // Node-RED's admin API
      ['/auth/token', {}], // the editor's login
      ['/upperstack-anomaly/backtest', admin], // a node's admin route
      ['/api/v1/anomaly/backtest', { authorization: `Bearer ${rt.apiKey}` }], // the query API
    ] as const;
    for (const [path, headers] of malformed) {
      const error = jsonError(await send('POST', path, '{"a":', headers), 400, 'MALFORMED_BODY');
      assert.match(error.message, /^the body is not valid JSON: /, path);
    }
    // The HTTP input's device route reads the body as a device's payload.
    const decode = jsonError(await send('POST', '/ingest/sensor-1', '{"a":'), 400, 'DECODE_FAILED');
    assert.match(decode.message, /^JSON payload ends early/);
  });

  test("another method on a route of the HTTP input is 405 naming the one it takes; a user's route of that method still answers; with the input removed, 404 again", async () => {
    const flowHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
    for (const body of ['{"a":1}', '{"a":']) {
      const refused = await send('PATCH', '/ingest/sensor-1', body);
      const error = jsonError(refused, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(refused.headers.allow, 'POST, OPTIONS');
      assert.equal(error.message, 'PATCH is not accepted on /ingest/{device}: send readings with POST');
    }
    const users = await send('PUT', '/ingest/sensor-1', '{"a":1}');
    assert.equal(users.status, 200, users.text);
    // A deploy without the HTTP input: its paths are served by nothing again.
    const current = JSON.parse((await call(rt, 'GET', '/flows', { headers: flowHeaders })).text) as { rev: string; flows: Array<{ type: string }> };
    const flows = current.flows.filter((n) => n.type !== 'upperstack-http-in');
    assert.ok(flows.length < current.flows.length, 'the flows had an HTTP input');
    const deployed = await call(rt, 'POST', '/flows', { headers: { ...flowHeaders, 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify({ rev: current.rev, flows }) });
    assert.equal(deployed.status, 200, deployed.text);
    await eventually(async () => ((await send('PATCH', '/ingest/sensor-1', '{"a":1}')).status === 404 ? true : undefined), 30_000, 'PATCH /ingest/sensor-1 404');
    const gone = jsonError(await send('PATCH', '/ingest/sensor-1', '{"a":1}'), 404, 'NOT_FOUND');
    assert.equal(gone.message, 'nothing is served at PATCH /ingest/sensor-1');
    jsonError(await call(rt, 'GET', '/write'), 404, 'NOT_FOUND');
    jsonError(await call(rt, 'GET', '/query?q=SHOW+DATABASES'), 404, 'NOT_FOUND');
  });
});

describe('startup', () => {
  test('npm start prints no warning a user must puzzle over, on the first start and the next', async () => {
    const first = await startRuntime();
    let dataDir: string;
    try {
      dataDir = first.dataDir;
    } finally {
      await first.stop();
    }
    const second = await startRuntime({ dataDir });
    try {
      for (const [which, out] of [['first', first.output()], ['second', second.output()]]) {
        const warnings = out.split('\n').filter((l) => /\[warn\]|\[error\]/.test(l));
        assert.deepEqual(warnings, [], `${which} start:\n${out}`);
      }
    } finally {
      await second.stop();
    }
  });

  test('the broker bound beyond loopback without a device login says so once, plainly', async () => {
    const rt = await startRuntime({ env: { UPPERSTACK_BIND: '0.0.0.0', UPPERSTACK_MQTT_USERNAME: '', UPPERSTACK_MQTT_PASSWORD: '' } });
    try {
      const out = rt.output();
      const lines = out.split('\n').filter((l) => /\[warn\] \[upperstack-broker.*no device login/.test(l));
      assert.equal(lines.length, 1, out);
      // The HTTP and CoAP inputs of the pack refuse anonymous devices too, and each says so once.
      for (const input of ['upperstack-http-in', 'upperstack-coap-in']) {
        assert.equal(out.split('\n').filter((l) => l.includes(`[warn] [${input}`) && /no device login/.test(l)).length, 1, `${input}:\n${out}`);
      }
      assert.match(lines[0], /0\.0\.0\.0.*only devices registered.*UPPERSTACK_MQTT_USERNAME/);
    } finally {
      await rt.stop();
    }
  });
});
