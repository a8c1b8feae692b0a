/**
 * Editor login throttling per source address.
 *
 * Node-RED's own password exchange (`passwordTokenExchange` in
 * @node-red/editor-api/lib/auth/strategies.js) counts attempts per user name
 * from every address together; after 5 within 10 minutes it fails every login
 * of that user, the right password included, with HTTP 500. Anyone who reaches
 * the port could lock the admin out. This guard sits in front of
 * `POST /auth/token` (as `httpAdminMiddleware`): it checks the credentials
 * itself, answers a wrong password with 401 and too many from one address with
 * 429 and `Retry-After`, and lets only correct credentials through, one at a
 * time, so Node-RED's counter (which a success clears) never reaches its limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import bodyParser from 'body-parser';
import { RateLimiterMemory, RateLimiterRes } from './rate-limiter';
import { errorBody, HTTP_CODES } from '../api/http-errors';

export interface LoginThrottleOptions {
  /** Checks a user name and password; resolves true when they are right. */
  verify(username: string, password: string): Promise<boolean>;
  /** Failed logins one address may make within the window before it is blocked. Default 5. */
  maxFailures?: number;
  /** Window in which failures add up, seconds. Default 900. */
  windowSeconds?: number;
  /** How long a blocked address waits, seconds. Default 900. */
  blockSeconds?: number;
  /** Path of the token route inside the admin app. Default `/auth/token`. */
  path?: string;
  /** Told once when an address is blocked. */
  onBlocked?(address: string, seconds: number): void;
}

type Req = IncomingMessage & { body?: unknown; path?: string; ip?: string; originalUrl?: string };
type Next = (err?: unknown) => void;

/**
 * The throttling key of a client: an IPv4 address, or the /64 prefix of an IPv6
 * one (one host usually holds a whole /64, so single addresses are free to rotate).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped) return mapped[1];
  if (!a.includes(':')) return a;
  const [head, tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

function field(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const v = (body as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

/** Connect/Express middleware for Node-RED's `httpAdminMiddleware`. */
export function loginThrottle(options: LoginThrottleOptions): (req: Req, res: ServerResponse, next: Next) => void {
  const maxFailures = options.maxFailures ?? 5;
  const blockSeconds = options.blockSeconds ?? 900;
  const path = options.path ?? '/auth/token';
  const failures = new RateLimiterMemory({ keyPrefix: 'login', points: maxFailures, duration: options.windowSeconds ?? 900 });
  // The editor posts a form; tools may post JSON. Both stay small.
  const form = bodyParser.urlencoded({ extended: false, limit: '16kb' });
  const json = bodyParser.json({ limit: '16kb' });
  // Correct logins reach Node-RED one after another: concurrent ones would add up in its counter.
  let passing: Promise<void> = Promise.resolve();

  const tooMany = (res: ServerResponse, ms: number) => {
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    send(
      res,
      429,
      errorBody(HTTP_CODES.tooManyRequests, `too many failed logins from this address; try again in ${seconds} s`, { retryAfter: seconds }),
      { 'Retry-After': String(seconds) },
    );
  };

  async function guard(req: Req, res: ServerResponse, next: Next): Promise<void> {
    const key = addressKey(req.ip ?? req.socket.remoteAddress);
    // Taken before the password is checked, so parallel guesses cannot outrun the count.
    try {
      await failures.consume(key);
    } catch (rejected) {
      if (!(rejected instanceof RateLimiterRes)) return next(rejected);
      if (rejected.consumedPoints === maxFailures + 1) {
        await failures.block(key, blockSeconds);
        options.onBlocked?.(key, blockSeconds);
        return tooMany(res, blockSeconds * 1000);
      }
      return tooMany(res, rejected.msBeforeNext);
    }
    const parsed = await new Promise<unknown>((resolve) => form(req, res, (err?: unknown) => (err ? resolve(err) : json(req, res, (e?: unknown) => resolve(e)))));
    if (parsed) return next(parsed);
    const grant = field(req.body, 'grant_type');
    const username = field(req.body, 'username');
    const password = field(req.body, 'password');
    if (grant !== 'password' || username === undefined || password === undefined) {
      return send(res, 400, errorBody('BAD_REQUEST', 'a login needs grant_type=password, username and password'));
    }
    if (!(await options.verify(username, password))) {
      return send(res, 401, errorBody(HTTP_CODES.loginFailed, 'wrong user name or password'));
    }
    await failures.delete(key);
    const turn = passing.then(
      () =>
        new Promise<void>((done) => {
          res.once('finish', done);
          res.once('close', done);
          next();
        }),
    );
    passing = turn;
  }

  return (req, res, next) => {
    const p = req.path ?? new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'POST' || p !== path) return next();
    guard(req, res, next).catch(next);
  };
}
