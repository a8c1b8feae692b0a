/**
 * HTTP routes of the alert service:
 * - /api/v1/rules, /api/v1/alerts on Node-RED's HTTP server, with the API key
 *   (an "admin" scope for keys comes with per-device keys; until then any valid key);
 * - /upperstack-alert/... on the admin API for the editor dialog and the page,
 *   with Node-RED's login: permission upperstack-alert.read to look,
 *   upperstack-alert.ack to acknowledge and silence, upperstack-alert.write to edit rules;
 * - /upperstack/alerts, the standalone page.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { installJsonErrors, jsonBody, readsOwnBody, requireApiKey } from '../shared/http';
import { nonFiniteRuleError } from '../lib/rules/validate';
import { routeParams } from '../lib/api/query-string';
import type { StoreConfigNode } from '../store-config/options';
import * as h from './handlers';
import { serviceFor } from './service';
import { answerApiMethods } from '../shared/api-methods';

const MAX_BODY = 1024 * 1024;
const added = new WeakSet<object>();

type Q = Record<string, string | undefined>;

function param(req: Request): string {
  const id = (req.params as Record<string, string | string[]>).id;
  return Array.isArray(id) ? id.join('/') : id;
}

/** The parameters of a route that takes `known`, each once, by name, as valid percent-encoding, as the query API's. */
function query(req: Request, known: readonly string[]): Q {
  return routeParams(req.query as Record<string, unknown>, req.originalUrl, known, req.baseUrl + req.path);
}
/** The revision a save was made on (If-Match: "<revision>"); none, or "*": save whatever the rule is now. */
function ifMatch(req: Request): string | undefined {
  const v = req.headers['if-match'];
  const tag = typeof v === 'string' ? v.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1') : '';
  return tag === '' || tag === '*' ? undefined : tag;
}
const ALERTS_PARAMS = ['state', 'device', 'rule', 'from', 'to'];
const HISTORY_PARAMS = ['limit'];
const IMPORT_PARAMS = ['mode'];

function send(res: Response, a: h.Answer): void {
  if (a.body === undefined) res.status(a.status).end();
  else res.status(a.status).type('application/json').send(JSON.stringify(a.body));
}

/** Runs a handler (after jsonBody() for routes with a body); every failure becomes a JSON error. */
function route(work: (req: Request, body: unknown) => h.Answer | Promise<h.Answer>) {
  return (req: Request, res: Response) => {
    Promise.resolve()
      .then(() => work(req, (req as Request & { body?: unknown }).body))
      .then(
        (a) => send(res, a),
        (err: unknown) => send(res, h.errorAnswer(err)),
      );
  };
}

/** The store a preview replays: the one chosen in the dialog, else the deployed alert node's, else the only one. */
function storeOf(RED: NodeAPI, id: unknown): StoreConfigNode['store'] | undefined {
  if (typeof id === 'string' && id) return (RED.nodes.getNode(id) as StoreConfigNode | null)?.store;
  let only: StoreConfigNode | undefined;
  let count = 0;
  RED.nodes.eachNode((n: { id: string; type: string }) => {
    if (n.type !== 'upperstack-store-config') return;
    count++;
    only = (RED.nodes.getNode(n.id) as StoreConfigNode | null) ?? undefined;
  });
  return count === 1 ? only?.store : undefined;
}

interface AdminUser {
  username?: string;
  permissions?: string | string[];
}

/** Node-RED's own permission rule: "*" all, "read" any *.read, else an exact match. */
export function allowed(scope: string | string[] | undefined, permission: string): boolean {
  if (scope === undefined) return true;
  const list = Array.isArray(scope) ? scope : [scope];
  return list.some((s) => s === '*' || s === permission || ((s === 'read' || s === '*.read') && permission.endsWith('.read')));
}

function userOf(req: Request): AdminUser | undefined {
  return (req as Request & { user?: AdminUser }).user;
}

function scopeOf(req: Request): string | string[] | undefined {
  const info = (req as Request & { authInfo?: { scope?: string | string[] } }).authInfo;
  return info?.scope ?? userOf(req)?.permissions;
}

