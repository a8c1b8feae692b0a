/** Options of upperstack-grant, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface GrantOptions {
  name: string;
  /** Device of the grant when the message names none. */
  device: string;
  /** Minutes of the grant when the message says none (text in the editor). */
  minutes: string;
  configVersion: number;
}

export interface GrantNodeDef extends NodeDef, GrantOptions {}

export const DEFAULT_GRANT_MINUTES = '60';

export const grantMigrations: ReadonlyArray<Migration<GrantOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, minutes as text.
  (old) => ({ device: '', ...old, minutes: old.minutes === undefined || old.minutes === null || String(old.minutes) === '' ? DEFAULT_GRANT_MINUTES : String(old.minutes) }),
];
