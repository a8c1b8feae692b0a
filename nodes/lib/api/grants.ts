/**
 * The data market's HTTP API without a transport (routes in
 * nodes/shared/market-routes.ts): create, list and delete grants. A new
 * client's password is in the answer to the request that made it, and
 * nowhere else, ever.
 */
import { BadParameterError } from '../errors';
import type { Market } from '../devices/market';
import type { ApiAnswer } from './devices';

const ALLOWED = new Set(['client', 'device', 'minutes']);

export async function createGrant(market: Market, input: unknown, by: string): Promise<ApiAnswer> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new BadParameterError('body', 'the body must be a JSON object, e.g. {"client":"john","device":"plug1","minutes":60}');
  }
  const b = input as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!ALLOWED.has(k)) throw new BadParameterError(k, `"${k.slice(0, 40)}" is not a grant property; use client, device, minutes`);
  const issued = await market.grant({ client: b.client, device: b.device, minutes: b.minutes, by });
  const body: Record<string, unknown> = { grant: issued.grant };
  if (issued.login) {
    body.login = issued.login;
    body.note = 'the password is shown only now: it is kept as a hash';
  }
  return { status: 201, body };
}

function oneText(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '' || v.length > 128) throw new BadParameterError(name, `"${name}" must be given once, as 1 to 128 characters`);
  return v;
}

export function listGrants(market: Market, query: Record<string, unknown>): ApiAnswer {
  for (const k of Object.keys(query)) if (k !== 'client' && k !== 'device' && k !== 'active') throw new BadParameterError(k, `"${k.slice(0, 40)}" is not a filter; use client, device, active`);
  const active = oneText(query.active, 'active');
  if (active !== undefined && active !== 'true' && active !== 'false') throw new BadParameterError('active', '"active" must be true or false');
  const grants = market.list({ client: oneText(query.client, 'client'), device: oneText(query.device, 'device'), active: active === undefined ? undefined : active === 'true' });
  return { status: 200, body: { grants } };
}

export async function deleteGrant(market: Market, id: string): Promise<ApiAnswer> {
  return { status: 200, body: { grant: await market.revoke(id) } };
}
