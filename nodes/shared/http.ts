/**
 * HTTP glue every Upperstack route uses, so that each answers errors the same
 * way: `{"error":{"code","message",...}}` as JSON, never Express's HTML page.
 *
 * - `sendError` / `sendFailure`: answer an error.
 * - `requireApiKey(RED, need)`: the API-key check of the HTTP API (Bearer token,
 *   admin scope unless the route asks only for `read`); `accessOf(req)` is the caller.
 * - `jsonBody(limit)`: read a JSON body with a size limit (415, 413, 400 as JSON;
 *   400 also for a number JSON cannot keep, such as 1e309).
 * - `readsOwnBody(path)` / `adminParserBypass()`: keep Node-RED's admin body
 *   parser (5 MB, every JSON or form body on the server) off a route's body.
 * - `installJsonErrors(RED)`: a JSON 404 and error handler at the end of the
 *   runtime's Express app, for everything no route answered (unknown paths,
 *   body-parser failures of Node-RED's own admin parser, bugs); a body that
 *   does not parse, sent to a path nothing serves, gets the 404 (served-path.ts).
 * - A request no route answered, on a path a node serves with other methods (the
 *   route tables of route-registry.ts), gets that node's 405 instead of the 404.
 */
import type { NodeAPI } from 'node-red';
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import bodyParser from 'body-parser';
import { bearerMatches } from '../lib/security/apikey';
import { looksLikeStoredKey } from '../lib/security/keys';
import { FailureThrottle } from '../lib/security/throttle';
import { ADMIN, isAdmin, readsSome, type Access } from '../lib/security/scopes';
import { auditOf, keyStore } from './keys';
import { codeForStatus, errorBody, httpErrorOf, HTTP_CODES } from '../lib/api/http-errors';
import { nonFiniteBodyError, nonFiniteNumber } from '../lib/schema/finite';
import { upperstackSettings } from './runtime';
import { prepareServer } from './server-setup';
import { answersNoPathOfItsOwn, pathIn, servedPath, type RoutedApp } from './served-path';
import { devicePathHint } from '../lib/inputs/methods';
import { refusalAt, type WrongMethodAnswer } from './route-registry';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Answers an error; `details` (parameter, limit...) join code and message in the error object. */
export function sendError(res: Response, status: number, code: string, message: string, details?: Record<string, unknown>): void {
  if (res.headersSent) {
    // Half a response cannot be turned into an error; cut it so the client sees it broke.
    res.destroy();
    return;
  }
  res.status(status).type(JSON_CONTENT_TYPE).send(errorBody(code, message, details));
}

/** Answers whatever was thrown; internal failures are logged and get a generic message. */
export function sendFailure(res: Response, err: unknown, log?: (text: string) => void): void {
  const e = httpErrorOf(err);
  if (e.internal && log) log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  sendError(res, e.status, e.code, e.message, e.details);
}

/** The key the deployed upperstack-api node set (its credential), if any. */
let deployedKey: { owner: object; key: string } | undefined;

/** Called by the upperstack-api node: its key (credential or settings) is the one in force while it runs. */
export function useApiKey(owner: object, key: string): () => void {
  deployedKey = { owner, key };
  return () => {
    if (deployedKey?.owner === owner) deployedKey = undefined;
  };
}

/** The API key requests must carry: the deployed API node's, else the runtime's setting. */
export function apiKeyInForce(RED: NodeAPI): string {
  return deployedKey?.key || upperstackSettings(RED).apiKey || process.env.UPPERSTACK_API_KEY || '';
}

/** Wrong secrets of stored keys per source address (20 a minute, then 429 until the minute is over). */
const keyFailures = new FailureThrottle();

/** What a route needs of the caller's key: the admin scope (the default), or some read scope. */
export type KeyNeed = 'admin' | 'read';

type AccessRequest = Request & { upperstackAccess?: Access; upperstackActor?: string };

/**
 * Who a request is, from its `Authorization: Bearer <key>`: the key of the
 * settings (or of the deployed API node) is an admin key; a key made through
 * /api/v1/keys has its own scopes. Undefined: no valid key.
 */
export async function authenticateApi(RED: NodeAPI, authorization: string | undefined): Promise<Access | undefined> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const key = apiKeyInForce(RED);
  if (key && bearerMatches(authorization, key)) return { actor: 'admin', scopes: [ADMIN] };
  if (!looksLikeStoredKey(m[1])) return undefined;
  const found = await keyStore()?.verify(m[1]);
  return found ? { actor: `key:${found.id}`, scopes: found.scopes } : undefined;
}

