/**
 * upperstack-http-in: devices and collectors post telemetry over HTTP, on
 * Node-RED's HTTP server: `POST /ingest/{device}` (every codec), the CroMFlaG2
 * routes `POST /insert/{device}` and `GET /fetch/{device}`, and the InfluxDB
 * write API (`POST /write`, `POST /api/v2/write`, `/ping`, `GET`/`POST /query`
 * for SHOW and CREATE DATABASE). Another method on one of these paths is 405
 * naming the methods it takes (`Allow`), answered where the runtime's 404 is,
 * on the InfluxDB routes in InfluxDB's error shape.
 *
 * A request is decoded and validated (ingest.ts), so the answer can say what is wrong
 * (400, 403, 415, 422) and how many readings were accepted; then it is
 * journaled through the shared intake and answered only once durable. The
 * journaled request leaves as readings (output 1) and one failure per rejected
 * item (output 2); after a restart the same request is processed again from the
 * journal. Routes are added once per runtime and served by the node deployed
 * last, so a redeploy never stacks them.
 */
import type { NodeAPI } from 'node-red';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import { RateLimiterMemory } from '../lib/security/rate-limiter';
import { describeError } from '../lib/errors';
import type { InputOptions, InputRoute } from '../lib/inputs/request';
import { answerError } from '../lib/inputs/answers';
import { checkAccess } from '../lib/inputs/auth';
import { readRequestBody } from '../lib/inputs/body';
import { INFLUX_VERSION } from '../lib/inputs/influx';
import { createDatabaseAnswer, influxStatement, showDatabasesAnswer } from '../lib/inputs/influx-query';
import { routeAt, wrongMethod } from '../lib/inputs/methods';
import { answerRouteOptions } from '../shared/route-options';
import { registerRoutes, type RouteTable } from '../shared/route-registry';
import { queryEncodingError } from '../lib/inputs/fast-path';
import { requestEmitter } from '../shared/request-emit';
import { installJsonErrors, ownBody, readsOwnBody } from '../shared/http';
import { onClose } from '../shared/input';
import { startIntake } from '../shared/intake-start';
import { auditOf } from '../shared/keys';
import { loadNodeSchema } from '../shared/schema';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import type { StoreConfigNode } from '../store-config/options';
import { handleFetch } from './queries';
import { authenticateHttp, onLoopback } from './access';
import { isRegisteredDevice, useInfoStore } from '../shared/devices';
import { addDeviceRoutes } from '../shared/devices-routes';
import { influxDatabases, RECORD_OUTCOMES, type ActiveHttpIn } from './active';
import { activeHttpIn, addHttpIn, first, ingest, outcomeOf, removeHttpIn, routeRequest, send, sendClosing, sendTimeout, servesRoute, servingLimit } from './ingest';
import { BodyTimeoutError } from '../lib/inputs/errors';
import { fastPathAllowed, installInputFront, type FastPathSettings } from '../lib/inputs/fast-path';
import { bodyTimeoutMs, httpInMigrations, type HttpInNode, type HttpInNodeDef, type HttpInOptions } from './options';

const routesAdded = new WeakSet<object>();

/**
 * The input's routes (lib/inputs/methods.ts) as the route registry asks them, those the serving node turns on:
 * another http in node, deployed before and still running, serves again once the one deployed last closes.
 */
const INPUT_ROUTES: RouteTable = {
  allowOf(path) {
    const at = routeAt(path);
    return at && servesRoute(at.route) ? at.allow : undefined;
  },
  refuse(method, path) {
    const wrong = wrongMethod(method, path);
    if (!wrong || !servesRoute(wrong.route)) return undefined;
    // InfluxDB's clients read an error as a string `error` (v1) or `code` and `message` (v2), not an object.
    const influx = wrong.route === 'influx-v1' || wrong.route === 'influx-v2';
    return influx ? { error: wrong.error, body: answerError(wrong.route, 405, wrong.error).body } : { error: wrong.error };
  },
};

