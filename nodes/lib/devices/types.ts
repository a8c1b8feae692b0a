/**
 * What the device registry keeps: devices, API keys, data-market clients and
 * their grants. Secrets are kept only as scrypt hashes (secret.ts); the HMAC
 * key of a device that signs its messages is kept sealed under the registry key.
 */

export type MetaValue = string | number | boolean;

export interface DeviceRecord {
  id: string;
  enabled: boolean;
  /** scrypt hash of the secret (secret.ts). */
  secretHash: string;
  /** Signed messages are required of this device (HMAC-SHA256, signing.ts). */
  signing: boolean;
  /** The HMAC key, sealed (secret.ts `seal`); present while `signing` is on. */
  signingKey?: string;
  /** Copied onto the device's readings (site, customer, tier...); API keys may be scoped by them. */
  tags: Record<string, string>;
  /** What an admin notes about the device (model, location...). What the device reports is `deviceinfo` (store). */
  meta: Record<string, MetaValue>;
  createdAt: number;
  updatedAt: number;
  /** When the secret was last replaced. */
  rotatedAt?: number;
}

/** A device as the API and the editor show it: never the hash or the sealed key. */
export interface DeviceView {
  id: string;
  enabled: boolean;
  signing: boolean;
  tags: Record<string, string>;
  meta: Record<string, MetaValue>;
  createdAt: string;
  updatedAt: string;
  rotatedAt?: string;
}

export interface ApiKeyRecord {
  /** Public part of the key (`usk_<id>_<secret>`), listed and used to revoke it. */
  id: string;
  name: string;
  hash: string;
  /** `admin`, `read`, `read:tag=<tag>:<value>`, `sensitive`. */
  scopes: string[];
  createdAt: number;
  revokedAt?: number;
  lastUsedAt?: number;
}

export interface ClientRecord {
  /** The MQTT user name of a data-market client. */
  id: string;
  hash: string;
  createdAt: number;
}

export interface GrantRecord {
  id: string;
  client: string;
  device: string;
  createdAt: number;
  expiresAt: number;
  /** Who made it: `api`, `flow:<node id>`, an actor name. */
  by: string;
}

export type RegistryTable = 'devices' | 'api_keys' | 'clients' | 'grants';

export interface RegistryData {
  devices: DeviceRecord[];
  api_keys: ApiKeyRecord[];
  clients: ClientRecord[];
  grants: GrantRecord[];
}

export interface RecordOf {
  devices: DeviceRecord;
  api_keys: ApiKeyRecord;
  clients: ClientRecord;
  grants: GrantRecord;
}

/**
 * Where the registry is kept. The embedded store implements it with DuckDB
 * tables (nodes/lib/store/duckdb-registry.ts); MemoryBackend is for tests and
 * for stores that have no tables of their own.
 */
export interface RegistryBackend {
  load(): Promise<RegistryData>;
  put<T extends RegistryTable>(table: T, record: RecordOf[T]): Promise<void>;
  remove(table: RegistryTable, id: string): Promise<void>;
}

export class MemoryBackend implements RegistryBackend {
  readonly data: RegistryData = { devices: [], api_keys: [], clients: [], grants: [] };

  load(): Promise<RegistryData> {
    return Promise.resolve(structuredClone(this.data));
  }

  put<T extends RegistryTable>(table: T, record: RecordOf[T]): Promise<void> {
    const list = this.data[table] as Array<RecordOf[T]>;
    const i = list.findIndex((r) => r.id === record.id);
    if (i >= 0) list[i] = structuredClone(record);
    else list.push(structuredClone(record));
    return Promise.resolve();
  }

  remove(table: RegistryTable, id: string): Promise<void> {
    const list = this.data[table] as Array<{ id: string }>;
    const i = list.findIndex((r) => r.id === id);
    if (i >= 0) list.splice(i, 1);
    return Promise.resolve();
  }
}
