/** Options of upperstack-store-config, shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { TimeSeriesStore } from '../lib/store/types';
import type { DurableWriter } from '../lib/store/writer';
import type { Migration } from '../shared/config';

export interface StoreConfigOptions {
  name: string;
  kind: 'duckdb';
  /** DuckDB file; empty means upperstack.duckdb in the data folder. */
  path: string;
  batchSize: number;
  flushMs: number;
  /** DuckDB memory limit in MB; 0 leaves DuckDB's default (80% of RAM). */
  memoryLimit: number;
  configVersion: number;
}

export const DEFAULT_MEMORY_LIMIT_MB = 128;

export interface StoreConfigNodeDef extends NodeDef, StoreConfigOptions {}

export const storeConfigMigrations: ReadonlyArray<Migration<StoreConfigOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => ({ kind: 'duckdb', path: '', ...old, batchSize: Number(old.batchSize || 1000), flushMs: Number(old.flushMs || 100) }),
  // v1 → v2: a memory limit, so the store no longer grows towards 80% of RAM with the data it holds.
  (old) => ({ ...old, memoryLimit: old.memoryLimit === undefined || old.memoryLimit === '' ? DEFAULT_MEMORY_LIMIT_MB : Number(old.memoryLimit) }),
];

export interface StoreConfigNode extends Node {
  store: TimeSeriesStore;
  writer: DurableWriter;
  /** Resolves once the store is open (or rejects with why it is not). */
  ready: Promise<void>;
  label: string;
}

