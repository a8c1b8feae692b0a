/**
 * The refusals DeviceAuth (device-auth.ts) hands back and the small helpers of its login checks: the MQTT 5
 * reason codes they carry, how a refusal is built, how secrets are compared, what a request without a user
 * name is told, the name failed logins are counted under, and the wait for the device registry at start-up.
 * Apart from device-auth.ts so that file holds the decisions themselves.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConnectInfo, Protocol, Refusal } from './device-auth-types';

// MQTT 5 reason codes.
export const BAD_LOGIN = 0x86;
export const NOT_AUTHORIZED = 0x87;
const SERVER_UNAVAILABLE = 0x88;
export const BANNED = 0x8a;
export const CONNECTION_RATE = 0x9f;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
export function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function refuse(status: Refusal['status'], reasonCode: number, code: string, message: string, retryAfterMs?: number): Refusal {
  const r: Refusal = { ok: false, status, reasonCode, code, message };
  if (retryAfterMs !== undefined) r.retryAfterMs = retryAfterMs;
  return r;
}

/**
 * A password without a user name (an InfluxDB 2 token as Telegraf sends it, a CoAP `?p=` alone): how the
 * protocol carries the user name, since a bare token names no device here.
 */
export const NO_USER: Partial<Record<Protocol, string>> = {
  http: 'a user name is required: send the device id (or the shared user name) with the password, as HTTP Basic user:password, "Authorization: Token user:password" or u and p',
  coap: 'a user name is required: send ?u=<user>&p=<password>, or ?k=<secret> on the device\'s own path',
};

/** The name failed logins are counted under: a certificate's device, else the user name presented ('' for none). */
export function loginName(info: ConnectInfo): string {
  return info.certCN ?? info.username ?? '';
}

/**
 * Waits for the device registry (`ready`) at most `timeoutMs`: undefined once it is loaded, else the refusal
 * (503) to answer meanwhile. Asked only until it is loaded: then no timer and no race per login (HTTP and
 * CoAP authenticate every request).
 */
export async function whenLoaded(ready: Promise<void>, timeoutMs: number): Promise<Refusal | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  try {
    const r = await Promise.race([ready.then(() => 'ready' as const), timeout]);
    if (r === 'timeout') return refuse(503, SERVER_UNAVAILABLE, 'UNAVAILABLE', 'the device registry is not loaded yet; retry shortly', 5000);
    return undefined;
  } catch (err) {
    return refuse(503, SERVER_UNAVAILABLE, 'UNAVAILABLE', `the device registry cannot be loaded: ${err instanceof Error ? err.message : String(err)}`, 5000);
  } finally {
    clearTimeout(timer);
  }
}
