/**
 * A login for pages served outside the editor (Dashboard 2 at /dashboard):
 * HTTP Basic authentication against the editor's users, for the page's HTTP
 * requests and for its socket.io connection. Wrong passwords are throttled per
 * source address like the editor login (429 with Retry-After once blocked);
 * a verified header is remembered for a few minutes, so the page's requests do
 * not each pay for a bcrypt comparison.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RateLimiterMemory, RateLimiterRes } from './rate-limiter';
import { errorBody, HTTP_CODES } from '../api/http-errors';
import { addressKey } from './login';

export interface BasicUser {
  username: string;
  permissions: string | readonly string[];
}

export interface BasicGuardOptions {
  /** The user for a name and password, or undefined when they are wrong. */
  verify(username: string, password: string): Promise<BasicUser | undefined>;
  realm: string;
  maxFailures?: number;
  windowSeconds?: number;
  blockSeconds?: number;
  /** How long a verified header is trusted without checking again. Default 300 s. */
  cacheSeconds?: number;
  onBlocked?(address: string, seconds: number): void;
}

export type Outcome = { ok: true; user: BasicUser } | { ok: false; status: 401 | 429; retryAfter?: number; message: string };

type Req = IncomingMessage & { ip?: string; user?: BasicUser };

export function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? undefined : { username: text.slice(0, i), password: text.slice(i + 1) };
}

export function basicAuthGuard(opts: BasicGuardOptions) {
  const maxFailures = opts.maxFailures ?? 5;
  const blockSeconds = opts.blockSeconds ?? 900;
  const cacheMs = (opts.cacheSeconds ?? 300) * 1000;
  const failures = new RateLimiterMemory({ keyPrefix: 'basic', points: maxFailures, duration: opts.windowSeconds ?? 900 });
  const verified = new Map<string, { user: BasicUser; until: number }>();

  async function check(header: string | undefined, address: string | undefined): Promise<Outcome> {
    const digest = header ? createHash('sha256').update(header).digest('base64') : '';
    const hit = digest ? verified.get(digest) : undefined;
    if (hit && hit.until > Date.now()) return { ok: true, user: hit.user };
    const key = addressKey(address);
    const blocked = await failures.get(key);
    if (blocked && blocked.consumedPoints > maxFailures) {
      const seconds = Math.max(1, Math.ceil(blocked.msBeforeNext / 1000));
      return { ok: false, status: 429, retryAfter: seconds, message: `too many failed logins from this address; try again in ${seconds} s` };
    }
    const creds = parseBasic(header);
    // No header yet: the browser asks for a login, nothing is counted.
    if (!creds) return { ok: false, status: 401, message: 'log in with an editor user' };
    const user = await opts.verify(creds.username, creds.password);
    if (user) {
      await failures.delete(key);
      if (verified.size >= 1000) verified.delete(verified.keys().next().value as string);
      verified.set(digest, { user, until: Date.now() + cacheMs });
      return { ok: true, user };
    }
    try {
      await failures.consume(key);
    } catch (rejected) {
      if (!(rejected instanceof RateLimiterRes)) throw rejected;
      await failures.block(key, blockSeconds);
      opts.onBlocked?.(key, blockSeconds);
      return { ok: false, status: 429, retryAfter: blockSeconds, message: `too many failed logins from this address; try again in ${blockSeconds} s` };
    }
    return { ok: false, status: 401, message: 'wrong user name or password' };
  }

  /** Express/connect middleware. */
  function http(req: Req, res: ServerResponse, next: (err?: unknown) => void): void {
    check(req.headers.authorization, req.ip ?? req.socket.remoteAddress).then(
      (o) => {
        if (o.ok) {
          req.user = o.user;
          return next();
        }
        const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' };
        if (o.status === 401) headers['WWW-Authenticate'] = `Basic realm="${opts.realm}", charset="UTF-8"`;
        if (o.retryAfter) headers['Retry-After'] = String(o.retryAfter);
        res.writeHead(o.status, headers);
        res.end(errorBody(o.status === 401 ? HTTP_CODES.unauthorized : HTTP_CODES.tooManyRequests, o.message, o.retryAfter ? { retryAfter: o.retryAfter } : {}));
      },
      (err: unknown) => next(err),
    );
  }

  /** socket.io middleware: the connection's handshake carries the browser's Basic header. */
  function io(socket: { id: string; request: Req; handshake?: { address?: string } }, next: (err?: Error) => void, onUser?: (socketId: string, user: BasicUser) => void): void {
    check(socket.request.headers.authorization, socket.request.socket?.remoteAddress ?? socket.handshake?.address).then(
      (o) => {
        if (!o.ok) return next(new Error(o.message));
        onUser?.(socket.id, o.user);
        next();
      },
      (err: unknown) => next(err instanceof Error ? err : new Error(String(err))),
    );
  }

  return { check, http, io };
}
