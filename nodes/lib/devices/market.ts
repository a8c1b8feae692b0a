/**
 * The data market's clients and grants: who may read the live stream of which
 * device, until when. A grant names a client (its MQTT user name) and a device
 * and lasts a number of minutes; the first grant of a client makes its login,
 * whose password is returned once and kept only as a scrypt hash (secret.ts).
 *
 * Grants are written to the registry's backend (the store's `grants` and
 * `market_clients` tables) before they count, so they and their expiry survive
 * a restart. The access rules (device-auth.ts) ask `granted` on every delivery
 * of `market/{device}/live`, so a grant stops working the moment it expires
 * even before the timer here tells the broker to end the subscription.
 */
import { randomBytes } from 'node:crypto';
import { BadParameterError, ConflictError, NotFoundError } from '../errors';
import { fingerprint, hashSecret, newSecret, verifySecret } from './secret';
import type { ClientRecord, GrantRecord, RegistryBackend, RegistryData } from './types';

/** Client names: the same characters as device ids (they are MQTT user names). */
const CLIENT_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const MIN_MS = 1000;
const MAX_MINUTES = 366 * 24 * 60;
/** Node's timers hold at most 2^31 - 1 ms (about 24.8 days); a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Expired grants stay listed this long (what was sold, and when), then they are deleted. */
const KEEP_EXPIRED_MS = 30 * 24 * 60 * 60 * 1000;
const VERIFIED_MAX = 10_000;

export interface GrantView {
  id: string;
  client: string;
  device: string;
  createdAt: string;
  expiresAt: string;
  by: string;
  /** Not yet expired. */
  active: boolean;
}

/** What `grant` returns; `login` only when the grant made the client (the only time its password is seen). */
export interface IssuedGrant {
  grant: GrantView;
  login?: { username: string; password: string };
}

export interface NewGrant {
  client: unknown;
  device: unknown;
  minutes: unknown;
  /** Who made it: `api`, `flow:<node id>`, an actor. */
  by: string;
}

export interface MarketOptions {
  /** What the registry loaded (clients and grants are read from it once). */
  load: () => Promise<RegistryData>;
  /** Why `id` cannot be a device id here (the registry's rules), or undefined. */
  deviceProblem?: (id: string) => string | undefined;
  /** True when `id` is a registered device: a client may not take a device's name. */
  isDevice?: (id: string) => boolean;
  /** User names the access rules take for something else (the API key login `apikey`). */
  reserved?: readonly string[];
  now?: () => number;
  keepExpiredMs?: number;
}

/** A grant ended (expired or deleted) and no other grant of the client covers the device. */
export type GrantEnded = (client: string, device: string, why: 'expired' | 'revoked') => void;

export function grantView(g: GrantRecord, now: number): GrantView {
  return {
    id: g.id,
    client: g.client,
    device: g.device,
    createdAt: new Date(g.createdAt).toISOString(),
    expiresAt: new Date(g.expiresAt).toISOString(),
    by: g.by,
    active: g.expiresAt > now,
  };
}

/** Minutes of a grant from JSON or a message: a number or numeric text, at least one second, at most a year. */
export function grantMinutes(v: unknown): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n * 60_000 < MIN_MS || n > MAX_MINUTES) {
    throw new BadParameterError('minutes', `"minutes" must be a number from 1/60 (one second) to ${MAX_MINUTES} (a year)`);
  }
  return n;
}

