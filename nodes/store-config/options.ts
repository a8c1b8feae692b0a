/** Options of upperstack-store-config, shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { TimeSeriesStore } from '../lib/store/types';
import type { SinkConfig, SinkSet } from '../lib/store/sinks';
import { DEFAULT_MEMORY_LIMIT_MB } from '../lib/store/sinks-duckdb';
import { CREDENTIAL_SLOTS } from '../lib/store/sinks-influx';
import type { Migration } from '../shared/config';

export { DEFAULT_MEMORY_LIMIT_MB };

export interface StoreConfigOptions {
  name: string;
  /**
   * Where readings go, each with its own writer and spool; a write counts as
   * durable once every sink has it. The first queryable sink (DuckDB) answers
   * queries and keeps dead letters. The first sink's id is 'main'.
   */
  sinks: SinkConfig[];
  batchSize: number;
  flushMs: number;
  /** MB of disk each sink's spool may take; at the budget new writes are held, not reported durable. */
  spoolBudget: number;
  /**
   * The sink whose server answers reading queries (query API, reports, Grafana routes): '' the embedded store;
   * an InfluxDB 1.x or VictoriaMetrics sink's id so every instance writing to it answers the same queries.
   * Dead letters and the device registry stay in the embedded store.
   */
  querySink?: string;
  configVersion: number;
}

export const DEFAULT_SPOOL_BUDGET_MB = 1024;

export interface StoreConfigNodeDef extends NodeDef, StoreConfigOptions {}

export const storeConfigMigrations: ReadonlyArray<Migration<StoreConfigOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => ({ kind: 'duckdb', path: '', ...old, batchSize: Number(old.batchSize || 1000), flushMs: Number(old.flushMs || 100) }),
  // v1 → v2: a memory limit, so the store no longer grows towards 80% of RAM with the data it holds.
  (old) => ({ ...old, memoryLimit: old.memoryLimit === undefined || old.memoryLimit === '' ? DEFAULT_MEMORY_LIMIT_MB : Number(old.memoryLimit) }),
  // v2 → v3: the one database becomes the first of a list of sinks; its id 'main' keeps its spool at spool/<config id>.
  (old) => {
    const { kind, path, memoryLimit, ...rest } = old;
    return { ...rest, sinks: [{ id: 'main', kind: String(kind || 'duckdb'), path: String(path ?? ''), memoryLimit }] };
  },
  // v3 → v4: a disk budget for each sink's spool (1 GiB), so an outage cannot fill the disk.
  (old) => ({ ...old, spoolBudget: old.spoolBudget === undefined || old.spoolBudget === null || old.spoolBudget === '' ? DEFAULT_SPOOL_BUDGET_MB : Number(old.spoolBudget) }),
  // v4 → v5: retention of raw readings and roll-ups for DuckDB sinks. A store saved before keeps everything (an
  // upgrade deletes nothing); new stores default to 30 days raw and a year of roll-ups.
  (old) => ({
    ...old,
    sinks: Array.isArray(old.sinks)
      ? ((old.sinks as Array<Record<string, unknown> | null>).map((s) =>
          s && typeof s === 'object' && s.kind === 'duckdb' ? { ...s, retention: s.retention ?? '', rollupRetention: s.rollupRetention ?? '' } : s,
        ) as SinkConfig[])
      : (old.sinks as SinkConfig[] | undefined),
  }),
];

/**
 * Credentials: user (text), password and token (password) for each server sink,
 * in slots 1 to CREDENTIAL_SLOTS; a sink names its slot (`slot`), the editor
 * gives each new server sink a free one.
 */
export function storeConfigCredentials(): Record<string, { type: 'text' | 'password' }> {
  const out: Record<string, { type: 'text' | 'password' }> = {};
  for (let i = 1; i <= CREDENTIAL_SLOTS; i++) {
    out[`user${i}`] = { type: 'text' };
    out[`password${i}`] = { type: 'password' };
    out[`token${i}`] = { type: 'password' };
  }
  return out;
}

export interface StoreConfigCredentials {
  [key: string]: string | undefined;
}

export interface StoreConfigNode extends Node<StoreConfigCredentials> {
  /** The store that answers queries and keeps dead letters (the first queryable sink). */
  store: TimeSeriesStore;
  /** Writes to every sink; durable once all have it. */
  writer: SinkSet;
  /** Resolves once the store is open (or rejects with why it is not). */
  ready: Promise<void>;
  label: string;
  /** Why the store config could not start (a sink list it refuses, a sink it cannot build here); then there is no writer or store. */
  failure?: string;
}
