/** Options of upperstack-store, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface StoreOptions {
  name: string;
  /** Id of the upperstack-store-config node. */
  store: string;
  configVersion: number;
}

export interface StoreNodeDef extends NodeDef, StoreOptions {}

export const storeMigrations: ReadonlyArray<Migration<StoreOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ store: '', ...old }),
];
