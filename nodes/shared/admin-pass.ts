/**
 * With the editor and the node routes on one root (Upperstack's settings put
 * both at `/`), Node-RED mounts its admin app first, so every request to a
 * node route walks the whole admin app before it reaches its route: the admin
 * body parsers, passport, and the editor's static files, which look the path up
 * on disk. That is about half a millisecond of CPU a request (docs/performance.md,
 * "The HTTP API's requests and Node-RED's admin app"), spent on every query,
 * health check and scrape, for nothing: none of those paths is the editor's.
 *
 * `nodeRoutesPassAdmin()` goes first in `httpAdminMiddleware`: a request to one
 * of Upperstack's node routes leaves the admin app at once and goes on to the
 * node routes, with whatever the settings put in front of those (httpNodeAuth,
 * httpNodeCors, httpNodeMiddleware) still applied. Every other path, the
 * editor's and the admin API's included, goes through the admin app as before.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { answersNoPathOfItsOwn } from './served-path';

/** Paths under the node root that only Upperstack's node routes serve: prefixes end with '/'. */
export const NODE_ROUTE_PATHS: readonly string[] = [
  'api/v1/',
  'api/v2/',
  'insert/',
  'ingest/',
  'fetch/',
  // Without a device: answered by the JSON 404 that names the device path, not by the admin app's body parser.
  'insert',
  'ingest',
  'fetch',
  'write',
  'query',
  'ping',
  'metrics',
  'health',
];

/** Whether `path` (no query string) is one of `paths` under `root`. */
export function isNodeRoutePath(path: string, root: string, paths: readonly string[] = NODE_ROUTE_PATHS): boolean {
  const base = root.endsWith('/') ? root : `${root}/`;
  if (!path.startsWith(base)) return false;
  const rest = path.slice(base.length);
  for (const p of paths) {
    if (p.endsWith('/') ? rest.startsWith(p) : rest === p) return true;
  }
  return false;
}

/** For `httpAdminMiddleware`, first: Upperstack's node routes skip the rest of the admin app. */
export function nodeRoutesPassAdmin(nodeRoot = '/'): RequestHandler {
  return answersNoPathOfItsOwn((req: Request, _res: Response, next: NextFunction) => {
    const url = req.originalUrl ?? req.url;
    const q = url.indexOf('?');
    // 'router' leaves the admin app's router; the top-level app goes on to the node app.
    next(isNodeRoutePath(q < 0 ? url : url.slice(0, q), nodeRoot) ? 'router' : undefined);
  });
}
