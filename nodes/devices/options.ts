/** Options of upperstack-devices, shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface DevicesOptions {
  name: string;
  /** The upperstack-store-config whose DuckDB keeps the registry's tables. */
  store: string;
  /** Device ids end in a Luhn mod 36 check character; a mistyped id is refused where it arrives. */
  checkDigits: boolean;
  /** No anonymous clients anywhere, loopback included (also UPPERSTACK_REQUIRE_AUTH=true). */
  requireAuth: boolean;
  /** Messages a second one device may send, on MQTT, HTTP and CoAP together; 0 = no limit. */
  perDevice: number;
  /** Messages a second from one source address (all its devices together); 0 = no limit. */
  perAddress: number;
  configVersion: number;
}

export interface DevicesNodeDef extends NodeDef, DevicesOptions {}

export type DevicesNode = Node;

const count = (v: unknown): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : 0;
  return Number.isInteger(n) && n > 0 ? n : 0;
};

const bool = (v: unknown, fallback: boolean) => (v === undefined || v === null || v === '' ? fallback : v === true || v === 'true');

export const devicesMigrations: ReadonlyArray<Migration<DevicesOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, booleans as booleans.
  (old) => ({ store: '', ...old, checkDigits: bool(old.checkDigits, false), requireAuth: bool(old.requireAuth, false) }),
  // v1 → v2: rate limits, off unless set (0); given as text by hand-written flows.
  (old) => ({ ...old, perDevice: count(old.perDevice), perAddress: count(old.perAddress) }),
];
