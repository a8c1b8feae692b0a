/**
 * The write routes of upperstack-http-in: a request is authenticated, its body
 * read, decoded and checked, journaled through the node's intake and answered
 * once durable (202/204), or answered with the error that says what is wrong.
 * The deployed node serving the routes is `activeHttpIn()`.
 */
import type { Request } from 'express';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { RateLimiterRes } from '../lib/security/rate-limiter';
import type { Received } from '../lib/ingest/record';
import { BadDeviceIdError, PayloadTooLargeError, UpperstackError } from '../lib/errors';
import { deviceIdProblem } from '../lib/devices/record';
import { DEFAULT_LIMITS } from '../lib/limits';
import { outcomeWeight, requestOutcome, type InputOptions, type InputOutcome, type InputRoute } from '../lib/inputs/request';
import { ACCEPTED_ONE, answerError, answerOutcome, type HttpAnswer } from '../lib/inputs/answers';
import { bufferedBody, readRequestBody, UnsupportedEncodingError } from '../lib/inputs/body';
import { countLinesOver, influxPrecision, INFLUX_VERSION } from '../lib/inputs/influx';
import { BodyTimeoutError, RateLimitedError, TooManyLinesError } from '../lib/inputs/errors';
import { ownBody } from '../shared/http';
import { checkDecoded } from '../shared/request-checks';
import { authenticateHttp, authenticateHttpNow } from './access';
import { deviceAuth } from '../shared/devices';
import type { Principal } from '../lib/security/device-auth';
import { influxDatabases, toInputRequest, type ActiveHttpIn, type HttpRecord } from './active';
import { continueBody, queryEncodingError, type RouteRequest } from '../lib/inputs/fast-path';

/** The deployed http in nodes, in the order they started: the last one serves. */
const deployed: ActiveHttpIn[] = [];
let active: ActiveHttpIn | undefined;

/** The node whose routes serve requests (the one deployed last), if any. */
export function activeHttpIn(): ActiveHttpIn | undefined {
  return active;
}

/** `input` serves the routes from now on; the node it replaces, if any. */
export function addHttpIn(input: ActiveHttpIn): ActiveHttpIn | undefined {
  const before = active;
  deployed.push(input);
  active = input;
  return before;
}

/**
 * `input` is stopping. When it was serving, the node deployed before it that is still running serves again
 * (a deploy of modified nodes removing the newer one leaves the older one running); that node, if any.
 */
export function removeHttpIn(input: ActiveHttpIn): ActiveHttpIn | undefined {
  const at = deployed.indexOf(input);
  if (at >= 0) deployed.splice(at, 1);
  if (active !== input) return undefined;
  active = deployed.at(-1);
  return active;
}

const ROUTE_META: Record<InputRoute, Record<string, string>> = {
  ingest: { route: 'ingest' },
  insert: { route: 'insert' },
  'influx-v1': { route: 'influx-v1' },
  'influx-v2': { route: 'influx-v2' },
  coap: { route: 'coap' },
};
const ADMITTED = { ok: true } as const;

const ACCEPTED_ONE_HEADERS = ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(ACCEPTED_ONE.body))];