/** The caller a `requireApiKey` check let through (no scopes at all when none ran). */
export function accessOf(req: Request): Access {
  return (req as AccessRequest).upperstackAccess ?? { actor: 'anonymous', scopes: [] };
}

/**
 * Middleware: lets a request through only with `Authorization: Bearer <key>`
 * whose scopes meet `need` (admin unless the route says `read`); 401 JSON for
 * no or a wrong key, 403 JSON for a key without the scope, 429 after 20 wrong
 * secrets of stored keys a minute from one address. The caller is then
 * `accessOf(req)` (and `req.upperstackActor` for the audit log).
 */
export function requireApiKey(RED: NodeAPI, need: KeyNeed = 'admin'): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const route = `${req.method} ${req.baseUrl}${req.path}`.slice(0, 200);
    const remote = req.socket.remoteAddress;
    const check = async (): Promise<{ access?: Access; blocked: number }> => {
      const blocked = await keyFailures.blockedMs(remote);
      return blocked > 0 ? { blocked } : { access: await authenticateApi(RED, req.headers.authorization), blocked: 0 };
    };
    check().then(
      ({ access, blocked }) => {
        if (blocked > 0) {
          req.resume();
          res.setHeader('Retry-After', String(Math.ceil(blocked / 1000)));
          auditOf(RED).refusal({ actor: 'anonymous', action: 'auth.throttled', via: 'api', target: route, remote, outcome: 'denied', reason: HTTP_CODES.tooManyRequests });
          return sendError(res, 429, HTTP_CODES.tooManyRequests, `too many wrong API keys from this address; retry in ${Math.ceil(blocked / 1000)} s`);
        }
        if (!access) {
          // Drained, so a kept-alive connection can carry the client's next request.
          req.resume();
          res.setHeader('WWW-Authenticate', 'Bearer');
          if (!apiKeyInForce(RED) && !keyStore()) return sendError(res, 401, HTTP_CODES.unauthorized, 'no API key is configured: set UPPERSTACK_API_KEY');
          if (req.headers.authorization) {
            // Only wrong secrets of real key ids count: those cost a scrypt each (a stale or revoked key costs nothing).
            const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization)?.[1] ?? '';
            if (keyStore()?.namesLiveKey(token)) void keyFailures.failed(remote);
            auditOf(RED).refusal({ actor: 'anonymous', action: 'auth.failed', via: 'api', target: route, remote, outcome: 'denied', reason: HTTP_CODES.unauthorized });
          }
          return sendError(res, 401, HTTP_CODES.unauthorized, 'a valid API key is required: send "Authorization: Bearer <key>"');
        }
        const allowed = need === 'admin' ? isAdmin(access.scopes) : readsSome(access.scopes);
        if (!allowed) {
          req.resume();
          auditOf(RED).refusal({ actor: access.actor, action: 'acl.denied', via: 'api', target: route, remote, outcome: 'denied', reason: HTTP_CODES.forbidden });
          const wanted = need === 'admin' ? 'the admin scope' : 'a read scope (read or read:tag=<name>:<value>)';
          return sendError(res, 403, HTTP_CODES.forbidden, `this API key (scopes ${access.scopes.join(', ')}) may not use ${route}: it needs ${wanted}`, { scopes: [...access.scopes] });
        }
        const r = req as AccessRequest;
        r.upperstackAccess = access;
        r.upperstackActor = access.actor;
        next();
      },
      (err: unknown) => sendFailure(res, err, (text) => RED.log.error(text)),
    );
  };
}

/** What a route answers for a number its body holds that JSON cannot keep; it names where (a JSON pointer). */
export type NonFiniteAnswer = (found: { pointer: string; value: number }) => Error;

/**
 * Middleware: a JSON body of at most `limit` bytes becomes `req.body`. No body
 * (unless `optional`) or another content type, a larger body and malformed
 * JSON are answered 400, 415, 413 and 400 (JSON errors) before the route runs. A body Node-RED's
 * admin parser already read (other runtimes parse every JSON body up to
 * `apiMaxLength`) is taken as it is.
 *
 * A number beyond ±1.7e308 (JSON.parse reads 1e309 as Infinity) is answered
 * 400 too, naming its JSON pointer: kept, it would turn into the text
 * "Infinity", or into null at the next JSON save. The answer is BAD_PARAMETER
 * (`parameter` the body's top-level member, `pointer`) unless the route gives
 * its own (`nonFinite`, e.g. RULE_INVALID for rules).
 */
