/**
 * OPTIONS on a route of the HTTP input is answered 204 with `Allow` from the input's route table, the list a
 * 405 on the route gives, where the CORS handler of `httpNodeCors` answered it 204 without one; a browser's
 * preflight (Origin and Access-Control-Request-Method) is still answered by that CORS handler as configured.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useApiRuntime } from '../helpers/api-runtime';

const CORS = { origin: 'https://app.example', methods: 'GET,POST' };

describe('OPTIONS on the HTTP input\'s routes, with httpNodeCors set', () => {
  const rt = useApiRuntime('us-http-options-', 'http-options-test-key', {
    settings: { httpNodeCors: CORS },
    /* eslint-disable @typescript-eslint/no-require-imports */
    // Node-RED's own http in node puts httpNodeCors on every OPTIONS of the node routes, as in the runtime.
    modules: [require('@node-red/nodes/core/network/21-httpin.js'), require('../../nodes/http-in/http-in')],
    /* eslint-enable @typescript-eslint/no-require-imports */
    flow: [{ id: 'in', type: 'upperstack-http-in', z: 'tab', configVersion: 2, influx: true, wires: [[], []] }],
  });

  async function options(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
    const res = await fetch(`${rt.url}${path}`, { method: 'OPTIONS', headers });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  test('a plain OPTIONS names the methods of the route in Allow, as its 405 does', async () => {
    const cases: Array<[string, string]> = [
      ['/ingest/dev1', 'POST, OPTIONS'],
      ['/insert/dev1', 'POST, OPTIONS'],
      ['/fetch/dev1', 'GET, HEAD, OPTIONS'],
      ['/write', 'POST, OPTIONS'],
      ['/api/v2/write', 'POST, OPTIONS'],
      ['/query', 'GET, HEAD, POST, OPTIONS'],
      ['/ping', 'GET, HEAD, OPTIONS'],
    ];
    for (const [path, allow] of cases) {
      const r = await options(path);
      assert.equal(r.status, 204, `${path}: ${r.text}`);
      assert.equal(r.headers.get('allow'), allow, path);
      const wrong = await fetch(`${rt.url}${path}`, { method: 'PUT' });
      await wrong.arrayBuffer();
      assert.equal(wrong.status, 405, path);
      assert.equal(wrong.headers.get('allow'), allow, `${path}: OPTIONS and the 405 list the same methods`);
    }
  });

  test('a CORS preflight is answered by httpNodeCors as configured', async () => {
    const r = await options('/ingest/dev1', { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(r.headers.get('access-control-allow-methods'), 'GET,POST');
    assert.equal(r.headers.get('access-control-allow-headers'), 'content-type');
  });

  test('OPTIONS on a path the input does not serve is left to the CORS handler, without Allow', async () => {
    const r = await options('/elsewhere');
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers.get('allow'), null);
  });
});
