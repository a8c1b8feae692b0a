/** The embedded DuckDB sink kind: a database file (or ':memory:') with a memory limit. */
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import { DuckDbStore } from './duckdb';
import type { SinkConfig, SinkContext, SinkKind } from './sinks';

export const DEFAULT_MEMORY_LIMIT_MB = 128;

export interface DuckDbSinkConfig extends SinkConfig {
  kind: 'duckdb';
  /** Database file; empty means upperstack.duckdb in the data folder (upperstack-<id>.duckdb for a second DuckDB sink). */
  path: string;
  /** DuckDB memory limit in MB; 0 leaves DuckDB's default (80% of RAM). */
  memoryLimit: number;
}

function fileOf(c: SinkConfig, ctx: SinkContext): string {
  const path = String(c.path ?? '');
  if (path === ':memory:') return path;
  if (path) return resolve(path);
  return join(ctx.dataDir, c.id === 'main' ? 'upperstack.duckdb' : `upperstack-${c.id}.duckdb`);
}

export const duckdbSink: SinkKind = {
  kind: 'duckdb',
  queryable: true,
  defaults: () => ({ path: '', memoryLimit: DEFAULT_MEMORY_LIMIT_MB }),
  normalize(raw, ctx) {
    const memoryLimit = raw.memoryLimit === '' || raw.memoryLimit === undefined ? DEFAULT_MEMORY_LIMIT_MB : Number(raw.memoryLimit);
    if (!Number.isInteger(memoryLimit) || memoryLimit < 0 || memoryLimit > 1048576) {
      throw new ConfigError(`sink ${raw.id}: the memory limit must be a whole number of MB from 0 to 1048576 (got ${JSON.stringify(raw.memoryLimit)})`, { setting: 'memoryLimit', sink: raw.id });
    }
    const c: DuckDbSinkConfig = { ...raw, kind: 'duckdb', path: typeof raw.path === 'string' ? raw.path.trim() : '', memoryLimit };
    const file = fileOf(c, ctx);
    if (file !== ':memory:') {
      const other = ctx.siblings.find((s) => s.kind === 'duckdb' && fileOf(s, ctx) === file);
      if (other) throw new ConfigError(`sinks ${other.id} and ${c.id} both write ${file}: one DuckDB file can be open once`, { setting: 'path', sink: c.id });
    }
    return c;
  },
  create: (c, ctx) => new DuckDbStore({ path: fileOf(c, ctx), memoryLimitMb: Number(c.memoryLimit) }),
  describe: (c, ctx) => `duckdb:${fileOf(c, ctx)}`,
};
