/**
 * The device registry's tables in the DuckDB store: `devices`, `api_keys`,
 * `market_clients` and `grants`, one row per record, plain columns so people
 * can read them with SQL (`SELECT id, enabled, tags FROM devices`). Secrets are
 * scrypt hashes; a signing key is sealed (nodes/lib/devices/secret.ts).
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { DuckDBTimestampValue } from '@duckdb/node-api';
import type { RecordOf, RegistryBackend, RegistryData, RegistryTable } from '../devices/types';

type ColumnType = 'text' | 'bool' | 'ts' | 'json' | 'list';

interface Column {
  col: string;
  key: string;
  type: ColumnType;
  required?: boolean;
}

const TABLES: Record<RegistryTable, { name: string; columns: Column[] }> = {
  devices: {
    name: 'devices',
    columns: [
      { col: 'id', key: 'id', type: 'text', required: true },
      { col: 'enabled', key: 'enabled', type: 'bool', required: true },
      { col: 'secret_hash', key: 'secretHash', type: 'text', required: true },
      { col: 'signing', key: 'signing', type: 'bool', required: true },
      { col: 'signing_key', key: 'signingKey', type: 'text' },
      { col: 'tags', key: 'tags', type: 'json', required: true },
      { col: 'meta', key: 'meta', type: 'json', required: true },
      { col: 'created_at', key: 'createdAt', type: 'ts', required: true },
      { col: 'updated_at', key: 'updatedAt', type: 'ts', required: true },
      { col: 'rotated_at', key: 'rotatedAt', type: 'ts' },
    ],
  },
  api_keys: {
    name: 'api_keys',
    columns: [
      { col: 'id', key: 'id', type: 'text', required: true },
      { col: 'name', key: 'name', type: 'text', required: true },
      { col: 'hash', key: 'hash', type: 'text', required: true },
      { col: 'scopes', key: 'scopes', type: 'list', required: true },
      { col: 'created_at', key: 'createdAt', type: 'ts', required: true },
      { col: 'revoked_at', key: 'revokedAt', type: 'ts' },
      { col: 'last_used_at', key: 'lastUsedAt', type: 'ts' },
    ],
  },
  clients: {
    name: 'market_clients',
    columns: [
      { col: 'id', key: 'id', type: 'text', required: true },
      { col: 'hash', key: 'hash', type: 'text', required: true },
      { col: 'created_at', key: 'createdAt', type: 'ts', required: true },
    ],
  },
  grants: {
    name: 'grants',
    columns: [
      { col: 'id', key: 'id', type: 'text', required: true },
      { col: 'client', key: 'client', type: 'text', required: true },
      { col: 'device', key: 'device', type: 'text', required: true },
      { col: 'created_at', key: 'createdAt', type: 'ts', required: true },
      { col: 'expires_at', key: 'expiresAt', type: 'ts', required: true },
      { col: 'granted_by', key: 'by', type: 'text', required: true },
    ],
  },
};

const SQL_TYPE: Record<ColumnType, string> = { text: 'VARCHAR', bool: 'BOOLEAN', ts: 'TIMESTAMP', json: 'JSON', list: 'JSON' };

function createSql(table: RegistryTable): string {
  const t = TABLES[table];
  const cols = t.columns.map((c) => `${c.col} ${SQL_TYPE[c.type]}${c.required ? ' NOT NULL' : ''}${c.col === 'id' ? ' PRIMARY KEY' : ''}`);
  return `CREATE TABLE IF NOT EXISTS ${t.name} (${cols.join(', ')})`;
}

export const REGISTRY_SCHEMA = (Object.keys(TABLES) as RegistryTable[]).map(createSql).join(';\n');

function toSql(c: Column, v: unknown): DuckDBValue {
  if (v === undefined || v === null) return null;
  switch (c.type) {
    case 'text':
      return String(v);
    case 'bool':
      return v === true;
    case 'ts':
      return new DuckDBTimestampValue(BigInt(Math.round(Number(v))) * 1000n);
    case 'json':
    case 'list':
      return JSON.stringify(v);
  }
}

function fromSql(c: Column, v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  switch (c.type) {
    case 'text':
      return String(v);
    case 'bool':
      return v === true;
    case 'ts':
      return Number(v);
    case 'json':
    case 'list':
      return JSON.parse(String(v)) as unknown;
  }
}

/** The registry on a DuckDB connection; `run` is the store's queue, so registry statements never interleave with writes. */
export class DuckDbRegistry implements RegistryBackend {
  private created = false;

  constructor(private readonly run: <T>(op: string, fn: (conn: DuckDBConnection) => Promise<T>) => Promise<T>) {}

  private async ensure(conn: DuckDBConnection): Promise<void> {
    if (this.created) return;
    await conn.run(REGISTRY_SCHEMA);
    this.created = true;
  }

  load(): Promise<RegistryData> {
    return this.run('load the device registry', async (conn) => {
      await this.ensure(conn);
      const data: RegistryData = { devices: [], api_keys: [], clients: [], grants: [] };
      for (const table of Object.keys(TABLES) as RegistryTable[]) {
        const t = TABLES[table];
        const select = t.columns.map((c) => (c.type === 'ts' ? `epoch_ms(${c.col})::DOUBLE` : c.type === 'json' || c.type === 'list' ? `${c.col}::VARCHAR` : c.col)).join(', ');
        const rows = (await conn.runAndReadAll(`SELECT ${select} FROM ${t.name} ORDER BY id`)).getRows();
        for (const row of rows) {
          const rec: Record<string, unknown> = {};
          t.columns.forEach((c, i) => {
            const v = fromSql(c, row[i]);
            if (v !== undefined) rec[c.key] = v;
          });
          (data[table] as unknown[]).push(rec);
        }
      }
      return data;
    });
  }

  put<T extends RegistryTable>(table: T, record: RecordOf[T]): Promise<void> {
    const t = TABLES[table];
    const params: Record<string, DuckDBValue> = {};
    t.columns.forEach((c, i) => (params[`p${i}`] = toSql(c, (record as unknown as Record<string, unknown>)[c.key])));
    const sql = `INSERT OR REPLACE INTO ${t.name} (${t.columns.map((c) => c.col).join(', ')}) VALUES (${t.columns.map((_c, i) => `$p${i}`).join(', ')})`;
    return this.run(`save to ${t.name}`, async (conn) => {
      await this.ensure(conn);
      await conn.run(sql, params);
    });
  }

  remove(table: RegistryTable, id: string): Promise<void> {
    const t = TABLES[table];
    return this.run(`delete from ${t.name}`, async (conn) => {
      await this.ensure(conn);
      await conn.run(`DELETE FROM ${t.name} WHERE id = $id`, { id });
    });
  }
}
