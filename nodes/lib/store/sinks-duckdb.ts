/** The embedded DuckDB sink kind: a database file (or ':memory:') with a memory limit. */
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import { loadDuckDb } from './duckdb-load';
import { threadsFromEnv } from './duckdb-schema';
import { parseRetention } from './retention';
import type { SinkConfig, SinkContext, SinkKind } from './sinks';

/**
 * DuckDB keeps every block it writes or reads cached until this limit, so in a
 * store that keeps taking readings the process grows by the whole limit (about
 * 10 MB per million readings until it is reached). 64 MB leaves a single-thread
 * DuckDB room to sort and group millions of rows (spilling beside the file),
 * while the cache stays a minor part of the pack's memory. See docs/performance.md.
 */
export const DEFAULT_MEMORY_LIMIT_MB = 64;
/** Raw readings and roll-ups of a new store (a store saved before retention keeps everything: see the store config's migrations). */
export const DEFAULT_RETENTION = '30d';
export const DEFAULT_ROLLUP_RETENTION = '1y';

export interface DuckDbSinkConfig extends SinkConfig {
  kind: 'duckdb';
  /** Database file; empty means upperstack.duckdb in the data folder (upperstack-<id>.duckdb for a second DuckDB sink). */
  path: string;
  /** DuckDB memory limit in MB; 0 leaves DuckDB's default (80% of RAM). */
  memoryLimit: number;
  /** How long raw readings are kept ("30d", "12h"; empty: forever). */
  retention: string;
  /** How long the 1-minute and 1-hour roll-ups are kept ("1y"; empty: forever); at least as long as raw readings. */
  rollupRetention: string;
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
  defaults: () => ({ path: '', memoryLimit: DEFAULT_MEMORY_LIMIT_MB, retention: DEFAULT_RETENTION, rollupRetention: DEFAULT_ROLLUP_RETENTION }),
  normalize(raw, ctx) {
    const memoryLimit = raw.memoryLimit === '' || raw.memoryLimit === undefined ? DEFAULT_MEMORY_LIMIT_MB : Number(raw.memoryLimit);
    if (!Number.isInteger(memoryLimit) || memoryLimit < 0 || memoryLimit > 1048576) {
      throw new ConfigError(`sink ${raw.id}: the memory limit must be a whole number of MB from 0 to 1048576 (got ${JSON.stringify(raw.memoryLimit)})`, { setting: 'memoryLimit', sink: raw.id });
    }
    const retention = String(raw.retention ?? '').trim();
    const rollupRetention = String(raw.rollupRetention ?? '').trim();
    const rawMs = parseRetention(retention, `sink ${raw.id}: retention`);
    const rollMs = parseRetention(rollupRetention, `sink ${raw.id}: roll-up retention`);
    if (rawMs > 0 && rollMs > 0 && rollMs < rawMs) {
      throw new ConfigError(`sink ${raw.id}: roll-ups must be kept at least as long as raw readings (${rollupRetention} is shorter than ${retention})`, { setting: 'rollupRetention', sink: raw.id });
    }
    // An empty retention keeps everything: roll-ups too, whatever their own period says, since the aggregate API
    // answers from a roll-up tier where it can and a tier pruned before the raw rows would answer with nothing.
    const c: DuckDbSinkConfig = { ...raw, kind: 'duckdb', path: typeof raw.path === 'string' ? raw.path.trim() : '', memoryLimit, retention, rollupRetention: rawMs === 0 ? '' : rollupRetention };
    const file = fileOf(c, ctx);
    if (file !== ':memory:') {
      const other = ctx.siblings.find((s) => s.kind === 'duckdb' && fileOf(s, ctx) === file);
      if (other) throw new ConfigError(`sinks ${other.id} and ${c.id} both write ${file}: one DuckDB file can be open once`, { setting: 'path', sink: c.id });
    }
    return c;
  },
  create: (c, ctx) =>
    new (loadDuckDb(c.id).DuckDbStore)({
      path: fileOf(c, ctx),
      memoryLimitMb: Number(c.memoryLimit),
      threads: threadsFromEnv(process.env.UPPERSTACK_DUCKDB_THREADS),
      retentionMs: parseRetention(c.retention, 'retention'),
      rollupRetentionMs: parseRetention(c.rollupRetention, 'rollupRetention'),
      owner: ctx.owner ?? (ctx.configId ? `store config ${ctx.configId}` : undefined),
    }),
  describe: (c, ctx) => `duckdb:${fileOf(c, ctx)}`,
};
