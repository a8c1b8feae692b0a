/**
 * upperstack-http-in: devices and collectors post telemetry over HTTP, on
 * Node-RED's HTTP server: `POST /ingest/{device}` (every codec), the CroMFlaG2
 * routes `POST /insert/{device}` and `GET /fetch/{device}`, and the InfluxDB
 * write API (`POST /write`, `POST /api/v2/write`, `/ping`, `POST /query` for
 * CREATE DATABASE).
 *
 * A request is decoded and validated here, so the answer can say what is wrong
 * (400, 403, 415, 422) and how many readings were accepted; then it is
 * journaled through the shared intake and answered only once durable. The
 * journaled request leaves as readings (output 1) and one failure per rejected
 * item (output 2); after a restart the same request is processed again from the
 * journal. Routes are added once per runtime and served by the node deployed
 * last, so a redeploy never stacks them.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { Intake } from '../lib/ingest/intake';
import type { Received } from '../lib/ingest/record';
import { weighReceipt } from '../lib/ingest/receipts';
import { describeError, PayloadTooLargeError, UpperstackError } from '../lib/errors';
import { loadSchema } from '../lib/schema/validator';
import { outcomeWeight, processRequest, type InputOptions, type InputOutcome, type InputRoute } from '../lib/inputs/request';
import { ACCEPTED_ONE, answerError, answerOutcome, type HttpAnswer } from '../lib/inputs/answers';
import { checkAccess } from '../lib/inputs/auth';
import { bufferedBody, readRequestBody, UnsupportedEncodingError } from '../lib/inputs/body';
import { influxPrecision, INFLUX_VERSION } from '../lib/inputs/influx';
import { RateLimitedError } from '../lib/inputs/errors';
import { requestEmitter } from '../shared/request-emit';
import { installJsonErrors, ownBody, readsOwnBody } from '../shared/http';
import { onClose } from '../shared/input';
import { auditOf, maskSensitiveOf } from '../shared/keys';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import { dataDir } from '../shared/runtime';
import type { StoreConfigNode } from '../store-config/options';
import { handleFetch } from './queries';
import { authenticateHttp, authenticateHttpNow, onLoopback } from './access';
import { deviceAuth, useInfoStore } from '../shared/devices';
import type { Principal } from '../lib/security/device-auth';
import { addDeviceRoutes } from '../shared/devices-routes';
import { RECORD_OUTCOMES, toInputRequest, type ActiveHttpIn, type HttpRecord } from './active';
import { fastPathAllowed, installFastPath, type FastPathSettings, type RouteRequest } from '../lib/inputs/fast-path';
import { httpInMigrations, type HttpInNode, type HttpInNodeDef, type HttpInOptions } from './options';
import { join } from 'node:path';

let active: ActiveHttpIn | undefined;

const ROUTE_META: Record<InputRoute, Record<string, string>> = {
  ingest: { route: 'ingest' },
  insert: { route: 'insert' },
  'influx-v1': { route: 'influx-v1' },
  'influx-v2': { route: 'influx-v2' },
  coap: { route: 'coap' },
};
const routesAdded = new WeakSet<object>();
const ADMITTED = { ok: true } as const;

const ACCEPTED_ONE_HEADERS = ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(ACCEPTED_ONE.body))];

/** Plain Node response calls: the same answer whether Express or the fast path took the request. */
function send(res: ServerResponse, a: HttpAnswer): void {
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

/** An Express request as the input routes take it. */
function routeRequest(req: Request): RouteRequest {
  const r: RouteRequest = { raw: req, path: req.path, query: req.query as Record<string, string | string[]> };
  if (typeof req.params.device === 'string') r.device = req.params.device;
  return r;
}

function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

/** The outcome of a record; a bug in a decoder becomes a failure of the whole request, never a crash. */
function outcomeOf(rec: Received, opts: InputOptions): InputOutcome {
  try {
    return processRequest(toInputRequest(rec), opts);
  } catch (err) {
    const error = err instanceof UpperstackError ? err : new UnsupportedEncodingError(`(internal) ${err instanceof Error ? err.message : String(err)}`);
    return { readings: [], failures: [{ error, payload: rec.payload }], refusal: 'malformed' };
  }
}

/**
 * A write request on one of the input routes. Most run through without waiting
 * until their journal turn (an anonymous device on loopback, no rate limit to
 * consult, the body all here): no promise, no suspended frame, per request.
 * Anything else (a login to check, a limiter to ask, a body still arriving)
 * takes the same steps with waits (ingestWaiting).
 */
function ingest(route: InputRoute, rr: RouteRequest, res: ServerResponse): void {
  const req = rr.raw;
  ownBody(req);
  const input = active;
  if (!input) {
    req.resume();
    return send(res, answerError(route, 503, { code: 'NOT_DEPLOYED', message: 'no upperstack-http-in node is deployed' }, 5000));
  }
  const enabled = (route === 'ingest' ? input.config.ingest : route === 'insert' ? input.config.cromflag : input.config.influx) !== false;
  if (!enabled) {
    req.resume();
    return send(res, answerError(route, 404, { code: 'NOT_FOUND', message: `${rr.path} is turned off on the http in node` }));
  }
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
  const may = deviceAuth().canWrite(principal, device, 'http', remote);
  if (may.ok) return false;
  req.resume();
  send(res, answerError(route, may.status, may, may.retryAfterMs));
  return true;
}

/** The route's parameters for its journal record; undefined once a bad one is answered. */
function routeMeta(route: InputRoute, rr: RouteRequest, res: ServerResponse): Record<string, string> | undefined {
  // One meta object per route while it holds nothing else: the journal record serialises it once, not per request.
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
    influxPrecision(precision);
  } catch (err) {
    req.resume();
    send(res, answerError(route, 400, err as UpperstackError));
    return undefined;
  }
  return precision ? { route, precision } : ROUTE_META[route];
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

/** The body read to its end and inflated; undefined once a failure is answered (413, 415, 400). */
async function readBody(route: InputRoute, req: RouteRequest['raw'], res: ServerResponse, input: ActiveHttpIn): Promise<Buffer | undefined> {
  try {
    return await readRequestBody(req, input.config.maxBytes);
  } catch (err) {
    const status = err instanceof PayloadTooLargeError ? 413 : err instanceof UnsupportedEncodingError ? 415 : 400;
    send(res, answerError(route, status, err instanceof UpperstackError ? err : { code: 'BAD_REQUEST', message: String(err) }));
    return undefined;
  }
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
  const ct = req.headers['content-type'];
  const rec: HttpRecord = { source: `http:${rr.path}`, payload, receivedAt: Date.now(), meta, outcome: undefined };
  if (ct) rec.contentType = ct;
  if (device !== undefined) rec.device = device;
  if (remote) rec.remote = `${remote}:${req.socket.remotePort ?? ''}`;
  const outcome = outcomeOf(rec, input.inputOptions);
  if (device === undefined) {
    // The InfluxDB routes name devices line by line: each one must be the caller's to write.
    const seen = new Set<string>();
    for (const r of outcome.readings) {
      if (seen.has(r.device)) continue;
      seen.add(r.device);
      const may = auth.canWrite(principal, r.device, 'http', remote);
      if (!may.ok) return send(res, answerError(route, may.status, may, may.retryAfterMs));
    }
  }
  // Kept for the emit of this record (a replayed one is processed again).
  rec.outcome = outcome;
  try {
    input.intake.submitThen([rec], (result) => {
      if ('refused' in result) return send(res, answerError(route, 503, result.error, result.retryAfterMs));
      // The readings mark counts what the request holds, not one per request.
      const weight = outcomeWeight(outcome);
      if (weight > 1) weighReceipt({ j: input.intake.id, s: result.accepted[0] }, weight);
      input.count();
      send(res, answerOutcome(route, outcome));
    });
  } catch (err) {
    send(res, answerError(route, 413, err instanceof UpperstackError ? err : { code: 'PAYLOAD_TOO_LARGE', message: String(err) }));
  }
}

function header(req: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export = function register(RED: NodeAPI): void {
  function UpperstackHttpInNode(this: HttpInNode, def: HttpInNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<HttpInOptions>(def as unknown as Record<string, unknown>, httpInMigrations);
    const wires = (node as unknown as { wires?: string[][] }).wires;
    let validate;
    try {
      const loaded = loadSchema({
        inline: config.schemaSource === 'inline' ? config.schema : undefined,
        file: config.schemaSource === 'file' ? config.schemaFile : undefined,
        baseDir: dataDir(RED),
      });
      validate = loaded.validate;
      maskSensitiveOf(node, loaded.schema);
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(RED._('upperstack-http-in.errors.schema', { message: describeError(err).message }));
      return;
    }
    const inputOptions: InputOptions = { validate, maxBytes: config.maxBytes, protoType: config.protoType || undefined, deviceTag: config.deviceTag || 'device' };
    const status = throttledStatus(node);

    // Outcomes worked out while answering travel on the record itself (no WeakMap entry per request).
    const emit = requestEmitter({ node, wires, topic: 'http', outcomes: RECORD_OUTCOMES, decode: (rec) => outcomeOf(rec, inputOptions), newId: () => RED.util.generateId() });

    const intake = new Intake({
      id: node.id,
      name: config.name || `http in ${node.id}`,
      dir: join(dataDir(RED), 'journal', node.id),
      highWater: config.highWater,
      highWaterReadings: config.highWaterReadings,
      emit,
      onEmitError: (err) => node.error(RED._('upperstack-http-in.errors.emit', { message: describeError(err).message })),
      onWriteError: (err) => setStatus(node, 'failed', err.message),
      onPause: (paused) => {
        if (paused) setStatus(node, 'warning', RED._('upperstack-http-in.status.paused'));
      },
    });
    try {
      const replay = intake.open();
      if (replay) node.log(RED._('upperstack-http-in.log.replay', { count: replay }));
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(describeError(err).message);
      return;
    }
    let requests = 0;
    let shown = 0;
    const rateTimer = setInterval(() => {
      if (intake.isPaused()) return;
      const rate = requests - shown;
      shown = requests;
      status('connected', RED._('upperstack-http-in.status.rate', { rate, pending: intake.stats().pending }));
    }, 1000);

    const settings = RED.settings as unknown as { uiHost?: string; upperstack?: { apiKey?: string } };
    const bind = settings.uiHost ?? process.env.UPPERSTACK_BIND;
    const username = node.credentials?.username || process.env.UPPERSTACK_MQTT_USERNAME || '';
    const input: ActiveHttpIn = {
      node,
      config,
      intake,
      inputOptions,
      bind,
      loopback: onLoopback(bind),
      store: config.store ? ((RED.nodes.getNode(config.store) as StoreConfigNode | null) ?? undefined) : undefined,
      apiKey: settings.upperstack?.apiKey || process.env.UPPERSTACK_API_KEY || '',
      count: () => requests++,
    };
    if (username) input.login = { username, password: node.credentials?.password || process.env.UPPERSTACK_MQTT_PASSWORD || '' };
    if (config.rateLimit > 0) input.limiter = new RateLimiterMemory({ points: config.rateLimit, duration: 1 });
    if (!input.login && !checkAccess(undefined, undefined, input.bind).ok) {
      node.warn(RED._('upperstack-http-in.errors.noLogin'));
    }

    if (!routesAdded.has(RED.httpNode)) {
      routesAdded.add(RED.httpNode);
      // These routes read their own bodies (raw bytes for the journal, gzip, their own limit and errors).
      for (const path of [/^\/ingest\/[^/]+$/, /^\/insert\/[^/]+$/, '/write', '/api/v2/write', '/query']) readsOwnBody(path);
      installJsonErrors(RED);
      const on = (route: InputRoute) => (req: Request, res: Response) => ingest(route, routeRequest(req), res);
      RED.httpNode.post('/ingest/:device', on('ingest'));
      RED.httpNode.post('/insert/:device', on('insert'));
      RED.httpNode.post('/write', on('influx-v1'));
      RED.httpNode.post('/api/v2/write', on('influx-v2'));
      const ping = (_req: Request, res: Response) => {
        res.setHeader('X-Influxdb-Version', INFLUX_VERSION);
        res.setHeader('X-Influxdb-Build', 'OSS');
        res.status(204).end();
      };
      RED.httpNode.get('/ping', ping);
      RED.httpNode.head('/ping', ping);
      RED.httpNode.post('/query', (req: Request, res: Response) => void influxQuery(req, res));
      RED.httpNode.get('/fetch/:device', (req: Request, res: Response) => void handleFetch(active, req, res, (entry) => auditOf(RED).refusal(entry)));
      const s = RED.settings as unknown as FastPathSettings;
      const server = (RED as unknown as { server?: Server }).server;
      // Taken up once the HTTP parser is done with the packet that brought the request: a small body is all there then.
      if (server && fastPathAllowed(s)) installFastPath(server, String(s.httpNodeRoot ?? '/'), (route, rr, res) => queueMicrotask(() => ingest(route, rr, res)));
    }
    // GET /api/v1/devices/{id}: the device's metadata from this node's store while no devices node has a store.
    addDeviceRoutes(RED);
    const releaseInfo = input.store ? useInfoStore(node, input.store.store) : () => undefined;
    active = input;
    setStatus(node, 'connected', RED._('upperstack-http-in.status.serving'));
    // Downstream nodes must exist before the replay is sent.
    let replayed = false;
    const doReplay = () => {
      if (replayed) return;
      replayed = true;
      intake.replay();
    };
    RED.events.once('flows:started', doReplay);
    const replayTimer = setTimeout(doReplay, 1000);

    onClose(node, () => {
      if (active === input) active = undefined;
      releaseInfo();
      clearInterval(rateTimer);
      clearTimeout(replayTimer);
      RED.events.removeListener('flows:started', doReplay);
      intake.close();
    });
  }

  /** InfluxDB clients create their database first; here that is a no-op, other queries are refused. */
  async function influxQuery(req: Request, res: Response): Promise<void> {
    ownBody(req);
    const input = active;
    const q = req.query as Record<string, unknown>;
    let text = first(q.q);
    if (text === undefined) {
      const body = (req as { body?: unknown }).body;
      if (body && typeof body === 'object') text = first((body as Record<string, unknown>).q);
      else {
        try {
          const raw = await readRequestBody(req, 64 * 1024);
          text = new URLSearchParams(raw.toString('utf8')).get('q') ?? undefined;
        } catch {
          text = undefined;
        }
      }
    } else req.resume();
    if (!input || input.config.influx === false) return send(res, answerError('influx-v1', 404, { code: 'NOT_FOUND', message: 'the InfluxDB routes are not served' }));
    const who = await authenticateHttp(req, req.query as Record<string, unknown>, input);
    if (!who.ok) return send(res, answerError('influx-v1', who.status, who, who.retryAfterMs));
    if (text !== undefined && /^\s*CREATE\s+DATABASE\b/i.test(text)) {
      res.setHeader('X-Influxdb-Version', INFLUX_VERSION);
      res.status(200).type('application/json').send(JSON.stringify({ results: [{ statement_id: 0 }] }));
      return;
    }
    send(res, answerError('influx-v1', 400, { code: 'BAD_PARAMETER', message: 'only CREATE DATABASE is accepted here (a no-op); query stored readings with GET /api/v1/readings' }));
  }

  registerNode(RED, 'upperstack-http-in', UpperstackHttpInNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
