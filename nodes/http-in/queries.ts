/**
 * The read route of upperstack-http-in: CroMFlaG2's `GET /fetch/{device}`, for
 * the device itself (its login) or an API key with a read scope that covers the
 * device (sensitive fields masked unless the key may see them). The device metadata route
 * `GET /api/v1/devices/{device}` is the device registry's (nodes/shared/devices-routes.ts).
 */
import type { Request, Response } from 'express';
import { BadParameterError } from '../lib/errors';
import { bearerMatches } from '../lib/security/apikey';
import { looksLikeStoredKey } from '../lib/security/keys';
import { ADMIN, readsSome, type Access } from '../lib/security/scopes';
import { ForbiddenError, UpperstackError } from '../lib/errors';
import type { AuditInput } from '../lib/audit/audit';
import { keyStore } from '../shared/keys';
import { storeForAccess } from '../shared/access';
import { authenticateHttp } from './access';
import { deviceAuth } from '../shared/devices';
import { fetchBody } from '../lib/inputs/cromflag';
import { queryEncodingError } from '../lib/inputs/fast-path';
import { deviceInfo } from '../lib/api/devices';
import type { Reading } from '../lib/reading';
import type { ActiveHttpIn } from './active';

/** More readings than this in one /fetch is a 400 naming the range. */
export const FETCH_MAX = 100_000;
const PAGE = 10_000;

function sendError(res: Response, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  res.status(status).type('application/json').send(JSON.stringify({ error: { code, message, ...extra } }));
}

function epochParam(q: Record<string, unknown>, name: string): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(Array.isArray(v) ? v[0] : v);
  if (!Number.isSafeInteger(n)) throw new BadParameterError(name, `"${name}" must be epoch milliseconds, got "${String(v).slice(0, 40)}"`);
  return n;
}

/** The API key of the request: the query API key (admin) or a stored key with its scopes; undefined otherwise. */
async function keyAccess(authorization: string | undefined, apiKey: string): Promise<Access | undefined> {
  if (bearerMatches(authorization, apiKey)) return { actor: 'admin', scopes: [ADMIN] };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m || !looksLikeStoredKey(m[1])) return undefined;
  const found = await keyStore()?.verify(m[1]);
  return found ? { actor: `key:${found.id}`, scopes: found.scopes } : undefined;
}

/** Records a read in the audit log (folded when repeated). */
export type ReadAudit = (entry: AuditInput) => void;

export async function handleFetch(input: ActiveHttpIn | undefined, req: Request, res: Response, audit?: ReadAudit): Promise<void> {
  if (!input || input.config.cromflag === false) return sendError(res, 404, 'NOT_FOUND', '/fetch is not served: deploy an http in node with the CroMFlaG2 routes on');
  // As on the write routes: a login or range parameter sent as %FC would otherwise be read literally.
  const malformed = queryEncodingError(req.originalUrl);
  if (malformed) return sendError(res, 400, malformed.code, malformed.message, { parameter: malformed.details.parameter });
  if (!input.store) return sendError(res, 503, 'NO_STORE', 'the http in node has no store to read from');
  const q = req.query as Record<string, unknown>;
  const device = String(req.params.device);
  const access = await keyAccess(req.headers.authorization, input.apiKey);
  const remote = req.socket.remoteAddress;
  const record = (outcome: 'ok' | 'denied' | 'failed', reason?: string) =>
    audit?.({ actor: access?.actor ?? `device:${device.slice(0, 128)}`, action: 'query.fetch', via: 'api', target: device.slice(0, 128), remote, outcome, ...(reason ? { reason } : {}) });
  if (access && !readsSome(access.scopes)) {
    record('denied', 'FORBIDDEN');
    return sendError(res, 403, 'FORBIDDEN', `this API key (scopes ${access.scopes.join(', ')}) has no read scope`);
  }
  if (!access) {
    // A device reads back its own data (CroMFlaG2 dashboards log in as the device).
    const who = await authenticateHttp(req, req.query as Record<string, unknown>, input, device);
    const may = who.ok ? deviceAuth().canWrite(who.principal, device, 'http', req.socket.remoteAddress) : who;
    if (!may.ok) {
      if (may.status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="upperstack devices"');
      if (may.retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.ceil(may.retryAfterMs / 1000)));
      return sendError(res, may.status, may.code, may.message);
    }
  }
  try {
    const from = epochParam(q, 'from');
    const to = epochParam(q, 'to');
    // As the query API's routes answer an inverted range: an empty 200 would read as "no data there".
    if (from !== undefined && to !== undefined && from > to) {
      throw new BadParameterError('from', `"from" (${from}) is after "to" (${to}); "from" must be earlier`);
    }
    const store = access ? storeForAccess(access, input.store.store) : input.store.store;
    const rows: Array<Pick<Reading, 'ts' | 'fields'>> = [];
    let cursor: string | undefined;
    do {
      const page = await store.readings({ device, from, to, limit: PAGE, cursor });
      for (const r of page.readings) rows.push(r);
      if (rows.length > FETCH_MAX) throw new BadParameterError('from', `more than ${FETCH_MAX} readings between "from" and "to"; ask for a shorter range`);
      cursor = page.nextCursor;
    } while (cursor);
    // A device nothing was ever stored for is not there (404, as GET /api/v1/devices/{id} says of an unknown
    // id); one that has readings, only none in the range asked, is answered with an empty tsdata.
    const known = rows.length > 0 || ((from !== undefined || to !== undefined) && (await store.readings({ device, limit: 1 })).readings.length > 0);
    if (!known) {
      record('ok');
      return sendError(res, 404, 'NOT_FOUND', `no reading of device "${device.slice(0, 128)}" is stored`, { device: device.slice(0, 128) });
    }
    const info = await deviceInfo(store, device);
    record('ok');
    res.status(200).type('application/json').send(fetchBody(rows, info));
  } catch (err) {
    record(err instanceof ForbiddenError ? 'denied' : 'failed', err instanceof UpperstackError ? err.code : undefined);
    if (err instanceof ForbiddenError) return sendError(res, 403, err.code, err.message);
    if (err instanceof BadParameterError) return sendError(res, 400, err.code, err.message, { parameter: err.details.parameter });
    sendError(res, 503, 'STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
  }
}
