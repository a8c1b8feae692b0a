/**
 * The routes of the HTTP input and the methods each answers, for a request that used another one: it is told
 * the route is there and which methods it takes (405 with `Allow`), not that nothing is served, and for one to
 * a route that names a device without it (`/ingest`): the 404 says the device goes in the path. Only requests
 * no route answered ask this, so a successful POST never does.
 *
 * `Allow` lists OPTIONS too (RFC 9110 §10.2.1: the methods the resource supports), as every route answers
 * it, 204 with this same `Allow` (nodes/shared/route-options.ts); a CORS preflight is CORS's to answer
 * (`httpNodeCors`, or Node-RED's admin CORS handler in front of the node routes when both are at `/`).
 */
import { MethodNotAllowedError } from '../errors';
import type { InputRoute } from './request';

interface RouteMethods {
  /** The path within the node app (Express's default matching: any case, one trailing slash). */
  pattern: RegExp;
  shown: string;
  /** What `Allow` lists: the methods a route answers (Express answers HEAD with a GET route), OPTIONS last. */
  allow: readonly string[];
  /** The setting of the input that turns the route on (see servesRoute). */
  route: InputRoute;
  hint: string;
}

const SEND = 'send readings with POST';
const ROUTES: readonly RouteMethods[] = [
  { pattern: /^\/ingest\/[^/]+\/?$/i, shown: '/ingest/{device}', allow: ['POST', 'OPTIONS'], route: 'ingest', hint: SEND },
  { pattern: /^\/insert\/[^/]+\/?$/i, shown: '/insert/{device}', allow: ['POST', 'OPTIONS'], route: 'insert', hint: SEND },
  { pattern: /^\/fetch\/[^/]+\/?$/i, shown: '/fetch/{device}', allow: ['GET', 'HEAD', 'OPTIONS'], route: 'insert', hint: 'read readings back with GET' },
  { pattern: /^\/write\/?$/i, shown: '/write', allow: ['POST', 'OPTIONS'], route: 'influx-v1', hint: 'write line protocol with POST' },
  { pattern: /^\/api\/v2\/write\/?$/i, shown: '/api/v2/write', allow: ['POST', 'OPTIONS'], route: 'influx-v2', hint: 'write line protocol with POST' },
  { pattern: /^\/query\/?$/i, shown: '/query', allow: ['GET', 'HEAD', 'POST', 'OPTIONS'], route: 'influx-v1', hint: 'send SHOW DATABASES with GET or POST, CREATE DATABASE with POST' },
  { pattern: /^\/ping\/?$/i, shown: '/ping', allow: ['GET', 'HEAD', 'OPTIONS'], route: 'influx-v1', hint: 'check the server with GET or HEAD' },
];

/** The route of the input at `path` (as the node app sees it) and the methods it takes; undefined when it is none. */
export function routeAt(path: string): { route: InputRoute; allow: readonly string[] } | undefined {
  const r = ROUTES.find((x) => x.pattern.test(path));
  return r && { route: r.route, allow: r.allow };
}

/**
 * The refusal of `method` on `path` (as the node app sees it) when the path is a route of the input that
 * takes other methods; undefined when it is not one, or takes this method.
 */
export function wrongMethod(method: string, path: string): { route: InputRoute; error: MethodNotAllowedError } | undefined {
  const m = method.toUpperCase();
  const r = ROUTES.find((x) => x.pattern.test(path));
  if (!r || r.allow.includes(m)) return undefined;
  const shownMethod = /^[A-Z-]{1,20}$/.test(m) ? m : 'this method';
  return { route: r.route, error: new MethodNotAllowedError(`${shownMethod} is not accepted on ${r.shown}: ${r.hint}`, [...r.allow]) };
}

const DEVICE = '/{device}';
/** The routes that name the device in the path, by their first segment, with the method a request to them uses. */
const DEVICE_ROUTES = new Map(ROUTES.filter((r) => r.shown.endsWith(DEVICE)).map((r) => [r.shown.slice(1, -DEVICE.length), r.allow[0]]));
/** Such a route without its device, under whatever the path starts with (the node root). */
const BARE_DEVICE_ROUTE = new RegExp(`^(.*\\/(${[...DEVICE_ROUTES.keys()].join('|')}))\\/?$`);

/** For the 404 of a path (as the runtime's app sees it) that is a device route without the device: how to name it; else ''. */
export function devicePathHint(path: string): string {
  const m = BARE_DEVICE_ROUTE.exec(path);
  if (!m) return '';
  const route = `${DEVICE_ROUTES.get(m[2]!)} ${m[1]!}`;
  return `: ${route}/{device} names the device in the path, e.g. ${route}/sensor-1`;
}
