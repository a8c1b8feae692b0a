/** Options of upperstack-deadletter, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface DeadLetterOptions {
  name: string;
  /** Id of the upperstack-store-config node that keeps the deadletters table. */
  store: string;
  /** Embedded broker to publish on; empty means the only one (none: no publish). */
  broker: string;
  /** Topic prefix; the device is appended: <prefix>/<device>. */
  topic: string;
  configVersion: number;
}

export interface DeadLetterNodeDef extends NodeDef, DeadLetterOptions {}

export const deadLetterMigrations: ReadonlyArray<Migration<DeadLetterOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ store: '', broker: '', topic: 'upperstack/deadletter', ...old }),
];
