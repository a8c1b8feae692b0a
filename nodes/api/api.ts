/**
 * upperstack-api: the HTTP query API (readings, aggregates, anomaly backtests)
 * and /health on Node-RED's HTTP server.
 * Routes are added once per runtime and served by whichever api node is
 * deployed, so a redeploy never stacks duplicate routes.
 */
import type { Node, NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { errorResponse, handleQuery, type QueryResponse } from '../lib/api/handlers';
import type { QueryParams } from '../lib/api/params';
import { queryParams } from '../lib/api/query-string';
import { handleDeadLetters } from '../lib/api/deadletters';
import { handleReplay } from '../lib/api/replay';
import { replayTargetFor } from '../shared/replay';
import { handleBacktest, MAX_BODY_BYTES } from '../lib/api/backtest';
import { HTTP_CODES, httpErrorOf } from '../lib/api/http-errors';
import { healthJson } from '../lib/api/health-json';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { requiredStore } from '../shared/store-node';
import { upperstackSettings } from '../shared/runtime';
import { healthReport, watchHealth } from '../shared/health';
import { apiKeyInForce, installJsonErrors, JSON_CONTENT_TYPE, jsonBody, readsOwnBody, requireApiKey, sendError, sendFailure, useApiKey } from '../shared/http';
import { handleMetrics, metricsAccess, type MetricsAccess } from '../lib/metrics';
import { bearerMatches } from '../lib/security/apikey';
import { looksLikeStoredKey } from '../lib/security/keys';
import { auditRead, auditReplay, readerStore } from '../shared/access';
import { addKeyRoutes } from '../shared/keys-routes';
import * as grafana from '../lib/grafana/datasource';
import type { StoreConfigNode } from '../store-config/options';
import { apiMigrations, type ApiCredentials, type ApiNodeDef, type ApiOptions } from './options';
import { answerApiMethods } from '../shared/api-methods';

interface ActiveApi {
  node: Node;
  store: StoreConfigNode;
}

const BACKTEST_PATH = '/api/v1/anomaly/backtest';
const REPLAY_PATH = '/api/v1/deadletters/replay';

let active: ActiveApi | undefined;
// Keyed by app: tests (and embedders) may hand a fresh Express app to a cached module.
const routesAdded = new WeakSet<object>();

/** The deployed API; otherwise answers 503 itself. */
function deployed(res: Response): ActiveApi | undefined {
  if (!active) {
    // Also the moment of a deploy, while the flow restarts.
    res.setHeader('Retry-After', '1');
    return void sendError(res, 503, HTTP_CODES.notDeployed, 'no upperstack-api node is deployed');
  }
  if (!active.store.writer) {
    // Its store config could not start (the log and /health say so too): the reason, not a TypeError.
    return void sendError(res, 503, 'STORE_UNAVAILABLE', active.store.failure ?? 'the store config could not start (see the log)');
  }
  return active;
}

function reply(res: Response, work: Promise<QueryResponse>, log: (text: string) => void): void {
  work.then(
    (r) => {
      if (r.headers) res.set(r.headers);
      res.status(r.status).type(r.contentType).send(r.body);
    },
    (err: unknown) => sendFailure(res, err, log),
  );
}

export = function register(RED: NodeAPI): void {
  const log = (text: string) => RED.log.error(text);
  installJsonErrors(RED);
  addKeyRoutes(RED);
  readsOwnBody(BACKTEST_PATH);
  readsOwnBody(REPLAY_PATH);

  /** Runs a route on its query string, or answers the parameter it refuses as the route's own 400 would. */
  function withQuery(req: Request, run: (q: QueryParams) => Promise<QueryResponse>): Promise<QueryResponse> {
    let q: QueryParams;
    try {
      q = queryParams(req.query as Record<string, unknown>, req.originalUrl);
    } catch (err) {
      return Promise.resolve(errorResponse(err));
    }
    return run(q);
  }

  /** The device a request names, for the audit log, whether or not its query string is taken. */
  const deviceOf = (req: Request) => (typeof req.query.device === 'string' ? req.query.device : undefined);

  /** Answers, and records the read in the audit log (who, what, which device). */
  function audited(req: Request, action: string, target: string | undefined, work: Promise<QueryResponse>): Promise<QueryResponse> {
    return work.then((r) => {
      auditRead(RED, req, action, target, r.status);
      return r;
    });
  }

  function query(kind: 'readings' | 'aggregate') {
    return (req: Request, res: Response) => {
      const api = deployed(res);
      if (!api) return;
      const work = withQuery(req, (q) => handleQuery(readerStore(req, api.store.store), kind, q, req.headers.accept));
      reply(res, audited(req, `query.${kind}`, deviceOf(req), work), log);
    };
  }

  function deadLetters(req: Request, res: Response): void {
    const api = deployed(res);
    if (!api) return;
    const work = withQuery(req, (q) => handleDeadLetters(readerStore(req, api.store.store), q, req.headers.accept));
    reply(res, audited(req, 'query.deadletters', deviceOf(req), work), log);
  }

  function replay(req: Request, res: Response): void {
    const api = deployed(res);
    if (!api) return;
    const body = (req as { body?: unknown }).body;
    const filter: Record<string, unknown> = { ...req.query, ...(typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) };
    const work = withQuery(req, (q) => handleReplay(api.store.store, q, body, (l, input) => replayTargetFor(RED, l, input))).then((r) => {
      auditReplay(RED, req, filter, r.status, r.body);
      return r;
    });
    reply(res, work, log);
  }

  // A backtest only reads the series, so a read key may run one on the devices it may read (403 for the
  // others) and sees the values as the readings route serves them to it.
  function backtest(req: Request, res: Response): void {
    const api = deployed(res);
    if (!api) return;
    const body = (req as { body?: unknown }).body;
    const device = typeof body === 'object' && body !== null && typeof (body as { device?: unknown }).device === 'string' ? (body as { device: string }).device : undefined;
    reply(res, audited(req, 'query.backtest', device, handleBacktest(readerStore(req, api.store.store), body)), log);
  }

  function health(_req: Request, res: Response): void {
    healthReport(RED).then(
      (report) => {
        res.setHeader('Cache-Control', 'no-store');
        res.status(report.status === 'ok' ? 200 : 503).type(JSON_CONTENT_TYPE).send(JSON.stringify(healthJson(report)));
      },
      (err: unknown) => sendFailure(res, err, log),
    );
  }

  const metricsAdmin = requireApiKey(RED);

  /**
   * GET /metrics: Prometheus text; who may scrape is the metrics setting (see lib/metrics/http.ts).
   * A key made through /api/v1/keys is judged as on the other admin routes (403 naming the scope it
   * lacks, wrong secrets throttled), so a valid read key is not told that it is invalid.
   */
  function metrics(req: Request, res: Response): void {
    const access = metricsAccess(upperstackSettings(RED).metrics, apiKeyInForce(RED));
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (access.auth === 'key' && looksLikeStoredKey(bearer) && !access.tokens.some((t) => bearerMatches(req.headers.authorization, t))) {
      metricsAdmin(req, res, () => scrape(req, res, { auth: 'none', tokens: [] }));
      return;
    }
    scrape(req, res, access);
  }

  function scrape(req: Request, res: Response, access: MetricsAccess): void {
    void handleMetrics(req.headers.authorization, access).then((r) => {
      for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
      if (r.status !== 200) return sendError(res, r.status, (JSON.parse(r.body) as { error: { code: string } }).error.code, (JSON.parse(r.body) as { error: { message: string } }).error.message);
      // Set as is: Express would reorder the parameters of the exposition's content type.
      res.status(200).setHeader('Content-Type', r.contentType);
      res.end(r.body);
    });
  }

  /** Grafana's JSON datasource: POST <root>/<op> with a JSON body, answered with JSON. */
  function grafanaRoute(op: (store: StoreConfigNode['store'], body: unknown) => Promise<unknown>) {
    return (req: Request, res: Response): void => {
      const api = deployed(res);
      if (!api) return;
      op(readerStore(req, api.store.store), (req as { body?: unknown }).body).then(
        (body) => {
          auditRead(RED, req, `query.grafana.${req.path.split('/').pop()}`, undefined, 200);
          res.status(200).type('application/json').send(JSON.stringify(body));
        },
        (err: unknown) => {
          auditRead(RED, req, `query.grafana.${req.path.split('/').pop()}`, undefined, httpErrorOf(err).status);
          sendFailure(res, err, log);
        },
      );
    };
  }

  function UpperstackApiNode(this: Node<ApiCredentials>, def: ApiNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<ApiOptions>(def as unknown as Record<string, unknown>, apiMigrations);
    const store = requiredStore(RED, node, config.store);
    if (!store) return;
    const key = node.credentials?.apiKey || upperstackSettings(RED).apiKey || process.env.UPPERSTACK_API_KEY || '';
    if (!routesAdded.has(RED.httpNode)) {
      routesAdded.add(RED.httpNode);
      answerApiMethods(RED);
      // Admin routes need the admin scope; read routes any read scope, and serve what it sees (access.ts).
      const auth = requireApiKey(RED);
      const read = requireApiKey(RED, 'read');
      RED.httpNode.get('/api/v1/readings/aggregate', read, query('aggregate'));
      RED.httpNode.get('/api/v1/readings', read, query('readings'));
      RED.httpNode.get('/api/v1/deadletters', read, deadLetters);
      RED.httpNode.post(REPLAY_PATH, auth, jsonBody(MAX_BODY_BYTES, { optional: true }), replay);
      RED.httpNode.get('/health', health);
      RED.httpNode.post(BACKTEST_PATH, read, jsonBody(MAX_BODY_BYTES), backtest);
      RED.httpNode.get('/metrics', metrics);
      const G = '/api/v1/grafana';
      RED.httpNode.get([G, `${G}/`], read, (_req: Request, res: Response) => void res.status(200).type('application/json').send('{"status":"ok"}'));
      for (const [path, op] of Object.entries({ search: grafana.search, metrics: grafana.metrics, variable: grafana.variable, query: grafana.query, annotations: grafana.annotations })) {
        readsOwnBody(`${G}/${path}`);
        RED.httpNode.post(`${G}/${path}`, read, jsonBody(grafana.BODY_LIMIT), grafanaRoute(op));
      }
      const { warning } = metricsAccess(upperstackSettings(RED).metrics, undefined);
      if (warning) node.warn(warning);
    }
    active = { node, store };
    const releaseKey = useApiKey(node, key);
    const stopWatch = watchHealth(RED, node);
    if (store.failure) setStatus(node, 'failed', store.failure);
    else if (key) setStatus(node, 'connected', RED._('upperstack-api.status.serving'));
    else setStatus(node, 'failed', RED._('upperstack-api.errors.noKey'));
    onClose(node, () => {
      releaseKey();
      stopWatch();
      if (active?.node === node) active = undefined;
    });
  }

  registerNode(RED, 'upperstack-api', UpperstackApiNode, {
    credentials: { apiKey: { type: 'password' } },
  });
};