export class Market {
  private clients = new Map<string, ClientRecord>();
  private grants = new Map<string, GrantRecord>();
  /** Grants whose end was already announced (expired, or expired before this process loaded them). */
  private ended = new Set<string>();
  private verified = new Map<string, true>();
  private listeners: GrantEnded[] = [];
  private timer: NodeJS.Timeout | undefined;
  private mutations: Promise<unknown> = Promise.resolve();
  private opened?: Promise<void>;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly backend: RegistryBackend, private readonly opts: MarketOptions) {
    this.now = opts.now ?? Date.now;
  }

  open(): Promise<void> {
    this.opened ??= this.opts.load().then((data) => {
      for (const c of data.clients) this.clients.set(c.id, c);
      const now = this.now();
      for (const g of data.grants) {
        this.grants.set(g.id, g);
        // Expired while the runtime was down: nobody can hold its subscription now.
        if (g.expiresAt <= now) this.ended.add(g.id);
      }
      this.schedule();
    });
    return this.opened;
  }

  /** Stops the expiry timer; grants stay in the backend. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners = [];
  }

  onEnded(listener: GrantEnded): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  hasClient(id: string): boolean {
    return this.clients.has(id);
  }

  async checkClient(id: string, secret: string): Promise<boolean> {
    const c = this.clients.get(id);
    if (!c) return false;
    const key = `${id}\u0000${fingerprint(secret)}`;
    if (this.verified.has(key)) return true;
    const ok = await verifySecret(secret, c.hash);
    if (ok) {
      if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(key, true);
    }
    return ok;
  }

  /** True while `client` holds a grant for `device` that has not expired. Called per delivery: no I/O. */
  granted(client: string, device: string): boolean {
    const now = this.now();
    for (const g of this.grants.values()) if (g.client === client && g.device === device && g.expiresAt > now) return true;
    return false;
  }

  list(filter: { client?: string; device?: string; active?: boolean } = {}): GrantView[] {
    const now = this.now();
    return [...this.grants.values()]
      .filter((g) => (filter.client === undefined || g.client === filter.client) && (filter.device === undefined || g.device === filter.device))
      .map((g) => grantView(g, now))
      .filter((v) => filter.active === undefined || v.active === filter.active)
      .sort((a, b) => (a.expiresAt < b.expiresAt ? -1 : a.expiresAt > b.expiresAt ? 1 : a.id < b.id ? -1 : 1));
  }

  get(id: string): GrantView | undefined {
    const g = this.grants.get(id);
    return g && grantView(g, this.now());
  }

  /** A new grant (and the client's login when the client is new). */
  grant(input: NewGrant): Promise<IssuedGrant> {
    return this.serial(async () => {
      const client = typeof input.client === 'string' ? input.client : '';
      if (!CLIENT_ID.test(client)) throw new BadParameterError('client', '"client" must be 1 to 128 letters, digits, ".", "_", "-", ":" or "@" (it becomes the MQTT user name)');
      const device = typeof input.device === 'string' ? input.device : '';
      const problem = device === '' ? '"device" is required' : (this.opts.deviceProblem?.(device) ?? (CLIENT_ID.test(device) ? undefined : `"${device.slice(0, 60)}" is not a device id`));
      if (problem) throw new BadParameterError('device', problem);
      const minutes = grantMinutes(input.minutes);
      if (this.opts.reserved?.includes(client)) throw new BadParameterError('client', `"${client}" is a reserved user name; choose another client name`);
      if (this.opts.isDevice?.(client)) throw new ConflictError(`"${client}" is a registered device: a market client needs a name of its own`, { client });
      let login: IssuedGrant['login'];
      if (!this.clients.has(client)) {
        const password = newSecret();
        const record: ClientRecord = { id: client, hash: await hashSecret(password), createdAt: this.now() };
        await this.backend.put('clients', record);
        this.clients.set(client, record);
        login = { username: client, password };
      }
      const now = this.now();
      const g: GrantRecord = { id: `g_${randomBytes(9).toString('base64url')}`, client, device, createdAt: now, expiresAt: now + Math.round(minutes * 60_000), by: input.by };
      await this.backend.put('grants', g);
      this.grants.set(g.id, g);
      this.schedule();
      return login ? { grant: grantView(g, now), login } : { grant: grantView(g, now) };
    });
  }

  /** Deletes a grant at once; the client's subscription ends unless another grant covers it. */
  revoke(id: string): Promise<GrantView> {
    return this.serial(async () => {
      const g = this.grants.get(id);
      if (!g) throw new NotFoundError(`no grant "${String(id).slice(0, 64)}"`, { id });
      await this.backend.remove('grants', id);
      this.grants.delete(id);
      const wasActive = !this.ended.delete(id) && g.expiresAt > this.now();
      if (wasActive && !this.granted(g.client, g.device)) this.emit(g.client, g.device, 'revoked');
      this.schedule();
      return grantView(g, this.now());
    });
  }

  /** Announces the grants that have expired, deletes long-expired ones, and sets the timer for the next. */
  private sweep(): void {
    const now = this.now();
    const keep = this.opts.keepExpiredMs ?? KEEP_EXPIRED_MS;
    for (const g of this.grants.values()) {
      if (g.expiresAt > now) continue;
      if (!this.ended.has(g.id)) {
        this.ended.add(g.id);
        if (!this.granted(g.client, g.device)) this.emit(g.client, g.device, 'expired');
      }
      if (g.expiresAt + keep <= now) {
        this.grants.delete(g.id);
        this.ended.delete(g.id);
        void this.serial(() => this.backend.remove('grants', g.id)).catch(() => undefined);
      }
    }
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    const now = this.now();
    const keep = this.opts.keepExpiredMs ?? KEEP_EXPIRED_MS;
    let next = Infinity;
    for (const g of this.grants.values()) {
      next = Math.min(next, this.ended.has(g.id) ? g.expiresAt + keep : g.expiresAt);
    }
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.sweep(), Math.min(MAX_TIMER_MS, Math.max(0, next - now)));
    // The runtime stays up for its listeners; the timer alone must not keep a process alive.
    this.timer.unref();
  }

  private emit(client: string, device: string, why: 'expired' | 'revoked'): void {
    for (const l of this.listeners) {
      try {
        l(client, device, why);
      } catch {
        // One listener's failure must not keep the others from hearing of the end.
      }
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = Promise.all([this.open(), this.mutations]).then(fn);
    this.mutations = run.catch(() => undefined);
    return run;
  }
}
