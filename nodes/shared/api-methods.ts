/**
 * The query API's routes (`/api/v1/...`, `/health`, `/metrics`) and the methods each takes, read from the node
 * app's own route table where they are registered: a route added to the API is listed with no second list to
 * keep. OPTIONS on one is answered 204 with `Allow` (route-options.ts), and a method it does not take 405 with
 * the same `Allow` and the API's JSON error, where both were told as if the route were not there.
 */
import type { NodeAPI } from 'node-red';
import { MethodNotAllowedError } from '../lib/errors';
import { answerWrongMethods } from './http';
import { answerRouteOptions } from './route-options';

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

const answered = new WeakSet<object>();

/** Answers OPTIONS and wrong methods on the API's routes of this runtime, once; called where the routes are registered. */
export function answerApiMethods(RED: NodeAPI): void {
  const node = RED.httpNode as unknown as { _router?: { stack?: unknown } } | undefined;
  if (!node || answered.has(node)) return;
  answered.add(node);
  // Read at each request: routes are registered as their nodes start, after this.
  const allowOf = (path: string) => apiMethodsAt(node._router?.stack, path);
  answerRouteOptions(RED, allowOf);
  answerWrongMethods(node, (method, path) => {
    const allow = allowOf(path);
    const m = method.toUpperCase();
    if (!allow || allow.includes(m)) return undefined;
    const shown = /^[A-Z-]{1,20}$/.test(m) ? m : 'this method';
    return { error: new MethodNotAllowedError(`${shown} is not accepted on ${path}: it takes ${allow.join(', ')}`, allow) };
  });
}
