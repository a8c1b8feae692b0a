/**
 * The device registry, one for every protocol: which devices exist, whether
 * they may connect, their secret (as a scrypt hash), the HMAC key of those that
 * sign their messages, and the tags copied onto their readings. It is held in
 * memory (the broker asks on every publish) and written through to its backend
 * (DuckDB tables in the store) before a change is reported done.
 *
 * Secrets are returned once, by `add` and `rotate`; afterwards only the hash
 * exists. Checking a presented secret costs a scrypt, so a successful check is
 * remembered (by a SHA-256 fingerprint of the secret, in memory only) until the
 * device changes.
 */
import { randomBytes } from 'node:crypto';
import { BadDeviceIdError, BadParameterError, ConflictError, NotFoundError } from '../errors';
import { hasValidCheck, withCheck } from './checkdigit';
import { fingerprint, hashSecret, keyFingerprint, newSecret, seal, unseal, verifySecret } from './secret';
import type { DeviceRecord, DeviceView, RegistryBackend, RegistryData } from './types';
import { checkMeta, checkTags, deviceIdProblem, deviceView } from './record';

export { checkDeviceRecord, checkTags, deviceIdProblem, deviceView } from './record';

const VERIFIED_MAX = 10_000;
/** The MQTT user name of API keys (device-auth.ts API_KEY_USER). */
const RESERVED_ID = 'apikey';

export type SecretCheck = 'ok' | 'wrong' | 'unknown' | 'disabled';

export type DeviceChange = 'added' | 'updated' | 'disabled' | 'enabled' | 'rotated' | 'removed';

export interface NewDevice {
  id?: string;
  enabled?: boolean;
  signing?: boolean;
  tags?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

export interface DevicePatch {
  enabled?: boolean;
  signing?: boolean;
  tags?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

/** What `add` and `rotate` return: the only time the secret (and signing key) are seen. */
export interface IssuedDevice {
  device: DeviceView;
  secret: string;
  /** base64url HMAC-SHA256 key, when the device signs its messages. */
  signingKey?: string;
}

export interface RegistryOptions {
  /** Device ids end in a Luhn mod 36 check character (checkdigit.ts). */
  checkDigits?: boolean;
  /** Seals signing keys at rest (32 bytes). */
  sealKey: Buffer;
  now?: () => number;
}
export class DeviceRegistry {
  private devices = new Map<string, DeviceRecord>();
  /** id → generation; a change of the device bumps it, so remembered verifications lapse. */
  private generation = new Map<string, number>();
  private verified = new Map<string, number>();
  private signingKeys = new Map<string, Buffer>();
  private listeners: Array<(id: string, change: DeviceChange) => void> = [];
  private mutations: Promise<unknown> = Promise.resolve();
  private loaded?: Promise<RegistryData>;
  readonly checkDigits: boolean;
  private readonly now: () => number;

  constructor(readonly backend: RegistryBackend, private readonly opts: RegistryOptions) {
    this.checkDigits = opts.checkDigits === true;
    this.now = opts.now ?? Date.now;
  }

  /** Loads the devices (once); the other stores of the registry share what was loaded. */
  open(): Promise<RegistryData> {
    this.loaded ??= this.backend.load().then((data) => {
      for (const d of data.devices) this.devices.set(d.id, d);
      return data;
    });
    return this.loaded;
  }

  get size(): number {
    return this.devices.size;
  }

  /** The record, or undefined. Registered means present, enabled or not. */
  get(id: string): DeviceRecord | undefined {
    return this.devices.get(id);
  }

  isRegistered(id: string): boolean {
    return this.devices.has(id);
  }

