/**
 * The read routes of upperstack-http-in: CroMFlaG2's `GET /fetch/{device}` and
 * the device metadata `GET /api/v1/devices/{device}`. /fetch follows the
 * device access rule (or takes the query API key); /api/v1/devices needs the
 * API key like the rest of /api/v1.
 */
import type { Request, Response } from 'express';
import { BadParameterError } from '../lib/errors';
import { bearerMatches } from '../lib/security/apikey';
import { checkAccess, presentedLogin } from '../lib/inputs/auth';
import { DEVICEINFO_PREFIX, fetchBody, type DeviceInfo } from '../lib/inputs/cromflag';
import type { FieldValue, Reading } from '../lib/reading';
import type { TimeSeriesStore } from '../lib/store/types';
import type { ActiveHttpIn } from './active';

/** More readings than this in one /fetch is a 400 naming the range. */
export const FETCH_MAX = 100_000;
const PAGE = 10_000;
// One bucket (floor(t / 8e15) is 0 for every time until the year 255,000): "last" over all of history.
const ALL_TIME_MS = 8e15;

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

/** The latest value of every deviceinfo key (deviceid is the device). */
export async function deviceInfo(store: TimeSeriesStore, device: string): Promise<DeviceInfo> {
  const info: DeviceInfo = { device, deviceinfo: { deviceid: device } };
  const summaries = store.devices ? await store.devices({}) : [];
  const fields = summaries.find((s) => s.device === device)?.fields.filter((f) => f.startsWith(DEVICEINFO_PREFIX)) ?? [];
  for (const field of fields) {
    const points = await store.aggregate({ device, field, everyMs: ALL_TIME_MS, fn: 'last' });
    const last = points[points.length - 1];
    if (last && last.value !== null) info.deviceinfo[field.slice(DEVICEINFO_PREFIX.length)] = last.value as FieldValue;
  }
  return info;
}

export async function handleFetch(input: ActiveHttpIn | undefined, req: Request, res: Response): Promise<void> {
  if (!input || input.config.cromflag === false) return sendError(res, 404, 'NOT_FOUND', '/fetch is not served: deploy an http in node with the CroMFlaG2 routes on');
  if (!input.store) return sendError(res, 503, 'NO_STORE', 'the http in node has no store to read from');
  const q = req.query as Record<string, unknown>;
  const byKey = bearerMatches(req.headers.authorization, input.apiKey);
  const access = byKey ? { ok: true as const } : checkAccess(presentedLogin(req.headers.authorization, { u: q.u as string, p: q.p as string }), input.login, input.bind);
  if (!access.ok) {
    res.setHeader('WWW-Authenticate', 'Basic realm="upperstack devices"');
    return sendError(res, 401, 'UNAUTHORIZED', access.message);
  }
  const device = String(req.params.device);
  try {
    const from = epochParam(q, 'from');
    const to = epochParam(q, 'to');
    const store = input.store.store;
    const rows: Array<Pick<Reading, 'ts' | 'fields'>> = [];
    let cursor: string | undefined;
    do {
      const page = await store.readings({ device, from, to, limit: PAGE, cursor });
      for (const r of page.readings) rows.push(r);
      if (rows.length > FETCH_MAX) throw new BadParameterError('from', `more than ${FETCH_MAX} readings between "from" and "to"; ask for a shorter range`);
      cursor = page.nextCursor;
    } while (cursor);
    const info = await deviceInfo(store, device);
    res.status(200).type('application/json').send(fetchBody(rows, info));
  } catch (err) {
    if (err instanceof BadParameterError) return sendError(res, 400, err.code, err.message, { parameter: err.details.parameter });
    sendError(res, 503, 'STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
  }
}

export async function handleDeviceInfo(input: ActiveHttpIn | undefined, req: Request, res: Response): Promise<void> {
  if (!input || !input.store) return sendError(res, 404, 'NOT_FOUND', 'no http in node with a store is deployed');
  if (!input.apiKey || !bearerMatches(req.headers.authorization, input.apiKey)) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return sendError(res, 401, 'UNAUTHORIZED', 'a valid API key is required: send "Authorization: Bearer <key>"');
  }
  try {
    const info = await deviceInfo(input.store.store, String(req.params.device));
    res.status(200).type('application/json').send(JSON.stringify({ device: info.device, deviceinfo: info.deviceinfo }));
  } catch (err) {
    sendError(res, 503, 'STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
  }
}
