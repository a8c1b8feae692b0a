/**
 * What a device's messages must pass once it is known who sends them: rate
 * limits (per device and per source address, rate-limiter-flexible) and, for
 * devices that sign, an HMAC-SHA256 signature over timestamp, nonce and body.
 *
 * Rate limits: a message is counted against its device first and only then
 * against its address, so a device over its own limit is refused before it
 * uses up the budget of its address: one device flooding never lowers what
 * the others (behind the same address included) get accepted.
 *
 * Signatures: `HMAC-SHA256(key, "<ts>.<nonce>." + body)`, hex or base64,
 * where ts is Unix time in seconds or milliseconds, as sent. A message more
 * than five minutes away from the clock is STALE; a nonce already seen for
 * that device within the window is REPLAYED. Nonces are remembered in a bounded
 * cache; when it is full the oldest are forgotten and everything not newer than
 * them is refused as STALE, so a forgotten nonce can never be replayed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from './rate-limiter';
import { decodeCbor } from '../codec/cbor';
import { decodeJson } from '../codec/json';
import type { Decision, PublishDecision, Refusal } from './device-auth';

export interface TrafficOptions {
  /** Messages a second one device may send; 0 = no limit. */
  perDevice?: number;
  /** Messages a second from one source address, all its devices together; 0 = no limit. */
  perAddress?: number;
  /** The signing key of a device that signs, else undefined. */
  signingKey(device: string): Buffer | undefined;
  /** Allowed clock difference (default 5 minutes). */
  skewMs?: number;
  /** Nonces remembered at most (default 100 000). */
  maxNonces?: number;
  now?: () => number;
}

export const DEFAULT_SKEW_MS = 5 * 60_000;
export const MAX_NONCE_LENGTH = 128;
const NOT_AUTHORIZED = 0x87;
const QUOTA_EXCEEDED = 0x97;
const SERVER_UNAVAILABLE = 0x88;

function refuse(status: Refusal['status'], reasonCode: number, code: string, message: string, retryAfterMs?: number): Refusal {
  const r: Refusal = { ok: false, status, reasonCode, code, message };
  if (retryAfterMs !== undefined) r.retryAfterMs = retryAfterMs;
  return r;
}

const OK: Decision = { ok: true };

/** What a signed message carries besides its body. */
export interface Signed {
  ts: string;
  nonce: string;
  sig: string;
}

/** The signature a device sends: hex of HMAC-SHA256(key, "<ts>.<nonce>." + body). */
export function sign(key: Buffer, ts: string, nonce: string, body: Buffer): string {
  return createHmac('sha256', key).update(`${ts}.${nonce}.`, 'utf8').update(body).digest('hex');
}

function sigBytes(sig: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(sig)) return Buffer.from(sig, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(sig)) return Buffer.from(sig.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return undefined;
}

/** Nonces seen per device, oldest first; bounded. */
class NonceCache {
  private seen = new Map<string, number>();
  /** Timestamps at or below it are refused: nonces of that age may have been forgotten. */
  private floor = -Infinity;

  constructor(private readonly max: number, private readonly windowMs: number) {}

  get size(): number {
    return this.seen.size;
  }

  /** 'fresh' (now remembered), 'replayed', or 'forgotten' (older than what the cache can vouch for). */
  check(device: string, nonce: string, ts: number, now: number): 'fresh' | 'replayed' | 'forgotten' {
    const key = `${device}\u0000${nonce}`;
    if (this.seen.has(key)) return 'replayed';
    if (ts <= this.floor) return 'forgotten';
    // Entries past the window can no longer be replayed (they would be stale): drop them first.
    for (const [k, t] of this.seen) {
      if (t >= now - this.windowMs && this.seen.size < this.max) break;
      this.seen.delete(k);
      if (t >= now - this.windowMs) this.floor = Math.max(this.floor, t);
    }
    this.seen.set(key, ts);
    return 'fresh';
  }
}

export class Traffic {
  private readonly device?: RateLimiterMemory;
  private readonly address?: RateLimiterMemory;
  private readonly nonces: NonceCache;
  private readonly now: () => number;
  private readonly skewMs: number;

