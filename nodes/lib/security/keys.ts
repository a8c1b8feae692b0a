/**
 * API keys kept in the device registry's store (the `api_keys` table): made
 * with a name and scopes (scopes.ts), shown once, kept only as a scrypt hash
 * (like device secrets), listed, revoked. A key reads `usk_<id>_<secret>`: the
 * id finds the record without trying every hash, the secret is checked
 * against it. A successful check is remembered in memory (by a SHA-256
 * fingerprint) so a dashboard polling every second costs one scrypt, not one
 * per request; revoking ends that at once.
 *
 * A revoked key stays listed (with the time it was revoked) so the audit log's
 * `key:<id>` entries keep a name; it never works again.
 */
import { randomBytes } from 'node:crypto';
import { BadParameterError, ConflictError, NotFoundError } from '../errors';
import { fingerprint, hashSecret, newSecret, verifySecret } from '../devices/secret';
import type { ApiKeyRecord, RegistryBackend, RegistryData } from '../devices/types';
import { checkScopes } from './scopes';

export const KEY_PREFIX = 'usk_';
const KEY = /^usk_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/;
const NAME = /^[\x20-\x7e]{1,100}$/;
const MAX_KEYS = 1000;
const VERIFIED_MAX = 10_000;
/** lastUsedAt is written to the store at most this often per key. */
const LAST_USED_WRITE_MS = 60 * 60 * 1000;

/** A key as it is listed: never the hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

export interface IssuedKey {
  key: string;
  apiKey: ApiKeyView;
}

export interface VerifiedKey {
  id: string;
  name: string;
  scopes: string[];
}

export function keyView(r: ApiKeyRecord): ApiKeyView {
  const v: ApiKeyView = { id: r.id, name: r.name, scopes: [...r.scopes], createdAt: new Date(r.createdAt).toISOString() };
  if (r.revokedAt !== undefined) v.revokedAt = new Date(r.revokedAt).toISOString();
  if (r.lastUsedAt !== undefined) v.lastUsedAt = new Date(r.lastUsedAt).toISOString();
  return v;
}

/** True when the text has the shape of a stored key (so other checks can step aside). */
export function looksLikeStoredKey(text: string): boolean {
  return text.startsWith(KEY_PREFIX);
}

export class ApiKeyStore {
  private keys = new Map<string, ApiKeyRecord>();
  private verified = new Map<string, string>();
  private loaded?: Promise<void>;
  private mutations: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  /** `load`: the registry's data (its `open()`), shared with the device registry. */
  constructor(private readonly backend: RegistryBackend, private readonly load: () => Promise<RegistryData>, opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  open(): Promise<void> {
    this.loaded ??= this.load().then((data) => {
      for (const k of data.api_keys) this.keys.set(k.id, { ...k, scopes: [...k.scopes] });
    });
    return this.loaded;
  }

  async list(): Promise<ApiKeyView[]> {
    await this.open();
    return [...this.keys.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).map(keyView);
  }

  create(input: { name?: unknown; scopes?: unknown }): Promise<IssuedKey> {
    return this.serial(async () => {
      const name = input.name === undefined ? 'api key' : input.name;
      if (typeof name !== 'string' || !NAME.test(name)) throw new BadParameterError('name', '"name" must be 1 to 100 printable characters, e.g. "acme dashboard"');
      const scopes = checkScopes(input.scopes);
      const live = [...this.keys.values()].filter((k) => k.revokedAt === undefined).length;
      if (live >= MAX_KEYS) throw new ConflictError(`there are ${MAX_KEYS} keys already; revoke some first`);
      let id: string;
      do id = randomBytes(6).toString('hex');
      while (this.keys.has(id));
      const secret = newSecret();
      const record: ApiKeyRecord = { id, name, hash: await hashSecret(secret), scopes, createdAt: this.now() };
      await this.backend.put('api_keys', record);
      this.keys.set(id, record);
      return { key: `${KEY_PREFIX}${id}_${secret}`, apiKey: keyView(record) };
    });
  }

  revoke(id: string): Promise<ApiKeyView> {
    return this.serial(async () => {
      const old = this.keys.get(id);
      if (!old) throw new NotFoundError(`no API key "${String(id).slice(0, 40)}"`, { id });
      if (old.revokedAt !== undefined) return keyView(old);
      const next: ApiKeyRecord = { ...old, revokedAt: this.now() };
      await this.backend.put('api_keys', next);
      this.keys.set(id, next);
      for (const [k, v] of this.verified) if (v === id) this.verified.delete(k);
      return keyView(next);
    });
  }

  /** True when `token` names a live key (so checking its secret costs a scrypt). */
  namesLiveKey(token: string): boolean {
    const m = KEY.exec(token);
    const rec = m ? this.keys.get(m[1]) : undefined;
    return rec !== undefined && rec.revokedAt === undefined;
  }

  /** The key's id, name and scopes when `token` is a live key; undefined otherwise. */
  async verify(token: string): Promise<VerifiedKey | undefined> {
    const m = KEY.exec(token);
    if (!m) return undefined;
    await this.open();
    const id = m[1];
    const rec = this.keys.get(id);
    if (!rec || rec.revokedAt !== undefined) return undefined;
    const print = fingerprint(token);
    if (this.verified.get(print) !== id) {
      if (!(await verifySecret(m[2], rec.hash))) return undefined;
      // Revoked while scrypt ran.
      if (this.keys.get(id)?.revokedAt !== undefined) return undefined;
      if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(print, id);
    }
    this.touch(id);
    return { id, name: rec.name, scopes: [...rec.scopes] };
  }

  /** Remembers when a key was last used; written through at most once an hour. */
  private touch(id: string): void {
    const rec = this.keys.get(id);
    if (!rec) return;
    const now = this.now();
    const stale = rec.lastUsedAt === undefined || now - rec.lastUsedAt >= LAST_USED_WRITE_MS;
    rec.lastUsedAt = now;
    // The record as it is when the write runs (a revoke may have replaced it meanwhile).
    if (stale) void this.serial(() => this.backend.put('api_keys', { ...(this.keys.get(id) ?? rec) })).catch(() => undefined);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = Promise.all([this.open(), this.mutations]).then(fn);
    this.mutations = run.catch(() => undefined);
    return run;
  }
}
