/**
 * Routes of the device registry: the admin API under /api/v1/devices (API key)
 * and the editor's routes under /upperstack/devices (editor login, permission
 * `upperstack-devices.read` / `.write`), which the devices node's table uses.
 * Both answer from the deployed devices node; changes are audited.
 */
import type { NodeAPI } from 'node-red';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createDevice, listDevices, patchDevice, readDevice, removeDevice, rotateDevice, type ApiAnswer } from '../lib/api/devices';
import { HTTP_CODES } from '../lib/api/http-errors';
import { deployedDevices, metadataStore, type DevicesRuntime } from './devices';
import { installJsonErrors, jsonBody, JSON_CONTENT_TYPE, readsOwnBody, requireApiKey, sendError, sendFailure } from './http';
import { answerApiMethods } from './api-methods';

const BODY_LIMIT = 64 * 1024;
const added = new WeakSet<object>();

export interface Caller {
  actor: string;
  via: 'api' | 'editor';
  remote?: string;
}

function deployed(res: Response): DevicesRuntime | undefined {
  const rt = deployedDevices();
  if (!rt) sendError(res, 503, HTTP_CODES.notDeployed, 'no upperstack-devices node is deployed: add one to the flows (the default pack has it) and deploy');
  return rt;
}

function answer(res: Response, a: ApiAnswer): void {
  res.status(a.status).type(JSON_CONTENT_TYPE).send(JSON.stringify(a.body));
}

type Work = (rt: DevicesRuntime, req: Request, caller: Caller) => Promise<ApiAnswer> | ApiAnswer;

export function addDeviceRoutes(RED: NodeAPI): void {
  answerApiMethods(RED);
  if (added.has(RED.httpNode)) return;
  added.add(RED.httpNode);
  installJsonErrors(RED);
  const log = (text: string) => RED.log.error(text);

  const handle = (via: Caller['via'], work: Work, audit?: (req: Request) => { action: string; target?: string }) => (req: Request, res: Response) => {
    const rt = deployed(res);
    if (!rt) return;
    const user = (req as { user?: { username?: string } }).user?.username;
    const caller: Caller = { actor: via === 'editor' ? `user:${user ?? 'editor'}` : String((req as { upperstackActor?: string }).upperstackActor ?? 'admin'), via, remote: req.socket.remoteAddress };
    Promise.resolve()
      .then(() => work(rt, req, caller))
      .then(
        (a) => {
          if (audit) {
            const { action, target } = audit(req);
            const device = (a.body as { device?: unknown }).device;
            const id = typeof device === 'object' && device !== null ? String((device as { id?: unknown }).id) : target;
            rt.audit?.record({ actor: caller.actor, action, via, target: id, remote: caller.remote, outcome: 'ok', after: typeof device === 'object' ? device : undefined });
          }
          answer(res, a);
        },
        (err: unknown) => {
          if (audit) {
            const { action, target } = audit(req);
            rt.audit?.record({ actor: caller.actor, action, via, target, remote: caller.remote, outcome: 'failed', reason: (err as { code?: string }).code, note: err instanceof Error ? err.message : String(err) });
          }
          sendFailure(res, err, log);
        },
      );
  };

  const id = (req: Request) => String(req.params.id);
  const list: Work = (rt) => listDevices(rt.registry);
  const create: Work = (rt, req) => createDevice(rt.registry, (req as { body?: unknown }).body);
  const patch: Work = (rt, req) => patchDevice(rt.registry, id(req), (req as { body?: unknown }).body);
  const rotate: Work = (rt, req) => rotateDevice(rt.registry, id(req));
  const remove: Work = (rt, req) => removeDevice(rt.registry, id(req));
  const actionOfPatch = (req: Request) => {
    const b = (req as { body?: { enabled?: unknown } }).body;
    return { action: b && b.enabled === false ? 'device.disable' : b && b.enabled === true ? 'device.enable' : 'device.update', target: id(req) };
  };

  // Admin API (API key).
  const key = requireApiKey(RED);
  readsOwnBody('/api/v1/devices');
  readsOwnBody(/^\/api\/v1\/devices\/[^/]+$/);
  RED.httpNode.get('/api/v1/devices', key, handle('api', list));
  RED.httpNode.post('/api/v1/devices', key, jsonBody(BODY_LIMIT), handle('api', create, () => ({ action: 'device.add' })));
  RED.httpNode.get('/api/v1/devices/:id', key, (req: Request, res: Response) => {
    const rt = deployedDevices();
    const store = metadataStore();
    if (!rt && !store) return sendError(res, 404, HTTP_CODES.notFound, 'no upperstack-devices node and no http in node with a store are deployed');
    readDevice(rt?.registry, store, id(req)).then((a) => answer(res, a), (err: unknown) => sendFailure(res, err, log));
  });
  RED.httpNode.patch('/api/v1/devices/:id', key, jsonBody(BODY_LIMIT), handle('api', patch, actionOfPatch));
  RED.httpNode.post('/api/v1/devices/:id/rotate', key, handle('api', rotate, (req) => ({ action: 'device.rotate', target: id(req) })));
  RED.httpNode.delete('/api/v1/devices/:id', key, handle('api', remove, (req) => ({ action: 'device.remove', target: id(req) })));

  // The editor's table (editor login).
  const auth = (RED as unknown as { auth: { needsPermission(p: string): RequestHandler } }).auth;
  const may = (p: string): RequestHandler => (auth?.needsPermission ? auth.needsPermission(p) : (_req: Request, _res: Response, next: NextFunction) => next());
  const R = 'upperstack-devices.read';
  const W = 'upperstack-devices.write';
  readsOwnBody('/upperstack/devices');
  readsOwnBody(/^\/upperstack\/devices\/[^/]+$/);
  RED.httpAdmin.get('/upperstack/devices', may(R), handle('editor', list));
  RED.httpAdmin.post('/upperstack/devices', may(W), jsonBody(BODY_LIMIT), handle('editor', create, () => ({ action: 'device.add' })));
  RED.httpAdmin.patch('/upperstack/devices/:id', may(W), jsonBody(BODY_LIMIT), handle('editor', patch, actionOfPatch));
  RED.httpAdmin.post('/upperstack/devices/:id/rotate', may(W), handle('editor', rotate, (req) => ({ action: 'device.rotate', target: id(req) })));
  RED.httpAdmin.delete('/upperstack/devices/:id', may(W), handle('editor', remove, (req) => ({ action: 'device.remove', target: id(req) })));
}
