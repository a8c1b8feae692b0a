/** Options of upperstack-query, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface QueryOptions {
  name: string;
  /** Id of the upperstack-store-config node. */
  store: string;
  /** 'readings' or 'aggregate'; msg.payload.kind may override it. */
  kind: 'readings' | 'aggregate';
  configVersion: number;
}

export interface QueryNodeDef extends NodeDef, QueryOptions {}

export const queryMigrations: ReadonlyArray<Migration<QueryOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ store: '', kind: 'readings', ...old }),
];
