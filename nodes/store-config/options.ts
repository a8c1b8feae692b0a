/** Options of upperstack-store-config, shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { TimeSeriesStore } from '../lib/store/types';
import type { SinkConfig, SinkSet } from '../lib/store/sinks';
import { DEFAULT_MEMORY_LIMIT_MB } from '../lib/store/sinks-duckdb';
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
  configVersion: number;
}

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
];

export interface StoreConfigNode extends Node {
  /** The store that answers queries and keeps dead letters (the first queryable sink). */
  store: TimeSeriesStore;
  /** Writes to every sink; durable once all have it. */
  writer: SinkSet;
  /** Resolves once the store is open (or rejects with why it is not). */
  ready: Promise<void>;
  label: string;
}
