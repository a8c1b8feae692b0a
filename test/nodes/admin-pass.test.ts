/**
 * Upperstack's node routes leave Node-RED's admin app at its first middleware
 * (nodes/shared/admin-pass.ts). The apps are mounted as Node-RED's own server
 * mounts them: the admin app first, with `httpAdminMiddleware` ahead of its own
 * parsers, login and editor files (a marker stands for those here), then the
 * node app. Every route the package's nodes add to the node app must be one of
 * the paths that pass.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { isNodeRoutePath, nodeRoutesPassAdmin } from '../../nodes/shared/admin-pass';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { serveApp, useTestRuntime } from '../helpers/node-red';

helper.init(require.resolve('node-red'));

const KEY = 'admin-pass-test-key-0123456789';
let app: express.Express;
let red: NodeAPI | undefined;
/** Paths that reached the admin app's own middleware (what Node-RED runs after httpAdminMiddleware). */
const adminSaw: string[] = [];
const mount = (r: NodeAPI) => {
  red = r;
  app = express();
  r.httpAdmin.use(nodeRoutesPassAdmin('/'));
  r.httpAdmin.use((req, _res, next) => {
    adminSaw.push(req.path);
    next();
  });
  r.httpAdmin.get('/flows', (_req, res) => void res.json({ admin: true }));
  app.use(r.httpAdmin);
  app.use(r.httpNode);
};
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [
  mount,
  require('../../nodes/store-config/store-config'),
  require('../../nodes/api/api'),
  require('../../nodes/http-in/http-in'),
  require('../../nodes/devices/devices'),
  require('../../nodes/alert/alert'),
  require('../../nodes/report/report'),
  require('../../nodes/invoice/invoice'),
];
/* eslint-enable @typescript-eslint/no-require-imports */

const flow = [
  { id: 'tab', type: 'tab', label: 'test' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
  { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
  { id: 'in', type: 'upperstack-http-in', z: 'tab', configVersion: 2, wires: [[], []] },
  { id: 'alert', type: 'upperstack-alert', z: 'tab', store: 'cfg', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [[], []] },
];

interface Layer {
  route?: { path: string | string[] };
  handle?: { stack?: Layer[] };
}

/** The paths of every route on an Express app, nested routers included. */
function routePaths(appLike: unknown): string[] {
  const root = (appLike as { _router?: { stack: Layer[] }; router?: { stack: Layer[] } });
  const out: string[] = [];
  const todo: Layer[] = [...((root._router ?? root.router)?.stack ?? [])];
  for (let layer = todo.pop(); layer; layer = todo.pop()) {
    if (layer.route) out.push(...([] as string[]).concat(layer.route.path));
    else if (layer.handle?.stack) todo.push(...layer.handle.stack);
  }
  return out;
}

describe('node routes and the admin app', () => {
  let served: Awaited<ReturnType<typeof serveApp>>;
  let url = '';
  useTestRuntime('us-admin-pass-', { settings: (dataDir) => ({ upperstack: { dataDir, apiKey: KEY } }) });

  beforeEach(async () => {
    adminSaw.length = 0;
    await helper.load(nodes, flow);
    await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
    served = await serveApp(app);
    url = served.url;
  });
  afterEach(async () => {
    await served.close();
  });

  test('a query, the health check and the metrics are answered without the admin app seeing them', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const readings = await fetch(`${url}/api/v1/readings?device=nobody`, { headers: auth });
    assert.equal(readings.status, 200, await readings.clone().text());
    assert.deepEqual(((await readings.json()) as { readings: unknown[] }).readings, []);
    const health = await fetch(`${url}/health`);
    assert.match(health.headers.get('content-type') ?? '', /^application\/json/);
    await health.text();
    const metrics = await fetch(`${url}/metrics`, { headers: auth });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# HELP /m);
    assert.equal((await fetch(`${url}/ping`)).status, 204);
    assert.deepEqual(adminSaw, []);
  });

  test('the editor and admin paths still go through the admin app', async () => {
    const flows = await fetch(`${url}/flows`);
    assert.deepEqual(await flows.json(), { admin: true });
    await (await fetch(`${url}/red/main.min.js`)).text();
    await (await fetch(`${url}/api/v1x`)).text();
    assert.deepEqual(adminSaw, ['/flows', '/red/main.min.js', '/api/v1x']);
  });

  test("every route the package's nodes add to the node app is a path that passes the admin app", () => {
    const paths = routePaths(red!.httpNode).filter((p) => typeof p === 'string');
    // The set loaded here: the query API, the inputs, devices, keys, grants, rules and alerts, reports and invoices.
    for (const expected of ['/api/v1/readings', '/write', '/api/v2/write', '/ingest/:device', '/health', '/metrics', '/api/v1/devices', '/api/v1/keys']) {
      assert.ok(paths.includes(expected), `${expected} among ${paths.join(' ')}`);
    }
    const concrete = (p: string) => p.replace(/:[^/]+/g, 'x');
    assert.deepEqual(paths.filter((p) => !isNodeRoutePath(concrete(p), '/')), []);
  });
});

test('node route paths under a root other than /', () => {
  assert.equal(isNodeRoutePath('/api/v1/readings', '/'), true);
  assert.equal(isNodeRoutePath('/health', '/'), true);
  assert.equal(isNodeRoutePath('/healthz', '/'), false);
  assert.equal(isNodeRoutePath('/api/v1', '/'), false);
  // The input's routes without a device reach the node app's 404, which says where the device goes.
  assert.equal(isNodeRoutePath('/ingest', '/'), true);
  assert.equal(isNodeRoutePath('/ingestx', '/'), false);
  assert.equal(isNodeRoutePath('/flows', '/'), false);
  assert.equal(isNodeRoutePath('/node/api/v1/readings', '/node'), true);
  assert.equal(isNodeRoutePath('/node/health', '/node/'), true);
  assert.equal(isNodeRoutePath('/api/v1/readings', '/node'), false);
  assert.equal(isNodeRoutePath('/nodex/health', '/node'), false);
});
