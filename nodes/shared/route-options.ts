/**
 * OPTIONS on a route a node serves answered 204 with `Allow`, from the route tables registered for the node
 * app (route-registry.ts: the HTTP input's while an http in node runs, the query API's as its routes are
 * registered): the same list a 405 on the route gives.
 *
 * Node-RED's admin app answers every OPTIONS 204 with its own CORS headers and no `Allow` when the editor
 * and the node routes share a root (Upperstack's settings put both at `/`), and `httpNodeCors` answers
 * every OPTIONS on the node routes alike: both come before any route of a node. So this goes first in the
 * runtime's server app. A CORS preflight (Origin and Access-Control-Request-Method) goes on to the CORS
 * handler that answered it before, with `Allow` added; the browser reads only the CORS headers.
 */
import type { NodeAPI } from 'node-red';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { topApp } from './http';
import { allowAt } from './route-registry';
import { answersNoPathOfItsOwn, pathIn, type RoutedApp } from './served-path';

interface Stacked {
  _router?: { stack?: unknown };
  use(fn: RequestHandler): unknown;
}

/** The runtime apps this answers OPTIONS on already. */
const installed = new WeakSet<object>();

/** `fn` as the first middleware of `app` after Express's own (left last where the app's table cannot be read). */
function useFirst(app: Stacked, fn: RequestHandler): void {
  app.use(fn);
  const stack = app._router?.stack;
  if (!Array.isArray(stack)) return;
  const layer: unknown = stack.pop();
  // After Express's decoration of the request, which whatever goes first still needs.
  const init = stack.findIndex((l) => (l as { name?: unknown }).name === 'expressInit');
  stack.splice(init + 1, 0, layer);
}

/**
 * Answers OPTIONS on the routes registered for the node app, once per runtime; called by whatever registers a
 * table, so it is in place whichever comes first (and once the node app is mounted, if it was not yet).
 */
export function answerRouteOptions(RED: NodeAPI): void {
  const top = topApp(RED);
  if (!top || installed.has(top)) return;
  installed.add(top);
  // Marked: it answers only OPTIONS, so a path no route serves is still told 404 for its other methods.
  const options: RequestHandler = answersNoPathOfItsOwn((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'OPTIONS') return next();
    const url = req.originalUrl ?? req.url;
    const q = url.indexOf('?');
    // The node app of now: an embedding may hand the runtime a new one, whose tables are its own.
    const node = RED.httpNode as unknown as RoutedApp | undefined;
    const path = node && pathIn(node, top as unknown as RoutedApp, q < 0 ? url : url.slice(0, q));
    const allow = node && typeof path === 'string' ? allowAt(node, path) : undefined;
    if (!allow) return next();
    res.setHeader('Allow', allow.join(', '));
    if (req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined) return next();
    req.resume();
    res.statusCode = 204;
    res.end();
  });
  useFirst(top as unknown as Stacked, options);
}
