/**
 * Secrets of devices, market clients and API keys: made from 24 random bytes,
 * stored only as a scrypt hash, and checked with the same work whatever the
 * guess. scrypt runs on libuv's thread pool (crypto.scrypt), so a login never
 * blocks the event loop; its cost is why verifications are cached (registry.ts)
 * and why failed logins are rate limited per source address (device-auth.ts).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors';

/** scrypt cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of milliseconds), the parameters RFC 7914 suggests for logins. */
const LOG_N = 14;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

/** A new secret: 24 random bytes as base64url (32 characters, no padding, safe in URLs and MQTT passwords). */
export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

function scryptAsync(secret: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, { N: 2 ** logN, r, p, maxmem: MAXMEM }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function formatHash(salt: Buffer, key: Buffer): string {
  return `scrypt$${LOG_N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** `scrypt$14$8$1$<salt>$<hash>` (base64url): the parameters travel with the hash, so they can change later. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return formatHash(salt, await scryptAsync(secret, salt, LOG_N, R, P));
}

/**
 * hashSecret blocking the thread, for code that cannot wait (settings.ts, which Node-RED loads synchronously,
 * keeps a digest in the start record): the same parameters, the same format.
 */
export function hashSecretSync(secret: string): string {
  const salt = randomBytes(16);
  return formatHash(salt, scryptSync(secret, salt, KEYLEN, { N: 2 ** LOG_N, r: R, p: P, maxmem: MAXMEM }));
}

const HASH = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{40,64})$/;

interface ParsedHash {
  salt: Buffer;
  expected: Buffer;
  logN: number;
  r: number;
  p: number;
}

/** The hash's parts, or undefined when it is malformed, its cost out of bounds, or the guess too long to be ours. */
function parseHash(secret: string, hash: string): ParsedHash | undefined {
  const m = HASH.exec(hash);
  if (!m) return undefined;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  // Very long guesses cost scrypt no more, but are no secret of ours either.
  if (secret.length > 1024) return undefined;
  return { salt: Buffer.from(m[4], 'base64url'), expected: Buffer.from(m[5], 'base64url'), logN, r, p };
}

/** True when `secret` is the one `hash` was made from. A malformed hash never matches. */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const h = parseHash(secret, hash);
  if (!h) return false;
  const got = await scryptAsync(secret, h.salt, h.logN, h.r, h.p);
  return got.length === h.expected.length && timingSafeEqual(got, h.expected);
}

/** verifySecret blocking the thread (see hashSecretSync). */
export function verifySecretSync(secret: string, hash: string): boolean {
  const h = parseHash(secret, hash);
  if (!h) return false;
  const got = scryptSync(secret, h.salt, KEYLEN, { N: 2 ** h.logN, r: h.r, p: h.p, maxmem: MAXMEM });
  return got.length === h.expected.length && timingSafeEqual(got, h.expected);
}

/** A fast fingerprint of a presented secret, for caches (never stored). */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

/**
 * Keys a verifier must hold in clear (the HMAC keys of signed messages) are
 * sealed with AES-256-GCM under the registry key before they are stored, so
 * the database alone does not give them away.
 */
export function seal(plain: Buffer, key: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return `gcm$${iv.toString('base64url')}$${body.toString('base64url')}$${c.getAuthTag().toString('base64url')}`;
}

export function unseal(sealed: string, key: Buffer): Buffer {
  const m = /^gcm\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]*)\$([A-Za-z0-9_-]+)$/.exec(sealed);
  if (!m) throw new ConfigError('a sealed key in the device registry is malformed');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[1], 'base64url'));
  d.setAuthTag(Buffer.from(m[3], 'base64url'));
  try {
    return Buffer.concat([d.update(Buffer.from(m[2], 'base64url')), d.final()]);
  } catch {
    throw new ConfigError('a sealed key in the device registry cannot be opened: the registry key file (upperstack-registry.key in the data folder) is not the one it was sealed with');
  }
}

/**
 * What cluster members compare to tell whether they hold the same registry key
 * (nodes/shared/cluster-share.ts): an HMAC of a fixed text under the key, so
 * it says nothing about the key itself.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('upperstack registry key fingerprint', 'utf8').digest('base64url').slice(0, 22);
}

/** The registry key (32 bytes) from its file, made on first use (mode 0600). */
export function loadOrCreateKey(file: string): Buffer {
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length !== 32) throw new ConfigError(`${file} does not hold a 32-byte key (base64url)`);
    return key;
  }
  mkdirSync(dirname(file), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}