  list(): DeviceView[] {
    return [...this.devices.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(deviceView);
  }

  records(): DeviceRecord[] {
    return [...this.devices.values()];
  }

  /** Why an id presented at the edge cannot be a device id (malformed, wrong check character), or undefined. */
  idProblem(id: string): string | undefined {
    const malformed = deviceIdProblem(id);
    if (malformed) return malformed;
    if (this.checkDigits && !hasValidCheck(id)) return `"${id.slice(0, 60)}" is not a valid device id: its last character is not its check character (mistyped?)`;
    return undefined;
  }

  onChange(listener: (id: string, change: DeviceChange) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  add(input: NewDevice): Promise<IssuedDevice> {
    return this.serial(async () => {
      let id = input.id === undefined || input.id === '' ? undefined : String(input.id);
      if (id === undefined) id = this.generateId();
      else {
        const malformed = deviceIdProblem(id);
        if (malformed) throw new BadDeviceIdError(malformed, { parameter: 'id' });
        if (this.checkDigits && !hasValidCheck(id)) {
          const fixed = withCheck(id);
          throw new BadDeviceIdError(
            fixed
              ? `device ids end in a check character here; "${id}" would be "${fixed}" (or leave the id out to get one)`
              : `device ids end in a check character here and are made of letters and digits; "${id.slice(0, 60)}" cannot have one`,
            { parameter: 'id', ...(fixed ? { suggestion: fixed } : {}) },
          );
        }
      }
      if (id === RESERVED_ID) throw new BadDeviceIdError(`"${RESERVED_ID}" is the user name API keys log in with; choose another device id`, { parameter: 'id' });
      if (this.devices.has(id)) throw new ConflictError(`device "${id}" is already registered; rotate its secret to issue a new one`, { id });
      const tags = checkTags(input.tags);
      const meta = checkMeta(input.meta);
      const secret = newSecret();
      const now = this.now();
      const record: DeviceRecord = { id, enabled: input.enabled !== false, secretHash: await hashSecret(secret), signing: input.signing === true, tags, meta, createdAt: now, updatedAt: now };
      const signingKey = record.signing ? this.newSigningKey(record) : undefined;
      await this.save(record, signingKey, 'added');
      return { device: deviceView(record), secret, ...(signingKey ? { signingKey: signingKey.toString('base64url') } : {}) };
    });
  }

  update(id: string, patch: DevicePatch): Promise<{ device: DeviceView; signingKey?: string }> {
    return this.serial(async () => {
      const old = this.require(id);
      const next: DeviceRecord = { ...old, updatedAt: this.now() };
      if (patch.enabled !== undefined) {
        if (typeof patch.enabled !== 'boolean') throw new BadParameterError('enabled', '"enabled" must be true or false');
        next.enabled = patch.enabled;
      }
      if (patch.tags !== undefined) next.tags = checkTags(patch.tags);
      if (patch.meta !== undefined) next.meta = checkMeta(patch.meta);
      let signingKey: Buffer | undefined;
      if (patch.signing !== undefined) {
        if (typeof patch.signing !== 'boolean') throw new BadParameterError('signing', '"signing" must be true or false');
        next.signing = patch.signing;
        if (patch.signing && !old.signing) signingKey = this.newSigningKey(next);
        if (!patch.signing) delete next.signingKey;
      }
      await this.save(next, signingKey, old.enabled && !next.enabled ? 'disabled' : !old.enabled && next.enabled ? 'enabled' : 'updated');
      return { device: deviceView(next), ...(signingKey ? { signingKey: signingKey.toString('base64url') } : {}) };
    });
  }

  /** A new secret (and a new signing key for a signing device); the old ones stop working at once. */
  rotate(id: string): Promise<IssuedDevice> {
    return this.serial(async () => {
      const old = this.require(id);
      const secret = newSecret();
      const now = this.now();
      const next: DeviceRecord = { ...old, secretHash: await hashSecret(secret), updatedAt: now, rotatedAt: now };
      const signingKey = next.signing ? this.newSigningKey(next) : undefined;
      await this.save(next, signingKey, 'rotated');
      return { device: deviceView(next), secret, ...(signingKey ? { signingKey: signingKey.toString('base64url') } : {}) };
    });
  }

  remove(id: string): Promise<DeviceView> {
    return this.serial(async () => {
      const old = this.require(id);
      await this.backend.remove('devices', id);
      this.devices.delete(id);
      this.bump(id);
      this.signingKeys.delete(id);
      this.emit(id, 'removed');
      return deviceView(old);
    });
  }

  /**
   * A record decided on another cluster member (nodes/lib/cluster/shared.ts), undefined when the device
   * was removed there: written through and reported like a local change, so sessions of a disabled,
   * rotated or removed device end here too. The signing key is sealed under each member's registry key:
   * it travels sealed and opens only where that key is the same (docs/scaling.md).
   */
  applyShared(id: string, record: DeviceRecord | undefined): Promise<void> {
    return this.serial(async () => {
      const old = this.devices.get(id);
      if (!record) {
        if (!old) return;
        await this.backend.remove('devices', id);
        this.devices.delete(id);
        this.bump(id);
        this.signingKeys.delete(id);
        this.emit(id, 'removed');
        return;
      }
      await this.backend.put('devices', record);
      this.devices.set(id, record);
      this.bump(id);
      this.signingKeys.delete(id);
      const change: DeviceChange = !old
        ? 'added'
        : old.secretHash !== record.secretHash || old.signingKey !== record.signingKey
          ? 'rotated'
          : old.enabled && !record.enabled
            ? 'disabled'
            : !old.enabled && record.enabled
              ? 'enabled'
              : 'updated';
      this.emit(id, change);
    });
  }

  /** Checks a presented secret; a success is remembered until the device changes. */
  async check(id: string, secret: string): Promise<SecretCheck> {
    const d = this.devices.get(id);
    if (!d) return 'unknown';
    const gen = this.generation.get(id) ?? 0;
    const key = `${id}\u0000${fingerprint(secret)}`;
    let ok = this.verified.get(key) === gen;
    if (!ok) {
      ok = await verifySecret(secret, d.secretHash);
      // The device may have changed while scrypt ran: only a result for the current generation counts.
      if ((this.generation.get(id) ?? 0) !== gen) return this.check(id, secret);
      if (ok) {
        if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
        this.verified.set(key, gen);
      }
    }
    if (!ok) return 'wrong';
    return d.enabled ? 'ok' : 'disabled';
  }

  /** The fingerprint of the key signing keys are sealed under (never the key): cluster members compare it. */
  keyFingerprint(): string {
    return keyFingerprint(this.opts.sealKey);
  }

  /** The HMAC key of a device that signs its messages. */
  signingKey(id: string): Buffer | undefined {
    const d = this.devices.get(id);
    if (!d?.signing || !d.signingKey) return undefined;
    let key = this.signingKeys.get(id);
    if (!key) {
      key = unseal(d.signingKey, this.opts.sealKey);
      this.signingKeys.set(id, key);
    }
    return key;
  }

  private generateId(): string {
    for (;;) {
      const base = `d${randomBytes(6).toString('hex')}`;
      const id = this.checkDigits ? (withCheck(base) as string) : base;
      if (!this.devices.has(id)) return id;
    }
  }

  private require(id: string): DeviceRecord {
    const d = this.devices.get(id);
    if (!d) throw new NotFoundError(`no device "${String(id).slice(0, 128)}" is registered`, { id });
    return d;
  }

  /** A new signing key sealed into `record`; the plain key is handed out once and kept in memory. */
  private newSigningKey(record: DeviceRecord): Buffer {
    const key = randomBytes(32);
    record.signingKey = seal(key, this.opts.sealKey);
    return key;
  }

  /** Stores a changed record, keeps its new signing key (forgets the key of one that no longer signs) and tells the listeners. */
  private async save(record: DeviceRecord, signingKey: Buffer | undefined, change: DeviceChange): Promise<void> {
    await this.backend.put('devices', record);
    this.devices.set(record.id, record);
    this.bump(record.id);
    if (signingKey) this.signingKeys.set(record.id, signingKey);
    else if (!record.signing) this.signingKeys.delete(record.id);
    this.emit(record.id, change);
  }

  private bump(id: string): void {
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
  }

  private emit(id: string, change: DeviceChange): void {
    for (const l of this.listeners) {
      try {
        l(id, change);
      } catch {
        // A listener's failure is its own; the change is made.
      }
    }
  }

  /** Changes one after another, so two adds of one id cannot both pass the check. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.mutations;
    const run = Promise.all([this.open(), previous]).then(fn);
    this.mutations = run.catch(() => undefined);
    return run;
  }
}
