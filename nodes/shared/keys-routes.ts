/**
 * Admin routes of API keys and the audit log (admin scope):
 *
 *   GET    /api/v1/keys          the keys (never their secrets), revoked ones included
 *   POST   /api/v1/keys          {"name","scopes":[...]} → 201 {key, apiKey}: the key, shown once
 *   DELETE /api/v1/keys/{id}     revokes it at once
 *   GET    /api/v1/audit         the audit log, newest first (lib/api/audit.ts)
 *
 * Keys live in the device registry's store, so the key routes need a deployed
 * upperstack-devices node (503 otherwise); the key of the settings works without.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { handleAudit } from '../lib/api/audit';
import { errorResponse, type QueryResponse } from '../lib/api/handlers';
import { queryParams } from '../lib/api/query-string';
import { HTTP_CODES } from '../lib/api/http-errors';
import type { ApiKeyStore } from '../lib/security/keys';
import { installJsonErrors, jsonBody, JSON_CONTENT_TYPE, readsOwnBody, requireApiKey, sendError, sendFailure } from './http';
import { auditOf, endKeySessions, keyStore } from './keys';
import { answerApiMethods } from './api-methods';

const BODY_LIMIT = 16 * 1024;
const added = new WeakSet<object>();


export function addKeyRoutes(RED: NodeAPI): void {
  answerApiMethods(RED);
  if (added.has(RED.httpNode)) return;
  added.add(RED.httpNode);
  installJsonErrors(RED);
  const log = (text: string) => RED.log.error(text);
  const admin = requireApiKey(RED);
  const actor = (req: Request) => String((req as { upperstackActor?: string }).upperstackActor ?? 'admin');

  const store = (res: Response): ApiKeyStore | undefined => {
    const s = keyStore();
    if (!s) sendError(res, 503, HTTP_CODES.notDeployed, 'API keys are kept in the device registry: deploy an upperstack-devices node (the default pack has one)');
    return s;
  };
  const json = (res: Response, status: number, body: unknown) => res.status(status).type(JSON_CONTENT_TYPE).send(JSON.stringify(body));

  readsOwnBody('/api/v1/keys');
  RED.httpNode.get('/api/v1/keys', admin, (_req: Request, res: Response) => {
    const s = store(res);
    if (!s) return;
    s.list().then((keys) => json(res, 200, { keys }), (err: unknown) => sendFailure(res, err, log));
  });

  RED.httpNode.post('/api/v1/keys', admin, jsonBody(BODY_LIMIT), (req: Request, res: Response) => {
    const s = store(res);
    if (!s) return;
    const body = (req as { body?: unknown }).body;
    const input = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { name?: unknown; scopes?: unknown }) : undefined;
    if (!input) return sendError(res, 400, 'BAD_PARAMETER', 'the body must be a JSON object {"name": "...", "scopes": ["read:tag=customer:acme"]}', { parameter: 'body' });
    const remote = req.socket.remoteAddress;
    s.create(input).then(
      (issued) => {
        auditOf(RED).record({ actor: actor(req), action: 'key.add', via: 'api', target: `key:${issued.apiKey.id}`, remote, outcome: 'ok', after: issued.apiKey });
        json(res, 201, { key: issued.key, apiKey: issued.apiKey, note: 'the key is shown only now: it is kept as a hash' });
      },
      (err: unknown) => {
        auditOf(RED).record({ actor: actor(req), action: 'key.add', via: 'api', remote, outcome: 'failed', reason: (err as { code?: string }).code, note: err instanceof Error ? err.message : String(err) });
        sendFailure(res, err, log);
      },
    );
  });

  RED.httpNode.delete('/api/v1/keys/:id', admin, (req: Request, res: Response) => {
    const s = store(res);
    if (!s) return;
    const id = String(req.params.id).slice(0, 40);
    s.revoke(id).then(
      (apiKey) => {
        // Dashboards logged in to the broker with it are disconnected at once.
        endKeySessions(id);
        auditOf(RED).record({ actor: actor(req), action: 'key.revoke', via: 'api', target: `key:${id}`, remote: req.socket.remoteAddress, outcome: 'ok', after: apiKey });
        json(res, 200, { apiKey, revoked: true });
      },
      (err: unknown) => sendFailure(res, err, log),
    );
  });

  RED.httpNode.get('/api/v1/audit', admin, (req: Request, res: Response) => {
    let r: QueryResponse;
    try {
      r = handleAudit(auditOf(RED), queryParams(req.query as Record<string, unknown>, req.originalUrl));
    } catch (err) {
      r = errorResponse(err);
    }
    res.status(r.status).type(r.contentType).send(r.body);
  });
}
