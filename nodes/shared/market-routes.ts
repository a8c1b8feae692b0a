/**
 * Routes of the data market's grants under /api/v1/grants (admin: the same API
 * key check as /api/v1/devices). They answer from the deployed devices node's
 * market; each change is audited.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { createGrant, deleteGrant, listGrants } from '../lib/api/grants';
import { queryParams } from '../lib/api/query-string';
import type { ApiAnswer } from '../lib/api/devices';
import { HTTP_CODES } from '../lib/api/http-errors';
import type { Market } from '../lib/devices/market';
import { deployedDevices, type DevicesRuntime } from './devices';
import { installJsonErrors, jsonBody, JSON_CONTENT_TYPE, readsOwnBody, requireApiKey, sendError, sendFailure } from './http';
import { answerApiMethods } from './api-methods';

const BODY_LIMIT = 16 * 1024;
const added = new WeakSet<object>();

function answer(res: Response, a: ApiAnswer): void {
  res.status(a.status).type(JSON_CONTENT_TYPE).send(JSON.stringify(a.body));
}

export function addGrantRoutes(RED: NodeAPI): void {
  answerApiMethods(RED);
  if (added.has(RED.httpNode)) return;
  added.add(RED.httpNode);
  installJsonErrors(RED);
  const log = (text: string) => RED.log.error(text);

  const handle =
    (work: (market: Market, req: Request, actor: string) => Promise<ApiAnswer> | ApiAnswer, action?: string) => (req: Request, res: Response) => {
      const rt: DevicesRuntime | undefined = deployedDevices();
      const market = rt?.market;
      if (!rt || !market) {
        req.resume();
        return sendError(res, 503, HTTP_CODES.notDeployed, 'no upperstack-devices node is deployed: grants live in its registry; add one (the default pack has it) and deploy');
      }
      const actor = String((req as { upperstackActor?: string }).upperstackActor ?? 'admin');
      const remote = req.socket.remoteAddress;
      Promise.resolve()
        .then(() => work(market, req, actor))
        .then(
          (a) => {
            const grant = (a.body as { grant?: { id?: string; client?: string; device?: string; expiresAt?: string } }).grant;
            if (action) rt.audit?.record({ actor, action, via: 'api', target: grant?.id, remote, outcome: 'ok', after: grant ? { client: grant.client, device: grant.device, expiresAt: grant.expiresAt } : undefined });
            answer(res, a);
          },
          (err: unknown) => {
            if (action) rt.audit?.record({ actor, action, via: 'api', target: req.params.id === undefined ? undefined : String(req.params.id), remote, outcome: 'failed', reason: (err as { code?: string }).code, note: err instanceof Error ? err.message : String(err) });
            sendFailure(res, err, log);
          },
        );
    };

  const key = requireApiKey(RED);
  readsOwnBody('/api/v1/grants');
  RED.httpNode.get('/api/v1/grants', key, handle((m, req) => listGrants(m, queryParams(req.query as Record<string, unknown>, req.originalUrl))));
  RED.httpNode.post('/api/v1/grants', key, jsonBody(BODY_LIMIT), handle((m, req) => createGrant(m, (req as { body?: unknown }).body, 'api'), 'grant.create'));
  RED.httpNode.get('/api/v1/grants/:id', key, handle((m, req) => {
    const g = m.get(String(req.params.id));
    if (!g) return { status: 404, body: { error: { code: HTTP_CODES.notFound, message: `no grant "${String(req.params.id).slice(0, 64)}"` } } };
    return { status: 200, body: { grant: g } };
  }));
  RED.httpNode.delete('/api/v1/grants/:id', key, handle((m, req) => deleteGrant(m, String(req.params.id)), 'grant.revoke'));
}