export function jsonBody(limit: number, opts: { optional?: boolean; nonFinite?: NonFiniteAnswer } = {}): RequestHandler {
  // strict: false, so `null` or `3` reach the route, which names what it wants instead.
  const parse = bodyParser.json({ limit, strict: false, type: () => true });
  return (req: Request, res: Response, next: NextFunction) => {
    ownBody(req);
    const length = req.headers['content-length'];
    const empty = req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0);
    const type = empty ? null : req.is(['application/json', '+json']);
    // A route whose body is optional (filters that may all be in the query string) takes none as none.
    if (type === null && opts.optional) return next();
    if (type === null) {
      return sendError(res, 400, HTTP_CODES.malformedBody, 'the request needs a JSON body (Content-Type: application/json)');
    }
    if (type === false) {
      req.resume();
      const got = String(req.headers['content-type'] ?? '').slice(0, 60);
      return sendError(res, 415, HTTP_CODES.unsupportedMediaType, `the body must be JSON (Content-Type: application/json), got ${JSON.stringify(got)}`);
    }
    // Answered here rather than by the runtime's error handler, so the route is JSON wherever it is mounted.
    // Also when another parser already read it: the route's limit holds in every runtime.
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      return sendError(res, 413, HTTP_CODES.payloadTooLarge, `the body is larger than the limit of ${limit} bytes`, { limit, size: declared });
    }
    parse(req, res, (err?: unknown) => {
      if (err) return sendFailure(res, err);
      // A stack walk, no recursion: the body is as deep as its sender made it (within `limit`).
      const body = (req as { body?: unknown }).body;
      const huge = nonFiniteNumber(body);
      if (huge) return sendFailure(res, opts.nonFinite ? opts.nonFinite(huge) : nonFiniteBodyError(huge, body));
      next();
    });
  };
}

// Shared through the global symbol registry: the settings file and the nodes may load separate copies of this module.
const OWN_BODY_ROUTES = Symbol.for('upperstack.ownBodyRoutes');
type BodyReq = IncomingMessage & { _body?: boolean; upperstackOwnBody?: boolean };

function ownBodyRoutes(): Array<string | RegExp> {
  const g = globalThis as unknown as Record<symbol, Array<string | RegExp> | undefined>;
  return (g[OWN_BODY_ROUTES] ??= []);
}

/**
 * Declares that the route at `path` (exact, or a RegExp over the path) reads
 * its own request body, with its own limit and content types. With
 * `adminParserBypass()` in `httpAdminMiddleware` (Upperstack's settings do
 * this), Node-RED's admin parser leaves such bodies unread.
 */
export function readsOwnBody(path: string | RegExp): void {
  const routes = ownBodyRoutes();
  if (!routes.some((r) => String(r) === String(path))) routes.push(path);
}

/**
 * For `httpAdminMiddleware`: Node-RED's admin app parses every JSON and form
 * body on the server (up to `apiMaxLength`, 5 MB) before any node route runs,
 * whatever that route's own limit. This marks the bodies of routes declared
 * with `readsOwnBody` as read, so the admin parser skips them, and tells the
 * route's own reader to read them after all.
 */
export function adminParserBypass(): RequestHandler {
  return answersNoPathOfItsOwn((req: Request, _res: Response, next: NextFunction) => {
    const routes = ownBodyRoutes();
    if (routes.length && req.method !== 'GET' && req.method !== 'HEAD') {
      const path = (req.originalUrl ?? req.url).split('?')[0];
      if (routes.some((r) => (typeof r === 'string' ? r === path : r.test(path)))) {
        const r = req as BodyReq;
        r._body = true;
        r.upperstackOwnBody = true;
      }
    }
    next();
  });
}

/** Undoes the bypass mark before the route's own reader runs. */
export function ownBody(req: IncomingMessage): void {
  const r = req as BodyReq;
  if (r.upperstackOwnBody) {
    r._body = false;
    r.upperstackOwnBody = false;
  }
}

/**
 * For `httpAdminMiddleware`: an error status ended without a content type
 * (Node-RED's admin API answers a missing token with a bare 401, passport with
 * the text "Unauthorized") gets a JSON error body, the text as its message.
 * Responses that say what they carry are left as they are.
 */
