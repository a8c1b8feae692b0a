/**
 * The query API's routes answer OPTIONS 204 with `Allow`, read from the routes as registered, where the CORS
 * handler answered it without one; a method a route does not take is answered 405 with the same `Allow` and the
 * API's JSON error, where it was a 404; a browser's preflight is still CORS's; a path nothing serves is still a 404.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useApiRuntime } from '../helpers/api-runtime';

const CORS = { origin: 'https://app.example', methods: 'GET,POST' };

describe('OPTIONS and wrong methods on the query API\'s routes', () => {
  const rt = useApiRuntime('us-api-options-', 'api-options-test-key', {
    settings: { httpNodeCors: CORS },
    /* eslint-disable @typescript-eslint/no-require-imports */
    // Node-RED's own http in node puts httpNodeCors on every OPTIONS of the node routes, as in the runtime.
    modules: [require('@node-red/nodes/core/network/21-httpin.js')],
    /* eslint-enable @typescript-eslint/no-require-imports */
  });

  async function call(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
    const res = await fetch(`${rt.url}${path}`, { method, headers });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  test('a plain OPTIONS names the methods of the route in Allow', async () => {
    const cases: Array<[string, string]> = [
      ['/api/v1/readings', 'GET, HEAD, OPTIONS'],
      ['/api/v1/readings/aggregate', 'GET, HEAD, OPTIONS'],
      ['/api/v1/deadletters/replay', 'POST, OPTIONS'],
      ['/health', 'GET, HEAD, OPTIONS'],
      ['/metrics', 'GET, HEAD, OPTIONS'],
    ];
    for (const [path, allow] of cases) {
      const r = await call('OPTIONS', path);
      assert.equal(r.status, 204, `${path}: ${r.text}`);
      assert.equal(r.headers.get('allow'), allow, path);
    }
  });

  test('a method the route does not take is answered 405 with the same Allow and a JSON error', async () => {
    const r = await call('DELETE', '/api/v1/readings');
    assert.equal(r.status, 405, r.text);
    assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
    const body = JSON.parse(r.text) as { error: { code: string; allow: string[] } };
    assert.equal(body.error.code, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(body.error.allow, ['GET', 'HEAD', 'OPTIONS']);
    const post = await call('GET', '/api/v1/deadletters/replay');
    assert.equal(post.status, 405, post.text);
    assert.equal(post.headers.get('allow'), 'POST, OPTIONS');
  });

  test('a CORS preflight is answered by httpNodeCors as configured, with Allow added', async () => {
    const r = await call('OPTIONS', '/api/v1/readings', { origin: 'https://app.example', 'access-control-request-method': 'GET' });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(r.headers.get('access-control-allow-methods'), 'GET,POST');
    assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
  });

  test('a path no route serves is still a 404, and its OPTIONS has no Allow', async () => {
    const r = await call('DELETE', '/api/v1/nothing-here');
    assert.equal(r.status, 404, r.text);
    assert.equal(r.headers.get('allow'), null);
    assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'NOT_FOUND');
    const o = await call('OPTIONS', '/api/v1/nothing-here');
    assert.equal(o.headers.get('allow'), null);
  });
});

describe('OPTIONS on the query API\'s and the HTTP input\'s routes, with the node app mounted after the node modules load', () => {
  const rt = useApiRuntime('us-api-options-late-', 'api-options-late-test-key', {
    settings: { httpNodeCors: CORS },
    /* eslint-disable @typescript-eslint/no-require-imports */
    modules: [require('@node-red/nodes/core/network/21-httpin.js'), require('../../nodes/http-in/http-in')],
    /* eslint-enable @typescript-eslint/no-require-imports */
    flow: [{ id: 'in', type: 'upperstack-http-in', z: 'tab', configVersion: 2, influx: true, wires: [[], []] }],
    // An embedding may mount RED.httpNode on its server only after the modules registered their routes.
    mountAfterModules: true,
  });

  test('a plain OPTIONS names the methods of each route in Allow, as its 405 does', async () => {
    const cases: Array<[string, string, string]> = [
      ['/api/v1/readings', 'GET, HEAD, OPTIONS', 'DELETE'],
      ['/api/v1/deadletters/replay', 'POST, OPTIONS', 'GET'],
      ['/health', 'GET, HEAD, OPTIONS', 'POST'],
      ['/ingest/dev1', 'POST, OPTIONS', 'PUT'],
      ['/query', 'GET, HEAD, POST, OPTIONS', 'PUT'],
    ];
    for (const [path, allow, wrong] of cases) {
      const res = await fetch(`${rt.url}${path}`, { method: 'OPTIONS' });
      const text = await res.text();
      assert.equal(res.status, 204, `${path}: ${text}`);
      assert.equal(res.headers.get('allow'), allow, path);
      const refused = await fetch(`${rt.url}${path}`, { method: wrong });
      await refused.arrayBuffer();
      assert.equal(refused.status, 405, `${wrong} ${path}`);
      assert.equal(refused.headers.get('allow'), allow, `${path}: OPTIONS and the 405 list the same methods`);
    }
  });
});