  constructor(private readonly opts: TrafficOptions) {
    if (opts.perDevice && opts.perDevice > 0) this.device = new RateLimiterMemory({ keyPrefix: 'device', points: opts.perDevice, duration: 1 });
    if (opts.perAddress && opts.perAddress > 0) this.address = new RateLimiterMemory({ keyPrefix: 'address', points: opts.perAddress, duration: 1 });
    this.now = opts.now ?? Date.now;
    this.skewMs = opts.skewMs ?? DEFAULT_SKEW_MS;
    // Insertion order is close to timestamp order; the window covers both directions of skew.
    this.nonces = new NonceCache(opts.maxNonces ?? 100_000, 2 * this.skewMs);
  }

  get limits(): { perDevice: number; perAddress: number } {
    return { perDevice: this.opts.perDevice ?? 0, perAddress: this.opts.perAddress ?? 0 };
  }

  get noncesKept(): number {
    return this.nonces.size;
  }

  /** Counts one message of `device` (if known) from `remote` (if known). */
  async consume(device: string | undefined, remote: string | undefined): Promise<Decision> {
    if (device !== undefined && this.device) {
      try {
        await this.device.consume(device);
      } catch (rej) {
        return this.deviceRefusal(device, rej);
      }
    }
    if (remote !== undefined && this.address) {
      try {
        await this.address.consume(remote);
      } catch (rej) {
        const ms = retryMs(rej);
        return refuse(429, QUOTA_EXCEEDED, 'RATE_LIMITED', `more than ${this.opts.perAddress} messages a second from ${remote}; retry in ${Math.ceil(ms / 1000)} s`, ms);
      }
    }
    return OK;
  }

  /**
   * Counts one message of each of `devices`: the devices an InfluxDB write names line by line, which its path
   * does not. The first over its limit refuses the request whole, and the others get back what it counted:
   * nothing of a refused request is kept, so it spends none of their budget.
   */
  async consumeDevices(devices: Iterable<string>): Promise<{ ok: true } | (Refusal & { device: string })> {
    const limiter = this.device;
    if (!limiter) return { ok: true };
    const counted: string[] = [];
    for (const device of devices) {
      try {
        await limiter.consume(device);
        counted.push(device);
      } catch (rej) {
        await Promise.all(counted.map((d) => limiter.reward(d, 1)));
        return { ...this.deviceRefusal(device, rej), device };
      }
    }
    return { ok: true };
  }

  private deviceRefusal(device: string, rej: unknown): Refusal {
    const ms = retryMs(rej);
    return refuse(429, QUOTA_EXCEEDED, 'RATE_LIMITED', `device "${device.slice(0, 128)}" sends more than ${this.opts.perDevice} messages a second; retry in ${Math.ceil(ms / 1000)} s`, ms);
  }

  /**
   * The device's signing key, undefined when it does not sign, or a refusal
   * when its key cannot be opened here (sealed under another registry key:
   * a cluster member with another key file). That is this server's fault, not
   * the device's: 503, and the message says which file.
   */
  private keyOf(device: string): Buffer | undefined | Refusal {
    try {
      return this.opts.signingKey(device);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return refuse(503, SERVER_UNAVAILABLE, 'SIGNING_KEY_UNAVAILABLE', `device "${device}" signs its messages, but this server cannot check them: ${why}`);
    }
  }

  signs(device: string): boolean {
    return this.keyOf(device) !== undefined;
  }

