/** Options of upperstack-api, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface ApiOptions {
  name: string;
  /** Id of the upperstack-store-config node to serve. */
  store: string;
  configVersion: number;
}

export interface ApiNodeDef extends NodeDef, ApiOptions {}

export interface ApiCredentials {
  /** Overrides UPPERSTACK_API_KEY when set. */
  apiKey?: string;
}

export const apiMigrations: ReadonlyArray<Migration<ApiOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ store: '', ...old }),
];
