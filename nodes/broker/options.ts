/** Options of upperstack-broker, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface BrokerOptions {
  name: string;
  port: string;
  bind: string;
  wsPort: string;
  tlsPort: string;
  tlsKey: string;
  tlsCert: string;
  configVersion: number;
}

export interface BrokerNodeDef extends NodeDef, BrokerOptions {}

export interface BrokerCredentials {
  username?: string;
  password?: string;
}

export const brokerMigrations: ReadonlyArray<Migration<BrokerOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ port: '1883', bind: '', wsPort: '', tlsPort: '', tlsKey: '', tlsCert: '', ...old }),
];