export function jsonUntypedErrors(): RequestHandler {
  return answersNoPathOfItsOwn((req: Request, res: Response, next: NextFunction) => {
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      const [chunk] = args;
      if (res.statusCode >= 400 && !res.headersSent && !res.getHeader('content-type') && req.method !== 'HEAD') {
        const status = res.statusCode;
        const text = typeof chunk === 'string' || Buffer.isBuffer(chunk) ? chunk.toString().trim() : '';
        const message = /^[\x20-\x7e]{1,200}$/.test(text) ? text : status === 401 ? 'log in first: this needs an access token' : `request refused (${status})`;
        const body = errorBody(codeForStatus(status), message);
        res.setHeader('Content-Type', JSON_CONTENT_TYPE);
        res.setHeader('Content-Length', Buffer.byteLength(body));
        return end(body, 'utf8', typeof chunk === 'function' ? chunk : typeof args[1] === 'function' ? args[1] : args[2]);
      }
      return end(...args);
    }) as Response['end'];
    next();
  });
}

type App = Application & { parent?: App };
const installed = new WeakSet<object>();

/** The Express app the runtime's admin and node apps are mounted on (Node-RED's own server app). */
export function topApp(RED: NodeAPI): App | undefined {
  const node = RED.httpNode as unknown as App | undefined;
  const admin = RED.httpAdmin as unknown as App | undefined;
  return node?.parent ?? admin?.parent?.parent ?? admin?.parent;
}

/**
 * The refusal of a request no route answered, when a route registered for the node app (route-registry.ts)
 * is at its path with other methods: asked only here, so no route, a user flow's included, is shadowed and
 * no answered request pays for it.
 */
function wrongMethodOf(RED: NodeAPI, req: Request): WrongMethodAnswer | undefined {
  const node = RED.httpNode as unknown as RoutedApp | undefined;
  const top = topApp(RED);
  if (!top || !node) return undefined;
  const path = pathIn(node, top, req.path);
  return typeof path === 'string' ? refusalAt(node, req.method, path) : undefined;
}

function sendNotFound(RED: NodeAPI, req: Request, res: Response): void {
  const wrong = wrongMethodOf(RED, req);
  if (wrong) {
    const allow = wrong.error.details.allow;
    if (Array.isArray(allow)) res.setHeader('Allow', allow.join(', '));
    if (wrong.body !== undefined) {
      res.status(405).type(JSON_CONTENT_TYPE).send(wrong.body);
      return;
    }
    return sendFailure(res, wrong.error);
  }
  const path = req.path.length > 200 ? `${req.path.slice(0, 200)}…` : req.path;
  // The truncated path, so a long one is neither matched nor repeated in the hint.
  sendError(res, 404, HTTP_CODES.notFound, `nothing is served at ${req.method} ${path}${devicePathHint(path)}`);
}

/**
 * Whether `err` is a body that did not parse, sent to a path nothing serves. Node-RED's admin
 * parser reads the body before any route is matched, and its error skips them all: such a
 * request is answered the 404 a well-formed body gets, not 400 for a body nobody would read.
 */
function unservedParseFailure(RED: NodeAPI, err: unknown, req: Request): boolean {
  if ((err as { type?: unknown } | null)?.type !== 'entity.parse.failed') return false;
  const top = topApp(RED);
  const node = RED.httpNode as unknown as RoutedApp | undefined;
  const admin = RED.httpAdmin as unknown as RoutedApp | undefined;
  if (!top || !node || !admin) return false;
  const requireHttps = (RED.settings as { requireHttps?: unknown }).requireHttps === true;
  return !servedPath({ top, node, admin }, req.method, req.path, { requireHttps });
}

/**
 * Adds a JSON 404 and a JSON error handler after everything else on the
 * runtime's top-level app, once per app. Routes that nodes add later go to the
 * admin and node apps mounted before these, so they are never shadowed.
 */
export function installJsonErrors(RED: NodeAPI): void {
  // Also where no plugin was loaded (an embedding that registers nodes itself): parser errors answered in JSON too.
  prepareServer(RED);
  const app = topApp(RED);
  if (!app || installed.has(app)) return;
  installed.add(app);
  app.use(
    answersNoPathOfItsOwn((req: Request, res: Response) => {
      req.resume();
      sendNotFound(RED, req, res);
    }),
  );
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    void next;
    req.resume();
    if (unservedParseFailure(RED, err, req)) return sendNotFound(RED, req, res);
    const e = httpErrorOf(err);
    if (e.internal) RED.log.error(`HTTP ${req.method} ${req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    sendError(res, e.status, e.code, e.message, e.details);
  });
}
