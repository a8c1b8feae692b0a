/**
 * What the read routes (query API, fetch, Grafana, dead letters) serve to the
 * key that asks: the store as its scopes see it (nodes/lib/security/scoped-store.ts),
 * and an audit entry for the access.
 */
import type { NodeAPI } from 'node-red';
import type { Request } from 'express';
import { ScopedStore } from '../lib/security/scoped-store';
import { isAdmin, seesSensitive, type Access } from '../lib/security/scopes';
import type { TimeSeriesStore } from '../lib/store/types';
import { accessOf } from './http';
import { auditOf, keySeesDevice, sensitiveMasks } from './keys';

/** The store as this caller may read it: all of it for an admin key, a filtered and masked view otherwise. */
export function storeForAccess(access: Access, store: TimeSeriesStore): TimeSeriesStore {
  if (isAdmin(access.scopes)) return store;
  const masks = seesSensitive(access.scopes) ? undefined : sensitiveMasks();
  return new ScopedStore(store, { sees: (device) => keySeesDevice(access.scopes, device), masks, describe: `scopes ${access.scopes.join(', ')}` });
}

/** The store as the caller of this request (let through by requireApiKey) may read it. */
export function readerStore(req: Request, store: TimeSeriesStore): TimeSeriesStore {
  return storeForAccess(accessOf(req), store);
}

/**
 * Records a read of the query API in the audit log: who, which route, which
 * device, from where. The same read repeated (a dashboard polling) is folded
 * into one entry per quiet window with its count.
 */
export function auditRead(RED: NodeAPI, req: Request, action: string, target: string | undefined, status: number): void {
  const access = accessOf(req);
  const outcome = status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : 'failed';
  auditOf(RED).refusal({ actor: access.actor, action, via: 'api', target: target?.slice(0, 128), remote: req.socket.remoteAddress, outcome, ...(status >= 400 ? { reason: String(status) } : {}) });
}

/**
 * Records a dead-letter replay: it puts messages back into the pipeline, so an auditor
 * must see who did it, on what filter, and what went back in (ids capped; the count is exact).
 */
export function auditReplay(RED: NodeAPI, req: Request, filter: Record<string, unknown>, status: number, body: string): void {
  const access = accessOf(req);
  const outcome = status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : 'failed';
  const device = typeof filter.device === 'string' ? filter.device.slice(0, 128) : undefined;
  const before: Record<string, unknown> = { ...filter };
  if (Array.isArray(before.ids)) before.ids = before.ids.slice(0, 100);
  else if (typeof before.ids === 'string') before.ids = before.ids.slice(0, 600);
  let after: unknown;
  let note: string | undefined;
  try {
    const r = JSON.parse(body) as { replayed?: number; ids?: number[]; skipped?: unknown[]; error?: { code?: string; message?: string } };
    if (status < 400) {
      after = { replayed: r.replayed ?? 0, ids: (r.ids ?? []).slice(0, 100), skipped: r.skipped?.length ?? 0 };
      note = `replayed ${r.replayed ?? 0}, skipped ${r.skipped?.length ?? 0}`;
    } else note = r.error?.message?.slice(0, 300);
  } catch {
    // An answer that is not JSON still gets its entry, without the figures.
  }
  auditOf(RED).record({ actor: access.actor, action: 'deadletters.replay', via: 'api', target: device, remote: req.socket.remoteAddress, outcome, ...(status >= 400 ? { reason: String(status) } : {}), before, after, note });
}
