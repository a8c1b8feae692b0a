/**
 * OPTIONS on a route of the HTTP input answered 204 with `Allow` from the input's route table
 * (lib/inputs/methods.ts), and on a route of the query API from its routes as registered (api-methods.ts):
 * the same list a 405 on the route gives.
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
import { answersNoPathOfItsOwn, pathIn, type RoutedApp } from './served-path';

/** The methods the route at `path` (as the node app sees it) takes, OPTIONS included; undefined when it is not one served. */
export type AllowOf = (path: string) => readonly string[] | undefined;

interface Stacked {
  _router?: { stack?: unknown };
  use(fn: RequestHandler): unknown;
}

/** Per runtime app: the tables asked, in the order given (the HTTP input's, the query API's). */
const sources = new WeakMap<object, AllowOf[]>();


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
 * Answers OPTIONS on the routes `allowOf` knows. One middleware per runtime asks every table given, the first
 * that knows the path answering; a table given again is asked once.
 */
export function answerRouteOptions(RED: NodeAPI, allowOf: AllowOf): void {
  const top = topApp(RED);
  if (!top) return;
  const known = sources.get(top);
  if (known) {
    if (!known.includes(allowOf)) known.push(allowOf);
    return;
  }
  const tables: AllowOf[] = [allowOf];
  sources.set(top, tables);
  // Marked: it answers only OPTIONS, so a path no route serves is still told 404 for its other methods.
  const options: RequestHandler = answersNoPathOfItsOwn((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'OPTIONS') return next();
    const url = req.originalUrl ?? req.url;
    const q = url.indexOf('?');
    // The node app of now: an embedding may hand the runtime a new one.
    const node = RED.httpNode as unknown as RoutedApp | undefined;
    const path = node && pathIn(node, top as unknown as RoutedApp, q < 0 ? url : url.slice(0, q));
    let allow: readonly string[] | undefined;
    if (typeof path === 'string') for (const of of tables) if ((allow = of(path))) break;
    if (!allow) return next();
    res.setHeader('Allow', allow.join(', '));
    if (req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined) return next();
    req.resume();
    res.statusCode = 204;
    res.end();
  });
  useFirst(top as unknown as Stacked, options);
}