/** Plain Node response calls: the same answer whether Express or the fast path took the request. */
export function send(res: ServerResponse, a: HttpAnswer): void {
  if (res.headersSent) return;
  if (a === ACCEPTED_ONE) {
    res.writeHead(202, ACCEPTED_ONE_HEADERS).end(a.body);
    return;
  }
  // One flat header list straight to writeHead: no header map built per answer.
  const headers: string[] = [];
  if (a.headers) for (const k in a.headers) headers.push(k, a.headers[k]);
  if (a.status === 204) {
    headers.push('X-Influxdb-Version', INFLUX_VERSION);
    res.writeHead(204, headers).end();
    return;
  }
  headers.push('Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(a.body)));
  res.writeHead(a.status, headers).end(a.body);
}

/** Whether a deployed node serves `route` now (it is not turned off there). */
export function servesRoute(route: InputRoute): boolean {
  return active !== undefined && routeEnabled(active, route);
}

/** The body limit of the node serving the routes (servesRoute); none, as its routes read it, in a flow that has none. */
export function servingLimit(): number {
  return active?.config.maxBytes ?? Number.POSITIVE_INFINITY;
}

function routeEnabled(input: ActiveHttpIn, route: InputRoute): boolean {
  return (route === 'ingest' ? input.config.ingest : route === 'insert' ? input.config.cromflag : input.config.influx) !== false;
}

/** `a` with `Connection: close`: the server ends the socket once it is written, reading nothing more from it. */
export function sendClosing(res: ServerResponse, a: HttpAnswer): void {
  send(res, { ...a, headers: { ...a.headers, Connection: 'close' } });
}

/** An Express request as the input routes take it. */
export function routeRequest(req: Request): RouteRequest {
  const r: RouteRequest = { raw: req, path: req.path, query: req.query as Record<string, string | string[]> };
  if (typeof req.params.device === 'string') r.device = req.params.device;
  return r;
}

export function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

/** The outcome of a record (a bug in a decoder fails the request alone: requestOutcome). */
export function outcomeOf(rec: Received, opts: InputOptions): InputOutcome {
  return requestOutcome(toInputRequest(rec), opts);
}

/**
 * A write request on one of the input routes. Most run through without waiting
 * until their journal turn (an anonymous device on loopback, no rate limit to
 * consult, the body all here): no promise, no suspended frame, per request.
 * Anything else (a login to check, a limiter to ask, a body still arriving)
 * takes the same steps with waits (ingestWaiting).
 */
export function ingest(route: InputRoute, rr: RouteRequest, res: ServerResponse): void {
  const req = rr.raw;
  ownBody(req);
  const input = active;
  if (!input) {
    req.resume();
    return send(res, answerError(route, 503, { code: 'NOT_DEPLOYED', message: 'no upperstack-http-in node is deployed' }, 5000));
  }
  if (!routeEnabled(input, route)) {
    req.resume();
    return send(res, answerError(route, 404, { code: 'NOT_FOUND', message: `${rr.path} is turned off on the http in node` }));
  }
  if (refusedQuery(route, req, res)) return;
  const meta = routeMeta(route, rr, res);
  if (meta === undefined) return;
  const device = route === 'ingest' || route === 'insert' ? String(rr.device) : undefined;
  const auth = deviceAuth();
  const who = auth.limitsTraffic || input.limiter ? undefined : authenticateHttpNow(req, rr.query, input);
  if (who === undefined) return void ingestWaiting(route, rr, res, input, meta, device);
  if (!who.ok) {
    req.resume();
    return send(res, answerError(route, who.status, who, who.retryAfterMs));
  }
  const remote = req.socket.remoteAddress;
  if (refusedWriter(route, req, res, who.principal, device, remote)) return;
  // A small body is all buffered by now: taken as it is, without a promise and listeners.
  const payload = bufferedBody(req, input.config.maxBytes);
  if (payload !== undefined) return journal(route, rr, res, input, meta, device, who.principal, remote, payload);
  void readBody(route, req, res, input).then((body) => {
    if (body) journal(route, rr, res, input, meta, device, who.principal, remote, body);
  });
}

/** Answers and returns true when the path's device may not be written by whoever logged in. */
function refusedWriter(route: InputRoute, req: IncomingMessage, res: ServerResponse, principal: Principal, device: string | undefined, remote: string | undefined): boolean {
  if (device === undefined) return false;
  // Refused even where no registry decides ids: a device named so now could never be registered and secured.
  const malformed = deviceIdProblem(device);
  if (malformed !== undefined) {
    req.resume();
    send(res, answerError(route, 400, new BadDeviceIdError(malformed)));
    return true;
  }
  const may = deviceAuth().canWrite(principal, device, 'http', remote);
  if (may.ok) return false;
  req.resume();
  send(res, answerError(route, may.status, may, may.retryAfterMs));
  return true;
}

/** Answers 400 and returns true when a query parameter is not valid percent-encoding (it would be read literally). */
function refusedQuery(route: InputRoute, req: IncomingMessage, res: ServerResponse): boolean {
  const bad = queryEncodingError(req.url ?? '');
  if (bad === undefined) return false;
  req.resume();
  send(res, answerError(route, 400, bad));
  return true;
}

/** The route's parameters for its journal record; undefined once a bad one is answered. */
function routeMeta(route: InputRoute, rr: RouteRequest, res: ServerResponse): Record<string, string> | undefined {
  // One meta object per route while it holds nothing else: the journal record serialises it once, not per request.
  if (route === 'ingest') return ingestMeta(rr, res);
  if (route !== 'influx-v1' && route !== 'influx-v2') return ROUTE_META[route];
  const q = rr.query;
  const req = rr.raw;
  if (route === 'influx-v1' && !first(q.db)) {
    req.resume();
    send(res, answerError(route, 400, { code: 'BAD_PARAMETER', message: 'database is required' }));
    return undefined;
  }
  if (route === 'influx-v2' && !first(q.bucket)) {
    req.resume();
    send(res, answerError(route, 400, { code: 'BAD_PARAMETER', message: 'bucket is required' }));
    return undefined;
  }
  const precision = first(q.precision);
  try {
    influxPrecision(precision, route === 'influx-v2' ? 'v2' : 'v1');
  } catch (err) {
    req.resume();
    send(res, answerError(route, 400, err as UpperstackError));
    return undefined;
  }
  return precision ? { route, precision } : ROUTE_META[route];
}

/** /ingest's meta: `precision` for a line protocol body's times, as /api/v2/write takes it; undefined once a bad one is answered. */
function ingestMeta(rr: RouteRequest, res: ServerResponse): Record<string, string> | undefined {
  const precision = first(rr.query.precision);
  if (precision === undefined) return ROUTE_META.ingest;
  try {
    influxPrecision(precision, 'v2');
  } catch (err) {
    rr.raw.resume();
    send(res, answerError('ingest', 400, err as UpperstackError));
    return undefined;
  }
  return { route: 'ingest', precision };
}

/** ingest() for a request that must wait: a login to check, rate limits to ask, a body still arriving. */
async function ingestWaiting(route: InputRoute, rr: RouteRequest, res: ServerResponse, input: ActiveHttpIn, meta: Record<string, string>, device: string | undefined): Promise<void> {
  const req = rr.raw;
  const auth = deviceAuth();
  const who = await authenticateHttp(req, rr.query, input, device);
  if (!who.ok) {
    req.resume();
    return send(res, answerError(route, who.status, who, who.retryAfterMs));
  }
  const remote = req.socket.remoteAddress;
  if (refusedWriter(route, req, res, who.principal, device, remote)) return;
  // The registry's rate limits: the route's device, else the device that logged in (InfluxDB routes).
  const sender = device ?? (who.principal.kind === 'device' ? who.principal.id : undefined);
  const admitted = auth.limitsTraffic ? await auth.admit(who.principal, sender, remote, 'http') : ADMITTED;
  if (!admitted.ok) {
    req.resume();
    return send(res, answerError(route, admitted.status, admitted, admitted.retryAfterMs));
  }
  if (input.limiter) {
    try {
      await input.limiter.consume(`${remote ?? ''}|${device ?? ''}`);
    } catch (rej) {
      req.resume();
      const ms = rej instanceof RateLimiterRes ? rej.msBeforeNext : 1000;
      return send(res, answerError(route, 429, new RateLimitedError(`more than ${input.config.rateLimit} requests a second from this client; retry in ${Math.ceil(ms / 1000)} s`, ms), ms));
    }
  }
  const payload = bufferedBody(req, input.config.maxBytes) ?? (await readBody(route, req, res, input));
  if (payload) journal(route, rr, res, input, meta, device, who.principal, remote, payload);
}

/** The body read to its end and inflated; undefined once a failure is answered (413, 415, 408, 400). */
async function readBody(route: InputRoute, req: RouteRequest['raw'], res: ServerResponse, input: ActiveHttpIn): Promise<Buffer | undefined> {
  // A client waiting for 100 Continue sends its body now, unless its Content-Length is already refused (413).
  continueBody(req, res, input.config.maxBytes);
  try {
    return await readRequestBody(req, input.config.maxBytes, input.bodyTimeoutMs);
  } catch (err) {
    if (err instanceof BodyTimeoutError) {
      sendTimeout(route, res, err);
      return undefined;
    }
    const status = err instanceof PayloadTooLargeError ? 413 : err instanceof UnsupportedEncodingError ? 415 : 400;
    send(res, answerError(route, status, err instanceof UpperstackError ? err : { code: 'BAD_REQUEST', message: String(err) }));
    return undefined;
  }
}

/**
 * 408 for a body that stopped arriving, and the connection closed once it is written: the rest of the body
 * may still come, and nothing on the connection could be read as the next request.
 */
export function sendTimeout(route: InputRoute, res: ServerResponse, err: BodyTimeoutError): void {
  sendClosing(res, answerError(route, 408, err));
}

/** Decodes and checks the body, journals it with its turn and answers once that is durable. */
function journal(route: InputRoute, rr: RouteRequest, res: ServerResponse, input: ActiveHttpIn, meta: Record<string, string>, device: string | undefined, principal: Principal, remote: string | undefined, payload: Buffer): void {
  const req = rr.raw;
  const auth = deviceAuth();
  const sender = device ?? (principal.kind === 'device' ? principal.id : undefined);
  if (sender !== undefined && auth.signs(sender)) {
    const signed = { ts: header(req, 'x-upperstack-timestamp'), nonce: header(req, 'x-upperstack-nonce'), sig: header(req, 'x-upperstack-signature') };
    const verified = auth.verifySigned(principal, sender, payload, signed, 'http', remote);
    if (!verified.ok) return send(res, answerError(route, verified.status, verified));
  }
  const influx = route === 'influx-v1' || route === 'influx-v2';
  if (route === 'influx-v1') influxDatabases.add(first(rr.query.db));
  // Too many lines is 413 before anything is kept, as InfluxDB answers a body over its size: clients split and resend.
  const over = influx ? countLinesOver(payload, DEFAULT_LIMITS.maxReadings) : undefined;
  if (over) return send(res, answerError(route, 413, over));
  const ct = req.headers['content-type'];
  const rec: HttpRecord = { source: `http:${rr.path}`, payload, receivedAt: Date.now(), meta, outcome: undefined };
  if (ct) rec.contentType = ct;
  if (device !== undefined) rec.device = device;
  if (remote) rec.remote = `${remote}:${req.socket.remotePort ?? ''}`;
  const outcome = outcomeOf(rec, input.inputOptions);
  // More readings than a request may hold is 413 before anything is kept, on every route: clients split the
  // batch and resend it, where a 400 tells them to drop it. Line protocol whose string values hold line
  // breaks gets here too: the parser counts its lines and stops one past the limit.
  const tooMany = checkDecoded(outcome, { principal, device, via: 'http', remote });
  if (tooMany) return send(res, answerError(route, 413, influx ? new TooManyLinesError(tooMany.details.limit as number) : tooMany));
  if (device === undefined) {
    // The InfluxDB routes name devices line by line: each one must be the caller's to write.
    const seen = new Set<string>();
    for (const r of outcome.readings) {
      if (seen.has(r.device)) continue;
      seen.add(r.device);
      const may = auth.canWrite(principal, r.device, 'http', remote);
      if (!may.ok) return send(res, answerError(route, may.status, may, may.retryAfterMs));
    }
    // And each counts against its own rate limit, as on its /ingest path: otherwise a device over its limit
    // there would write on as line protocol naming itself. The sender that logged in was counted on arrival;
    // a bad line's device counts too (it is dead-lettered under it).
    for (const f of outcome.failures) if (f.device !== undefined) seen.add(f.device);
    if (sender !== undefined) seen.delete(sender);
    if (seen.size > 0 && auth.limitsTraffic) {
      void auth.admitNamed(principal, seen, remote, 'http').then((admitted) => {
        if (!admitted.ok) return send(res, answerError(route, admitted.status, admitted, admitted.retryAfterMs));
        submit(route, res, input, rec, outcome);
      });
      return;
    }
  }
  submit(route, res, input, rec, outcome);
}

/** Journals a decoded request with its turn and answers once that is durable. */
function submit(route: InputRoute, res: ServerResponse, input: ActiveHttpIn, rec: HttpRecord, outcome: InputOutcome): void {
  // Kept for the emit of this record (a replayed one is processed again).
  rec.outcome = outcome;
  try {
    input.intake.submitThen([rec], (result) => {
      if ('refused' in result) return send(res, answerError(route, 503, result.error, result.retryAfterMs));
      input.count();
      send(res, answerOutcome(route, outcome));
      // The readings mark counts what the request holds, not one per request.
    }, outcomeWeight(outcome));
  } catch (err) {
    send(res, answerError(route, 413, err instanceof UpperstackError ? err : { code: 'PAYLOAD_TOO_LARGE', message: String(err) }));
  }
}

function header(req: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
