/**
 * Simulated devices with their own identity: each is added to the runtime's
 * device registry (POST /api/v1/devices with the API key), or, when it is
 * registered already, given a new secret (POST /api/v1/devices/{id}/rotate),
 * and then logs in as itself: MQTT user name = id and password = secret, HTTP
 * `Authorization: Bearer <secret>`, CoAP `?k=<secret>`. Secrets stay in memory.
 */
import type { CredentialsHook } from './transports';

/** One admin API call: resolves with the answer's status and JSON body. */
export type ApiCall = (method: 'POST', path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

export class RegistrationError extends Error {
  override readonly name = 'RegistrationError';
  /** The runtime answered and turned the request down (4xx: a key it does not accept, a bad id), as against failing. */
  readonly refused: boolean;
  constructor(message: string, opts: { refused?: boolean } = {}) {
    super(message);
    this.refused = opts.refused ?? false;
  }
}

/** An ApiCall over fetch to a runtime's query API with its API key. */
export function apiCaller(url: string, key: string): ApiCall {
  const base = url.endsWith('/') ? url : `${url}/`;
  return async (method, path, body) => {
    let res: Response;
    try {
      res = await fetch(new URL(path.replace(/^\//, ''), base), {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new RegistrationError(`cannot reach ${url}: ${(err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  };
}

function refusal(id: string, what: string, r: { status: number; body: unknown }): RegistrationError {
  const e = (r.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new RegistrationError(`${what} device "${id}": ${r.status} ${e?.code ?? ''}${e?.message ? `: ${e.message}` : ''}`, { refused: r.status >= 400 && r.status < 500 });
}

/**
 * Registers (or rotates) every device, `parallel` at a time, and returns each one's secret.
 * `progress(done, total)` is called after each device.
 */
export async function registerFleet(ids: readonly string[], call: ApiCall, opts: { tags?: Record<string, string>; parallel?: number; progress?: (done: number, total: number) => void } = {}): Promise<Map<string, string>> {
  const secrets = new Map<string, string>();
  const parallel = Math.max(1, opts.parallel ?? 8);
  let next = 0;
  const one = async (id: string) => {
    let r = await call('POST', '/api/v1/devices', { id, tags: opts.tags ?? {} });
    if (r.status === 409) r = await call('POST', `/api/v1/devices/${encodeURIComponent(id)}/rotate`);
    if (r.status !== 200 && r.status !== 201) throw refusal(id, r.status === 401 || r.status === 403 ? 'the API key may not register' : 'cannot register', r);
    const secret = (r.body as { secret?: unknown } | undefined)?.secret;
    if (typeof secret !== 'string' || !secret) throw new RegistrationError(`the runtime issued no secret for device "${id}"`);
    secrets.set(id, secret);
    opts.progress?.(secrets.size, ids.length);
  };
  const worker = async () => {
    while (next < ids.length) await one(ids[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, worker));
  return secrets;
}

/** Each device logs in as itself with its secret; a shared connection (no device) has no login. */
export function registryCredentials(secrets: ReadonlyMap<string, string>): CredentialsHook {
  return (d) => {
    const secret = d ? secrets.get(d.id) : undefined;
    return d && secret ? { username: d.id, password: secret, token: secret } : {};
  };
}
