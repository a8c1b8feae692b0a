/**
 * Whether anything would answer a request, read from the runtime's route tables (nodes/shared/served-path.ts):
 * on apps mounted as Node-RED mounts them, and against the installed Node-RED's own editor and admin API,
 * whose tables the runtime cannot reach and knows by their first path segments.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import express from 'express';
import { answersNoPathOfItsOwn, NODE_RED_ADMIN_SEGMENTS, PASSING_MIDDLEWARE, servedPath, } from '../../nodes/shared/served-path';

const pass: express.RequestHandler = (_req, _res, next) => next();

/** Node-RED's layout: the top app; in it the editor's admin app (its editor, its admin API, the nodes' admin app), then the node app. */
function runtime(): Record<"top" | "node" | "admin" | "editorAdmin" | "editor" | "adminApi", express.Express> {
  const top = express();
  const editorAdmin = express();
  const editor = express();
  const adminApi = express();
  const admin = express();
  const node = express();
  editorAdmin.use(answersNoPathOfItsOwn(pass));
  editorAdmin.use(express.json());
  editorAdmin.post('/auth/token', pass);
  editor.post('/settings/user', pass);
  adminApi.post('/flows', pass);
  editorAdmin.use(editor);
  editorAdmin.use(adminApi);
  editorAdmin.use(admin);
  admin.post('/my-node/action', pass);
  node.get('/only-get', pass);
  node.post('/hello/:name', pass);
  top.use('/', editorAdmin);
  top.use('/', node);
  top.use(answersNoPathOfItsOwn(pass));
  return { top, node, admin, editorAdmin, editor, adminApi };
}

describe('servedPath', () => {
  test('a path no route serves is not served; each route, with its method, is', () => {
    const apps = runtime();
    assert.equal(servedPath(apps, 'POST', '/no/such/path'), false);
    assert.equal(servedPath(apps, 'PUT', '/hello/x'), false, 'the route is POST only');
    assert.equal(servedPath(apps, 'POST', '/only-get'), false, 'the route is GET only');
    for (const [method, path] of [
      ['POST', '/hello/x'],
      ['POST', '/HELLO/x/'],
      ['POST', '/auth/token'],
      ['POST', '/my-node/action'],
      ['PATCH', '/flows'],
      ['DELETE', '/settings/user/x'],
    ]) {
      assert.equal(servedPath(apps, method, path), true, `${method} ${path}`);
    }
  });

  test('only POST, PUT, PATCH and DELETE are judged', () => {
    const apps = runtime();
    for (const method of ['GET', 'HEAD', 'OPTIONS']) assert.equal(servedPath(apps, method, '/no/such/path'), true, method);
  });

  test('middleware it cannot read counts as serving: at the root, under the path, or a mounted app it does not know', () => {
    const auth = runtime();
    // As httpNodeAuth is mounted: at the root of the top app.
    auth.top.use(function basicAuth(_req: express.Request, _res: express.Response, next: express.NextFunction) {
      next();
    });
    assert.equal(servedPath(auth, 'POST', '/no/such/path'), true);

    const under = runtime();
    under.node.use('/dashboard', pass);
    assert.equal(servedPath(under, 'POST', '/dashboard/x'), true);
    assert.equal(servedPath(under, 'POST', '/no/such/path'), false);

    const app = runtime();
    app.node.use(express());
    assert.equal(servedPath(app, 'POST', '/no/such/path'), true);

    const https = runtime();
    assert.equal(servedPath(https, 'POST', '/no/such/path', { requireHttps: true }), true);
  });

  test("a router's table is read with the path it sees; apps mounted under a root see only theirs", () => {
    const apps = runtime();
    const router = express.Router();
    router.put('/item/:id', pass);
    apps.node.use('/things', router);
    assert.equal(servedPath(apps, 'PUT', '/things/item/1'), true);
    assert.equal(servedPath(apps, 'PUT', '/things/other'), false, 'read, not guessed: the router has no such route');
    assert.equal(servedPath(apps, 'PUT', '/item/1'), false);

    const top = express();
    const node = express();
    const admin = express();
    node.post('/hello', pass);
    top.use('/admin', admin);
    top.use('/api', node);
    const rooted = { top, node, admin };
    assert.equal(servedPath(rooted, 'POST', '/api/hello'), true);
    assert.equal(servedPath(rooted, 'POST', '/hello'), false);
  });
});

/* eslint-disable @typescript-eslint/no-require-imports */
test("Node-RED's editor and admin API answer POST, PUT, PATCH and DELETE only under NODE_RED_ADMIN_SEGMENTS", () => {
  const lib = require.resolve('@node-red/editor-api').replace(/index\.js$/, '');
  (require(`${lib}auth`) as { init(s: object, st: object): void }).init({}, {});
  // The runtime API is only stored while the apps are made; every call answers nothing.
  const anything: object = new Proxy(() => Promise.resolve(), { get: () => anything });
  const adminApi = (require(`${lib}admin`) as { init(s: object, r: object): express.Express }).init({}, anything);
  const editor = (require(`${lib}editor`) as { init(srv: object, s: object, r: object): express.Express }).init(createServer(), {}, anything);
  /* eslint-enable @typescript-eslint/no-require-imports */
  const seen = new Set<string>();
  for (const app of [adminApi, editor]) {
    for (const layer of app._router.stack as Array<{ name: string; handle: { length: number }; regexp: RegExp & { fast_slash?: boolean }; route?: { methods: Record<string, boolean> } }>) {
      if (layer.handle.length === 4) continue;
      if (layer.route && !['post', 'put', 'patch', 'delete', '_all'].some((m) => layer.route!.methods[m])) continue;
      if (!layer.route && layer.regexp.fast_slash) {
        assert.ok(PASSING_MIDDLEWARE.includes(layer.name), `root middleware ${layer.name}`);
        continue;
      }
      const segment = /^\/\^\\\/([\w.-]*)/.exec(String(layer.regexp))?.[1];
      assert.ok(segment, String(layer.regexp));
      seen.add(segment);
      assert.ok(NODE_RED_ADMIN_SEGMENTS.includes(segment), `${String(layer.regexp)} answers under /${segment}`);
    }
  }
  // No stale entry: each is still one Node-RED serves.
  assert.deepEqual([...seen].sort(), [...NODE_RED_ADMIN_SEGMENTS].sort());
});
