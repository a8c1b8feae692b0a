/**
 * Device writes answered by the HTTP server itself, ahead of the web
 * framework. On Node-RED every request first walks the admin app's middleware
 * (CORS, passport, body parsers, the login guard) before a node route sees it:
 * for a single-reading POST that chain costs more CPU than decoding,
 * validating and journaling the reading. The input routes authenticate
 * devices themselves and read their own bodies, so none of it applies to them.
 *
 * `installInputFront` puts one dispatcher in front of the server's request
 * listeners: a request the handler takes never reaches them, anything else is
 * passed on unchanged. It is installed once per server and stays (the handler
 * answers 503 while no input is deployed, as the framework routes do). Where
 * the framework serves the routes (middleware in front of node routes) it
 * stays in front for the answers due before any middleware (411, 413 in
 * place of 100 Continue).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BadParameterError, PayloadTooLargeError, type UpperstackError } from '../errors';
import { LengthRequiredError } from './errors';
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

const installed = new WeakMap<Server, { front: InputFront; root: string }>();

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
 * What the server-level dispatcher of the input routes needs from the http in node.
 * - `serve`: takes a write request straight from the server (the fast path); absent while the framework's
 *   routes serve them (settings that put middleware in front of node routes).
 * - `serves(route)`: whether a deployed input serves `route` now; while none does (not deployed, or the route
 *   turned off) the route's own answer (503, 404) is left to it. `limit(route)`: that input's body limit.
 * - `refuse(route, res, status, err)`: answers a request refused on its headers alone (411, 413) in the
 *   route's shape, and closes the connection (what follows the headers cannot be read as a next request).
 */
export interface InputFront {
  serve?: FastHandler;
  serves(route: FastRoute): boolean;
  limit(route: FastRoute): number;
  refuse(route: FastRoute, res: ServerResponse, status: number, err: UpperstackError): void;
}

/**
 * Puts one dispatcher for the write routes under `root` (Node-RED's httpNodeRoot) in front of `server`'s
 * request listeners. Whichever way the routes are served, it answers at once, before any middleware:
 * - a POST without Content-Length or Transfer-Encoding: 411. Such a request has no body, so the bytes an old
 *   HTTP/1.0 stack sends after its headers would be taken as an empty body or fail as a next request; the
 *   answer is written before the HTTP parser reaches them.
 * - with `Expect: 100-continue`, a Content-Length over the limit: 413 instead of `100 Continue`, so the client
 *   never uploads it. With `serve`, the route sends `100 Continue` itself once it reads the body
 *   (continueBody: a refused login is answered before it too); without, it goes out at once, as Node sends it,
 *   since middleware of the framework or of an embedding application may read the body first.
 * Every other request gets `100 Continue` at once, as Node would have sent it, and goes on unchanged.
 * Calling it again replaces `front` (a redeploy), never stacks dispatchers.
 */
export function installInputFront(server: Server, root: string, front: InputFront): void {
  const prefix = root.endsWith('/') ? root.slice(0, -1) : root;
  const state = installed.get(server);
  if (state) {
    state.front = front;
    state.root = prefix;
    return;
  }
  const mine = { front, root: prefix };
  installed.set(server, mine);
  const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  // With a checkContinue listener Node leaves 100 Continue to the server.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.add(req);
    server.emit('request', req, res);
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refusedForHost(req, res)) return;
    if (req.method === 'POST' && req.url) {
      const url = req.url;
      const q = url.indexOf('?');
      const whole = q < 0 ? url : url.slice(0, q);
      let path = whole;
      if (mine.root && path.startsWith(`${mine.root}/`)) path = path.slice(mine.root.length);
      else if (mine.root) path = '';
      const hit = path ? matchRoute(path) : undefined;
      if (hit) {
        if (refusedOnHeaders(mine.front, hit.route, whole, req, res)) return;
        const serve = mine.front.serve;
        if (serve) {
          const r: RouteRequest = { raw: req, path, query: parseQuery(q < 0 ? '' : url.slice(q + 1)) };
          if (hit.device !== undefined) r.device = hit.device;
          serve(hit.route, r, res);
          return;
        }
      }
    }
    if (awaitingContinue.delete(req)) res.writeContinue();
    for (const l of listeners) l.call(server, req, res);
  });
}

/** Answers (411, 413 instead of 100 Continue) and returns true when a write request to `path` is refused on its headers. */
function refusedOnHeaders(front: InputFront, route: FastRoute, path: string, req: IncomingMessage, res: ServerResponse): boolean {
  if (!front.serves(route)) return false;
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    awaitingContinue.delete(req);
    front.refuse(route, res, 411, new LengthRequiredError(path));
    return true;
  }
  if (!awaitingContinue.has(req)) return false;
  const declared = Number(req.headers['content-length']);
  const limit = front.limit(route);
  if (declared > limit) {
    awaitingContinue.delete(req);
    front.refuse(route, res, 413, new PayloadTooLargeError(declared, limit));
    return true;
  }
  return false;
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