export = function register(RED: NodeAPI): void {
  function UpperstackHttpInNode(this: HttpInNode, def: HttpInNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<HttpInOptions>(def as unknown as Record<string, unknown>, httpInMigrations);
    const wires = (node as unknown as { wires?: string[][] }).wires;
    const schema = loadNodeSchema(RED, node, config);
    if (!schema.ok) return;
    const inputOptions: InputOptions = { validate: schema.validate, maxBytes: config.maxBytes, protoType: config.protoType || undefined, deviceTag: config.deviceTag || 'device', registered: isRegisteredDevice };
    const status = throttledStatus(node);

    // Outcomes worked out while answering travel on the record itself (no WeakMap entry per request).
    const emit = requestEmitter({ node, wires, topic: 'http', outcomes: RECORD_OUTCOMES, decode: (rec) => outcomeOf(rec, inputOptions), newId: () => RED.util.generateId() });

    const started = startIntake(RED, node, {
      name: config.name || `http in ${node.id}`,
      highWater: config.highWater,
      highWaterReadings: config.highWaterReadings,
      emit,
      onEmitError: (err) => node.error(RED._('upperstack-http-in.errors.emit', { message: describeError(err).message })),
      onWriteError: (err) => setStatus(node, 'failed', err.message),
      onPause: (paused) => {
        if (paused) setStatus(node, 'warning', RED._('upperstack-http-in.status.paused'));
      },
    }, true);
    // Always there with `reopen`: a journal that cannot be opened is answered 503 on the routes, not an unknown path.
    if (!started) return;
    const intake = started.intake;
    let requests = 0;
    let shown = 0;
    const rateTimer = setInterval(() => {
      // Another http in took the routes: the status keeps saying so (this one receives nothing).
      if (intake.isPaused() || activeHttpIn()?.node !== node) return;
      // A journal that cannot be written (a full disk): the failure stays on the node until a write succeeds.
      const s = intake.stats();
      if (s.lastError !== undefined) return;
      const rate = requests - shown;
      shown = requests;
      status('connected', RED._('upperstack-http-in.status.rate', { rate, pending: s.pending }));
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
      bodyTimeoutMs: bodyTimeoutMs(config),
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
      // SHOW DATABASES is read-only: InfluxDB 1.x answers it on GET too. Unserved, the request goes on (a flow's route, else 404).
      RED.httpNode.get('/query', (req: Request, res: Response, next: NextFunction) => (servesRoute('influx-v1') ? void influxQuery(req, res) : next()));
      RED.httpNode.get('/fetch/:device', (req: Request, res: Response) => void handleFetch(activeHttpIn(), req, res, (entry) => auditOf(RED).refusal(entry)));
      const s = RED.settings as unknown as FastPathSettings;
      const server = (RED as unknown as { server?: Server }).server;
      if (server && s.httpNodeRoot !== false) {
        installInputFront(server, String(s.httpNodeRoot ?? '/'), {
          // Taken up once the HTTP parser is done with the packet that brought the request: a small body is all there then.
          serve: fastPathAllowed(s) ? (route, rr, res) => queueMicrotask(() => ingest(route, rr, res)) : undefined,
          serves: servesRoute,
          limit: servingLimit,
          refuse: (route, res, status, err) => sendClosing(res, answerError(route, status, err)),
        });
      }
    }
    // GET /api/v1/devices/{id}: the device's metadata from this node's store while no devices node has a store.
    addDeviceRoutes(RED);
    const releaseInfo = input.store ? useInfoStore(node, input.store.store) : () => undefined;
    // One node serves the routes, the one deployed last; the one it replaces, still deployed, says it receives nothing.
    const before = addHttpIn(input);
    if (before && before.node !== node) {
      node.warn(RED._('upperstack-http-in.errors.another', { id: before.node.id }));
      setStatus(before.node, 'failed', RED._('upperstack-http-in.status.replaced', { id: node.id }));
    }
    // A journal that cannot be opened keeps its red status (startIntake) until it opens.
    if (intake.stats().lastError === undefined) setStatus(node, 'connected', RED._('upperstack-http-in.status.serving'));
    // OPTIONS and wrong methods on the input's routes are answered from this while the node runs.
    const releaseRoutes = registerRoutes(RED.httpNode, node, INPUT_ROUTES);
    answerRouteOptions(RED);

    onClose(node, () => {
      releaseRoutes();
      const next = removeHttpIn(input);
      if (next) {
        next.node.log(RED._('upperstack-http-in.log.servingAgain', { id: node.id }));
        setStatus(next.node, 'connected', RED._('upperstack-http-in.status.serving'));
      }
      releaseInfo();
      clearInterval(rateTimer);
      started.close();
    });
  }

  /** InfluxDB clients create their database first (a no-op here) and the influx CLI lists them; other queries are refused. */
  async function influxQuery(req: Request, res: Response): Promise<void> {
    ownBody(req);
    const input = activeHttpIn();
    const q = req.query as Record<string, unknown>;
    // As on the write routes: a parameter sent as %FC (in the query string or a form body) would be read literally.
    let malformed = queryEncodingError(req.originalUrl);
    let text = first(q.q);
    if (text === undefined && req.method !== 'POST') req.resume();
    else if (text === undefined) {
      const body = (req as { body?: unknown }).body;
      if (body && typeof body === 'object') text = first((body as Record<string, unknown>).q);
      else {
        try {
          const raw = await readRequestBody(req, 64 * 1024, input?.bodyTimeoutMs ?? 0);
          const form = raw.toString('utf8');
          malformed ??= queryEncodingError(`?${form}`);
          text = new URLSearchParams(form).get('q') ?? undefined;
        } catch (err) {
          if (err instanceof BodyTimeoutError) return sendTimeout('influx-v1', res, err);
          text = undefined;
        }
      }
    } else req.resume();
    if (!input || input.config.influx === false) return send(res, answerError('influx-v1', 404, { code: 'NOT_FOUND', message: 'the InfluxDB routes are not served' }));
    if (malformed) return send(res, answerError('influx-v1', 400, malformed));
    const who = await authenticateHttp(req, req.query as Record<string, unknown>, input);
    if (!who.ok) return send(res, answerError('influx-v1', who.status, who, who.retryAfterMs));
    const statement = influxStatement(text ?? '');
    if (statement.kind === 'create' || statement.kind === 'show-databases') {
      if (statement.kind === 'create') influxDatabases.add(statement.name);
      res.setHeader('X-Influxdb-Version', INFLUX_VERSION);
      res.status(200).type('application/json').send(statement.kind === 'create' ? createDatabaseAnswer(statement.name, req.method !== 'POST') : showDatabasesAnswer(influxDatabases.list()));
      return;
    }
    send(res, answerError('influx-v1', 400, { code: 'BAD_PARAMETER', message: 'only CREATE DATABASE (a no-op) and SHOW DATABASES are answered here; query stored readings with GET /api/v1/readings' }));
  }

  registerNode(RED, 'upperstack-http-in', UpperstackHttpInNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
