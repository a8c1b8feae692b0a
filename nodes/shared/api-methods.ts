/**
 * The query API's routes (`/api/v1/...`, `/health`, `/metrics`) and the methods each takes, read from the node
 * app's own route table where they are registered: a route added to the API is listed with no second list to
 * keep. That reading is the API's table in the route registry (route-registry.ts): OPTIONS on one of them is
 * answered 204 with `Allow` (route-options.ts), and a method it does not take 405 with the same `Allow` and the
 * API's JSON error (http.ts), where both were told as if the route were not there.
 */
import type { NodeAPI } from 'node-red';
import { MethodNotAllowedError } from '../lib/errors';
import { answerRouteOptions } from './route-options';
import { registerRoutes, type RouteTable } from './route-registry';

/** The paths the query API registers its routes under, as the node app sees them. */
const API_PATH = /^\/(?:api\/v1\/|health$|metrics$)/;
/** The order `Allow` lists methods in. */
const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

interface RouteLayer {
  regexp?: unknown;
  route?: { path?: unknown; methods?: Record<string, boolean | undefined> };
}

/** The methods the API's routes at `path` take (Express answers HEAD with a GET route), OPTIONS last; undefined when none is there. */
export function apiMethodsAt(stack: unknown, path: string): string[] | undefined {
  if (!Array.isArray(stack)) return undefined;
  const methods = new Set<string>();
  for (const layer of stack as RouteLayer[]) {
    const route = layer.route;
    if (!route || typeof route.path !== 'string' || !API_PATH.test(route.path) || !(layer.regexp instanceof RegExp)) continue;
    if (!layer.regexp.test(path)) continue;
    for (const [m, on] of Object.entries(route.methods ?? {})) if (on && m !== '_all') methods.add(m.toUpperCase());
  }
  if (methods.size === 0) return undefined;
  if (methods.has('GET')) methods.add('HEAD');
  methods.add('OPTIONS');
  return [...methods].sort((a, b) => rank(a) - rank(b));
}

const rank = (m: string): number => (ORDER.includes(m) ? ORDER.indexOf(m) : ORDER.length);

// One owner whichever copy of this module registers: the API's table is registered once per app.
const API_ROUTES = Symbol.for('upperstack.queryApiRoutes');

/** The API's routes on `node` (RED.httpNode), read from its route table at each request: routes are added as their nodes start. */
function apiTable(node: { _router?: { stack?: unknown } }): RouteTable {
  const allowOf = (path: string) => apiMethodsAt(node._router?.stack, path);
  return {
    allowOf,
    refuse(method, path) {
      const allow = allowOf(path);
      const m = method.toUpperCase();
      if (!allow || allow.includes(m)) return undefined;
      const shown = /^[A-Z-]{1,20}$/.test(m) ? m : 'this method';
      return { error: new MethodNotAllowedError(`${shown} is not accepted on ${path}: it takes ${allow.join(', ')}`, allow) };
    },
  };
}

const registered = new WeakSet<object>();

/**
 * Answers OPTIONS and wrong methods on the API's routes of this runtime; called where the routes are
 * registered. Never released: Express keeps a route for the life of its app, and it answers until then (one
 * that reads the store 503 while no api node is deployed).
 */
export function answerApiMethods(RED: NodeAPI): void {
  const node = RED.httpNode as unknown as { _router?: { stack?: unknown } } | undefined;
  if (!node) return;
  if (!registered.has(node)) {
    registered.add(node);
    registerRoutes(node, API_ROUTES, apiTable(node));
  }
  // Every time: the node app may have been mounted on the server's app since.
  answerRouteOptions(RED);
}
