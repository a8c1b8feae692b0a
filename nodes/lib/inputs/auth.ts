/**
 * Device access to the HTTP and CoAP inputs, the rule of the embedded broker
 * until devices have identities of their own: with a device login configured,
 * every request must carry it; without one, anonymous requests are taken only
 * while the input is bound to a loopback address (nothing else can reach it).
 *
 * A login travels as HTTP Basic auth, as InfluxDB 1.x `u`/`p` parameters, as
 * `Authorization: Token <user>:<password>` (InfluxDB 1.8's v2 token form), or in
 * CoAP as the `u`/`p` query options (`?u=dev&p=secret`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopback } from '../security/net';

export interface DeviceLogin {
  username: string;
  password: string;
}

export type AccessDecision = { ok: true } | { ok: false; code: 'missing' | 'wrong' | 'closed'; message: string };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The login a request presents, from its Authorization header or `u`/`p` parameters. */
export function presentedLogin(authorization: string | undefined, query: { u?: string; p?: string } = {}): DeviceLogin | undefined {
  const h = authorization?.trim();
  if (h) {
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(h);
    if (basic) {
      const text = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon !== -1) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
    }
    const token = /^(?:Token|Bearer)\s+(.+)$/i.exec(h);
    if (token) {
      const colon = token[1].indexOf(':');
      if (colon !== -1) return { username: token[1].slice(0, colon), password: token[1].slice(colon + 1) };
      return { username: '', password: token[1] };
    }
  }
  if (query.u !== undefined || query.p !== undefined) return { username: query.u ?? '', password: query.p ?? '' };
  return undefined;
}

/** Whether a request may write, and if not, why (for a 401 / 4.01 a person can act on). */
export function checkAccess(presented: DeviceLogin | undefined, configured: DeviceLogin | undefined, bind: string | undefined): AccessDecision {
  if (configured && configured.username) {
    if (!presented) return { ok: false, code: 'missing', message: 'a device login is required: send HTTP Basic auth (or u and p parameters)' };
    const ok = same(presented.username, configured.username) && same(presented.password, configured.password);
    return ok ? { ok: true } : { ok: false, code: 'wrong', message: 'the device login is wrong' };
  }
  if (bind !== undefined && bind !== '' && isLoopback(bind)) return { ok: true };
  return { ok: false, code: 'closed', message: 'this input is reachable from the network and has no device login: set one on the input node (or UPPERSTACK_MQTT_USERNAME and UPPERSTACK_MQTT_PASSWORD)' };
}
