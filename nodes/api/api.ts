/**
 * upperstack-api: the HTTP query API (readings, aggregates, anomaly backtests)
 * and /health on Node-RED's HTTP server.
 * Routes are added once per runtime and served by whichever api node is
 * deployed, so a redeploy never stacks duplicate routes.
 */
import type { Node, NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { handleQuery, type QueryResponse } from '../lib/api/handlers';
import { backtestErrorResponse, handleBacktest, MAX_BODY_BYTES } from '../lib/api/backtest';
import { bearerMatches } from '../lib/security/apikey';
import { journalBacklog } from '../lib/journal/receipts';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { checkHealth, upperstackSettings } from '../shared/runtime';
import { readBody } from '../shared/body';
import { handleMetrics, metricsAccess, startSampling } from '../lib/metrics';
import type { StoreConfigNode } from '../store-config/options';
import { apiMigrations, type ApiCredentials, type ApiNodeDef, type ApiOptions } from './options';

interface ActiveApi {
  node: Node;
  store: StoreConfigNode;
  key: string;
}

let active: ActiveApi | undefined;
// Keyed by app: tests (and embedders) may hand a fresh Express app to a cached module.
const routesAdded = new WeakSet<object>();

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).type('application/json').send(JSON.stringify({ error: { code, message } }));
}

/** The deployed API when the request carries its key; otherwise answers the request itself. */
function authorized(req: Request, res: Response): ActiveApi | undefined {
  const api = active;
  if (!api) return void sendError(res, 503, 'NOT_DEPLOYED', 'no upperstack-api node is deployed');
  if (!api.key) return void sendError(res, 401, 'UNAUTHORIZED', 'no API key is configured: set UPPERSTACK_API_KEY');
  if (!bearerMatches(req.headers.authorization, api.key)) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return void sendError(res, 401, 'UNAUTHORIZED', 'a valid API key is required: send "Authorization: Bearer <key>"');
  }
  return api;
}

function reply(res: Response, work: Promise<QueryResponse>): void {
  work.then(
    (r) => res.status(r.status).type(r.contentType).send(r.body),
    (err: Error) => sendError(res, 500, 'INTERNAL', err.message),
  );
}

function query(kind: 'readings' | 'aggregate') {
  return (req: Request, res: Response) => {
    const api = authorized(req, res);
    if (!api) return;
    const q: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.query)) q[k] = Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : undefined;
    reply(res, handleQuery(api.store.store, kind, q, req.headers.accept));
  };
}

function backtest(req: Request, res: Response): void {
  const api = authorized(req, res);
  if (!api) {
    // Drained, so a kept-alive connection can carry the client's next request.
    req.resume();
    return;
  }
  reply(
    res,
    readBody(req, MAX_BODY_BYTES).then(
      (body) => handleBacktest(api.store.store, body),
      (err: unknown) => backtestErrorResponse(err),
    ),
  );
}

async function health(_req: Request, res: Response): Promise<void> {
  const components = await checkHealth();
  const backlog = journalBacklog();
  const failing = Object.entries(components).filter(([, c]) => !c.ok).map(([name]) => name);
  const body = {
    status: failing.length ? 'failing' : 'ok',
    failing,
    components,
    journal: { pending: backlog.pending, bytes: backlog.bytes },
  };
  res.status(failing.length ? 503 : 200).type('application/json').send(JSON.stringify(body));
}

/** GET /metrics: Prometheus text; who may scrape is the metrics setting (see lib/metrics/http.ts). */
function metrics(RED: NodeAPI) {
  return (req: Request, res: Response): void => {
    const access = metricsAccess(upperstackSettings(RED).metrics, active?.key || upperstackSettings(RED).apiKey || process.env.UPPERSTACK_API_KEY);
    void handleMetrics(req.headers.authorization, access).then((r) => {
      for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
      // Set as is: Express would reorder the parameters of the exposition's content type.
      res.status(r.status).setHeader('Content-Type', r.contentType);
      res.end(r.body);
    });
  };
}

export = function register(RED: NodeAPI): void {
  function UpperstackApiNode(this: Node<ApiCredentials>, def: ApiNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<ApiOptions>(def as unknown as Record<string, unknown>, apiMigrations);
    const store = RED.nodes.getNode(config.store) as StoreConfigNode | null;
    if (!store) {
      setStatus(node, 'failed', RED._('upperstack-api.errors.noStore'));
      node.error(RED._('upperstack-api.errors.noStore'));
      return;
    }
    const key = node.credentials?.apiKey || upperstackSettings(RED).apiKey || process.env.UPPERSTACK_API_KEY || '';
    if (!routesAdded.has(RED.httpNode)) {
      routesAdded.add(RED.httpNode);
      RED.httpNode.get('/api/v1/readings/aggregate', query('aggregate'));
      RED.httpNode.get('/api/v1/readings', query('readings'));
      RED.httpNode.get('/health', (req, res) => void health(req, res));
      RED.httpNode.post('/api/v1/anomaly/backtest', backtest);
      RED.httpNode.get('/metrics', metrics(RED));
      const { warning } = metricsAccess(upperstackSettings(RED).metrics, undefined);
      if (warning) node.warn(warning);
    }
    startSampling();
    active = { node, store, key };
    if (key) setStatus(node, 'connected', RED._('upperstack-api.status.serving'));
    else setStatus(node, 'failed', RED._('upperstack-api.errors.noKey'));
    onClose(node, () => {
      if (active?.node === node) active = undefined;
    });
  }

  registerNode(RED, 'upperstack-api', UpperstackApiNode, {
    credentials: { apiKey: { type: 'password' } },
  });
};