export function registerAlertRoutes(RED: NodeAPI): void {
  answerApiMethods(RED);
  const svc = serviceFor(RED);
  const api = RED.httpNode;
  if (!added.has(api)) {
    added.add(api);
    const key = requireApiKey(RED);
    const body = jsonBody(MAX_BODY);
    const ruleBody = jsonBody(MAX_BODY, { nonFinite: nonFiniteRuleError });
    const who = { actor: 'api', via: 'api' };
    api.get('/api/v1/rules', key, route(() => h.listRules(svc)));
    api.post('/api/v1/rules/import', key, ruleBody, route((req, b) => h.importRules(svc, b, query(req, IMPORT_PARAMS).mode, who)));
    api.post('/api/v1/rules', key, ruleBody, route((_req, b) => h.createRule(svc, b, who)));
    api.get('/api/v1/rules/:id', key, route((req) => h.getRule(svc, param(req))));
    api.put('/api/v1/rules/:id', key, ruleBody, route((req, b) => h.updateRule(svc, param(req), b, who, ifMatch(req))));
    api.delete('/api/v1/rules/:id', key, route((req) => h.deleteRule(svc, param(req), who)));
    api.get('/api/v1/alerts', key, route((req) => h.listAlerts(svc, query(req, ALERTS_PARAMS))));
    api.get('/api/v1/alerts/history', key, route((req) => h.history(svc, query(req, HISTORY_PARAMS))));
    api.get('/api/v1/alerts/:id', key, route((req) => h.getAlert(svc, param(req))));
    api.post('/api/v1/alerts/:id/ack', key, body, route((req, b) => h.acknowledge(svc, param(req), b, who)));
    api.post('/api/v1/alerts/:id/silence', key, body, route((req, b) => h.silence(svc, param(req), b, who)));
  }
  const admin = RED.httpAdmin;
  if (!added.has(admin)) {
    added.add(admin);
    installJsonErrors(RED);
    // The admin app parses every JSON body up to 5 MB first; these routes read theirs with their own limit.
    readsOwnBody(/^\/upperstack-alert\//);
    const body = jsonBody(MAX_BODY);
    // Rules keep their error shape (RULE_INVALID with the pointer), which the editor's form places under the field.
    const ruleBody = jsonBody(MAX_BODY, { nonFinite: nonFiniteRuleError });
    const read = RED.auth.needsPermission('upperstack-alert.read');
    // Logged in (read) but without the permission: 403 with a reason, where Node-RED would answer a bare 401.
    const may = (permission: string) => [
      read,
      (req: Request, res: Response, next: () => void) => {
        if (allowed(scopeOf(req), permission)) return next();
        req.resume();
        send(res, { status: 403, body: { error: { code: 'FORBIDDEN', message: `${userOf(req)?.username ?? 'this user'} may not do this: it needs the permission ${permission} (role ${permission.endsWith('.ack') ? 'operator' : 'rules-editor'})` } } });
      },
    ];
    const ack = may('upperstack-alert.ack');
    const write = may('upperstack-alert.write');
    const who = (req: Request) => ({ actor: userOf(req)?.username ?? 'editor', via: String(req.headers['x-upperstack-via'] ?? 'editor') === 'page' ? 'page' : 'editor' });
    const base = '/upperstack-alert';
    admin.get(`${base}/me`, read, route((req) => {
      const scope = scopeOf(req);
      return { status: 200, body: { user: userOf(req)?.username ?? null, can: { read: true, ack: allowed(scope, 'upperstack-alert.ack'), write: allowed(scope, 'upperstack-alert.write') }, deployed: !!svc.attached } };
    }));
    admin.get(`${base}/rules`, read, route(() => h.listRules(svc)));
    admin.post(`${base}/rules/import`, write, ruleBody, route((req, b) => h.importRules(svc, b, query(req, IMPORT_PARAMS).mode, who(req))));
    admin.post(`${base}/rules`, write, ruleBody, route((req, b) => h.createRule(svc, b, who(req))));
    admin.put(`${base}/rules/:id`, write, ruleBody, route((req, b) => h.updateRule(svc, param(req), b, who(req), ifMatch(req))));
    admin.delete(`${base}/rules/:id`, write, route((req) => h.deleteRule(svc, param(req), who(req))));
    admin.post(`${base}/validate`, read, ruleBody, route((_req, b) => h.validate(b)));
    admin.post(`${base}/preview`, read, ruleBody, route((_req, b) => h.preview(svc, b, storeOf(RED, (b as { store?: unknown } | undefined)?.store))));
    admin.get(`${base}/alerts`, read, route((req) => h.listAlerts(svc, query(req, ALERTS_PARAMS))));
    admin.get(`${base}/history`, read, route((req) => h.history(svc, query(req, HISTORY_PARAMS))));
    admin.post(`${base}/alerts/:id/ack`, ack, body, route((req, b) => h.acknowledge(svc, param(req), b, who(req), userOf(req)?.username)));
    admin.post(`${base}/alerts/:id/silence`, ack, body, route((req, b) => h.silence(svc, param(req), b, who(req), userOf(req)?.username)));
    const page = join(__dirname, 'page', 'alerts-page.html');
    admin.get('/upperstack/alerts', (_req: Request, res: Response) => {
      res.status(200).type('text/html').set('Cache-Control', 'no-store').send(readFileSync(page, 'utf8'));
    });
  }
}
