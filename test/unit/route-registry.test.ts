/**
 * The route registry both OPTIONS (204 with `Allow`) and the 405 of a wrong method ask: the tables of the
 * nodes sharing one node app are all asked and never replace each other, an owner registering again is asked
 * once, and a node's release at its close removes its own table only, leaving a successor's in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MethodNotAllowedError } from '../../nodes/lib/errors';
import { allowAt, refusalAt, registerRoutes, type RouteTable } from '../../nodes/shared/route-registry';

/** A table with one route, `path`, taking `methods`. */
function table(path: string, methods: string[]): RouteTable {
  const allow = [...methods, 'OPTIONS'];
  return {
    allowOf: (p) => (p === path ? allow : undefined),
    refuse: (m, p) => (p === path && !allow.includes(m) ? { error: new MethodNotAllowedError(`${m} is not accepted on ${p}`, allow) } : undefined),
  };
}

test('the tables of two owners on one node app are both asked, neither replacing the other', () => {
  const app = {};
  registerRoutes(app, { id: 'input' }, table('/write', ['POST']));
  registerRoutes(app, { id: 'api' }, table('/health', ['GET', 'HEAD']));
  assert.deepEqual(allowAt(app, '/write'), ['POST', 'OPTIONS']);
  assert.deepEqual(allowAt(app, '/health'), ['GET', 'HEAD', 'OPTIONS']);
  assert.deepEqual(refusalAt(app, 'PUT', '/health')?.error.details.allow, ['GET', 'HEAD', 'OPTIONS']);
  assert.equal(refusalAt(app, 'GET', '/health'), undefined);
  assert.equal(allowAt(app, '/elsewhere'), undefined);
  // Another node app (another runtime) has tables of its own.
  assert.equal(allowAt({}, '/write'), undefined);
});

test('an owner registering again (a redeploy) is asked once, with its new table', () => {
  const app = {};
  const owner = {};
  let asked = 0;
  const counted = (t: RouteTable): RouteTable => ({ allowOf: (p) => (asked++, t.allowOf(p)), refuse: (m, p) => t.refuse(m, p) });
  registerRoutes(app, owner, counted(table('/query', ['GET'])));
  registerRoutes(app, owner, counted(table('/query', ['GET', 'POST'])));
  assert.deepEqual(allowAt(app, '/query'), ['GET', 'POST', 'OPTIONS']);
  assert.equal(asked, 1);
});

test('a release removes that registration only: the other owners stay, and a table registered since stays', () => {
  const app = {};
  const older = {};
  const newer = {};
  const releaseOlder = registerRoutes(app, older, table('/ping', ['GET']));
  const releaseNewer = registerRoutes(app, newer, table('/ping', ['GET', 'HEAD']));
  releaseNewer();
  assert.deepEqual(allowAt(app, '/ping'), ['GET', 'OPTIONS'], 'the older node answers again');
  // The same owner registered anew before the release of its first registration ran.
  registerRoutes(app, older, table('/ping', ['HEAD']));
  releaseOlder();
  assert.deepEqual(allowAt(app, '/ping'), ['HEAD', 'OPTIONS']);
  assert.equal(refusalAt(app, 'GET', '/ping')?.error.code, 'METHOD_NOT_ALLOWED');
});

test('with every owner released, the paths are served by no table: no Allow, no 405', () => {
  const app = {};
  const releases = [registerRoutes(app, {}, table('/write', ['POST'])), registerRoutes(app, {}, table('/write', ['POST']))];
  for (const release of releases) release();
  assert.equal(allowAt(app, '/write'), undefined);
  assert.equal(refusalAt(app, 'GET', '/write'), undefined);
});