  /** Checks a signature (HTTP headers, or the fields of an envelope). */
  verify(device: string, body: Buffer, s: Partial<Signed>): Decision {
    const key = this.keyOf(device);
    if (!key) return OK;
    if (!Buffer.isBuffer(key)) return key;
    if (!s.ts || !s.nonce || !s.sig) {
      return refuse(401, NOT_AUTHORIZED, 'SIGNATURE_REQUIRED', `device "${device}" signs its messages: timestamp, nonce and signature are required`);
    }
    if (!/^\d{1,16}$/.test(s.ts)) return refuse(401, NOT_AUTHORIZED, 'BAD_SIGNATURE', 'the timestamp is Unix time in seconds or milliseconds');
    if (s.nonce.length > MAX_NONCE_LENGTH || !/^[\x21-\x7e]+$/.test(s.nonce)) {
      return refuse(401, NOT_AUTHORIZED, 'BAD_SIGNATURE', `the nonce is 1 to ${MAX_NONCE_LENGTH} printable ASCII characters`);
    }
    const given = sigBytes(s.sig);
    if (!given) return refuse(401, NOT_AUTHORIZED, 'BAD_SIGNATURE', 'the signature is HMAC-SHA256 in hex (64 digits) or base64');
    const expected = createHmac('sha256', key).update(`${s.ts}.${s.nonce}.`, 'utf8').update(body).digest();
    if (!timingSafeEqual(given, expected)) return refuse(401, NOT_AUTHORIZED, 'BAD_SIGNATURE', `the signature does not match (HMAC-SHA256 of "<ts>.<nonce>." and the body with device "${device}"'s signing key)`);
    // Checked only once the signature is good, so nobody can fill the nonce cache with forged messages.
    const n = Number(s.ts);
    const ts = n < 1e11 ? n * 1000 : n;
    const now = this.now();
    if (Math.abs(now - ts) > this.skewMs) {
      return refuse(401, NOT_AUTHORIZED, 'STALE', `the timestamp is ${Math.round(Math.abs(now - ts) / 1000)} s away from this server's clock (at most ${this.skewMs / 1000} s)`);
    }
    const seen = this.nonces.check(device, s.nonce, ts, now);
    if (seen === 'replayed') return refuse(401, NOT_AUTHORIZED, 'REPLAYED', `nonce "${s.nonce.slice(0, 40)}" was already used: this message was sent before`);
    if (seen === 'forgotten') return refuse(401, NOT_AUTHORIZED, 'STALE', 'the message is older than the newest nonces this server still remembers; send it again with a fresh timestamp');
    return OK;
  }

  /**
   * A signed envelope (MQTT payload, CoAP body) of a device that signs: JSON
   * `{"ts","nonce","body","sig"[,"ct"]}` with the body as text, or CBOR with
   * the body as bytes or text. Returns the verified body and its content type.
   */
  unwrap(device: string, payload: Buffer, contentType: string | undefined): PublishDecision {
    if (!this.signs(device)) return { ok: true };
    let env: unknown;
    const cbor = contentType !== undefined ? /cbor/i.test(contentType) : payload.length > 0 && payload[0] !== 0x7b && payload[0] >= 0xa0 && payload[0] <= 0xbf;
    try {
      env = cbor ? decodeCbor(payload) : decodeJson(payload);
    } catch {
      return refuse(401, NOT_AUTHORIZED, 'SIGNATURE_REQUIRED', `device "${device}" signs its messages: send a ${cbor ? 'CBOR' : 'JSON'} envelope {ts, nonce, body, sig}`);
    }
    if (env === null || typeof env !== 'object' || Array.isArray(env)) {
      return refuse(401, NOT_AUTHORIZED, 'SIGNATURE_REQUIRED', `device "${device}" signs its messages: send an envelope {ts, nonce, body, sig}`);
    }
    const e = env as Record<string, unknown>;
    // A reading published as it is (a ts of its own at most): the device did not sign, rather than a broken envelope.
    if (!['nonce', 'body', 'sig'].some((k) => k in e)) {
      return refuse(401, NOT_AUTHORIZED, 'SIGNATURE_REQUIRED', `device "${device}" signs its messages: send the reading inside a ${cbor ? 'CBOR' : 'JSON'} envelope {ts, nonce, body, sig}`);
    }
    const body = typeof e.body === 'string' ? Buffer.from(e.body, 'utf8') : e.body instanceof Uint8Array ? Buffer.from(e.body) : undefined;
    const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : undefined);
    if (!body) return refuse(401, NOT_AUTHORIZED, 'SIGNATURE_REQUIRED', 'the envelope has no body (text, or bytes in CBOR)');
    const d = this.verify(device, body, { ts: text(e.ts), nonce: text(e.nonce), sig: text(e.sig) });
    if (!d.ok) return d;
    const ct = typeof e.ct === 'string' && e.ct.length <= 128 ? e.ct : undefined;
    return ct !== undefined ? { ok: true, payload: body, contentType: ct } : { ok: true, payload: body };
  }
}

/** The retry time of a rate-limiter rejection. */
export function retryMs(rej: unknown): number {
  return rej instanceof RateLimiterRes ? Math.max(1, rej.msBeforeNext) : 1000;
}
