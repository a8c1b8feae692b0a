/**
 * Device writes answered by the HTTP server itself, ahead of the web
 * framework. On Node-RED every request first walks the admin app's middleware
 * (CORS, passport, body parsers, the login guard) before a node route sees it:
 * for a single-reading POST that chain costs more CPU than decoding,
 * validating and journaling the reading. The input routes authenticate
 * devices themselves and read their own bodies, so none of it applies to them.
 *
 * `installFastPath` puts one dispatcher in front of the server's request
 * listeners: a request the handler takes never reaches them, anything else is
 * passed on unchanged. It is installed once per server and stays (the handler
 * answers 503 while no input is deployed, as the framework routes do).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BadParameterError } from '../errors';
import { refusedForHost } from '../client-errors';

export type FastRoute = 'ingest' | 'insert' | 'influx-v1' | 'influx-v2';

/** A request as the input routes need it, whichever way it arrived. */
export interface RouteRequest {
  raw: IncomingMessage;
  /** Path below the node root, e.g. `/ingest/dev1`. */
  path: string;
  /** The device a route names (`/ingest/{device}`, `/insert/{device}`), decoded. */
  device?: string;
  query: Record<string, string | string[]>;
}

export type FastHandler = (route: FastRoute, req: RouteRequest, res: ServerResponse) => void;

const installed = new WeakMap<Server, { handler?: FastHandler; root: string }>();

/** Requests that sent `Expect: 100-continue` and have not been told to go on yet. */
const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * Tells a client waiting with `Expect: 100-continue` to send its body, when the route is about to read it and
 * its declared size is within `limit`. A request the route answers first (401, 413 for a Content-Length over the
 * limit, 429...) never gets 100 Continue: the client learns the answer without uploading the body for nothing,
 * and Node closes the connection after that answer, as the unsent body cannot be skipped.
 */
export function continueBody(req: IncomingMessage, res: ServerResponse, limit: number): void {
  if (!awaitingContinue.delete(req)) return;
  if (Number(req.headers['content-length']) > limit) return;
  res.writeContinue();
}

/** The route a POST path (below the node root) names, with its device; undefined when none. */
export function matchRoute(path: string): { route: FastRoute; device?: string } | undefined {
  if (path === '/write') return { route: 'influx-v1' };
  if (path === '/api/v2/write') return { route: 'influx-v2' };
  // `/ingest/{device}` or `/insert/{device}`, one segment: read off the string, no pattern match per request.
  const route = path.startsWith('/ingest/') ? 'ingest' : path.startsWith('/insert/') ? 'insert' : undefined;
  if (route === undefined || path.length === 8 || path.indexOf('/', 8) !== -1) return undefined;
  const segment = path.slice(8);
  if (segment.indexOf('%') === -1) return { route, device: segment };
  try {
    return { route, device: decodeURIComponent(segment) };
  } catch {
    return undefined; // left to the framework, which answers a malformed path itself
  }
}

const NO_QUERY: Record<string, string | string[]> = Object.freeze(Object.create(null) as Record<string, string | string[]>);

/** Query string as the framework's simple parser gives it: repeated keys become arrays. Read-only. */
export function parseQuery(search: string): Record<string, string | string[]> {
  if (!search) return NO_QUERY;
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/**
 * The name of the first query parameter whose name or value is not valid
 * percent-encoded UTF-8 (`%FC`, `%G1`, a lone `%`), or undefined when every
 * one is. URLSearchParams and the framework's parser both keep such bytes
 * literally, so a device's `db=%FC` would be taken as the three characters.
 * The name is given decoded where it can be, else as sent (at most 40 characters).
 */
export function malformedQueryParameter(search: string): string | undefined {
  if (search.indexOf('%') === -1) return undefined;
  for (const pair of search.split('&')) {
    if (pair.indexOf('%') === -1) continue;
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    const decodedName = decodes(name);
    if (decodedName === undefined) return name.slice(0, 40);
    if (eq !== -1 && decodes(pair.slice(eq + 1)) === undefined) return decodedName.slice(0, 40);
  }
  return undefined;
}

/**
 * BAD_PARAMETER naming the first query parameter of a request URL (path and
 * query) that is not valid percent-encoding, or undefined when there is none:
 * the one answer of every input route (writes, /fetch, /query) to such a parameter.
 */
export function queryEncodingError(url: string): BadParameterError | undefined {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const bad = malformedQueryParameter(url.slice(q + 1));
  if (bad === undefined) return undefined;
  return new BadParameterError(bad, `the query parameter "${bad}" is not valid percent-encoding: encode its UTF-8 bytes as %XX`);
}

function decodes(part: string): string | undefined {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Serves the input routes under `root` (Node-RED's httpNodeRoot) straight
 * from `server`. Calling it again replaces the handler (a redeploy), never
 * stacks dispatchers.
 */
export function installFastPath(server: Server, root: string, handler: FastHandler): void {
  const prefix = root.endsWith('/') ? root.slice(0, -1) : root;
  const state = installed.get(server);
  if (state) {
    state.handler = handler;
    state.root = prefix;
    return;
  }
  const mine = { handler, root: prefix } as { handler?: FastHandler; root: string };
  installed.set(server, mine);
  const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  // With a checkContinue listener Node leaves 100 Continue to the server: the input routes send it when they
  // read the body (continueBody), everything else gets it at once, as Node would have sent it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    server.emit('request', req, res);
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refusedForHost(req, res)) return;
    if (req.method === 'POST' && mine.handler && req.url) {
      const url = req.url;
      const q = url.indexOf('?');
      let path = q < 0 ? url : url.slice(0, q);
      if (mine.root && path.startsWith(`${mine.root}/`)) path = path.slice(mine.root.length);
      else if (mine.root) path = '';
      const hit = path ? matchRoute(path) : undefined;
      if (hit) {
        const r: RouteRequest = { raw: req, path, query: parseQuery(q < 0 ? '' : url.slice(q + 1)) };
        if (hit.device !== undefined) r.device = hit.device;
        mine.handler(hit.route, r, res);
        return;
      }
    }
    if (awaitingContinue.delete(req)) res.writeContinue();
    for (const l of listeners) l.call(server, req, res);
  });
}

export interface FastPathSettings {
  httpNodeRoot?: string | false;
  httpNodeAuth?: unknown;
  httpNodeMiddleware?: unknown;
  httpNodeCors?: unknown;
  upperstack?: { httpFastPath?: boolean };
}

/**
 * The write routes skip the web framework
 * unless the settings put something in front of node routes that must apply
 * to them too, or turn it off (`upperstack.httpFastPath: false`, e.g. when the
 * runtime is embedded in an app with its own middleware on the same server).
 */
export function fastPathAllowed(s: FastPathSettings): boolean {
  if (s.upperstack?.httpFastPath === false || s.httpNodeRoot === false) return false;
  const empty = (v: unknown) => v === undefined || v === null || v === false || (Array.isArray(v) && v.length === 0);
  return empty(s.httpNodeAuth) && empty(s.httpNodeMiddleware) && empty(s.httpNodeCors);
}
