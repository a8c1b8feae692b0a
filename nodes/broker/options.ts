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
  /** CA (PEM file) of device client certificates: a verified certificate logs in the device its CN names. */
  tlsCa: string;
  /** Largest MQTT packet accepted, in KiB. */
  maxPacketKb: number;
  /** QoS 1/2 messages an MQTT 5 client may have unacknowledged towards the broker. */
  receiveMaximum: number;
  /** Messages kept per offline persistent session before newer ones are dropped; 0: no bound. */
  maxQueued: number;
  /** KiB a subscriber may leave unread on its connection before it is disconnected; 0: no bound. */
  maxBehindKb: number;
  configVersion: number;
}

/** Defaults of the MQTT 5 settings (the same as the broker library's). */
export const BROKER_SETTING_DEFAULTS = Object.freeze({ maxPacketKb: 16 * 1024, receiveMaximum: 1000, maxQueued: 1000, maxBehindKb: 8 * 1024 });

/** Allowed ranges, shared by the editor's validation and the runtime. */
export const BROKER_SETTING_RANGES = Object.freeze({
  maxPacketKb: { min: 1, max: 256 * 1024 },
  receiveMaximum: { min: 1, max: 65535 },
  maxQueued: { min: 0, max: 10_000_000 },
  maxBehindKb: { min: 0, max: 4 * 1024 * 1024 },
});

/** A setting from the editor (or text from a hand-written flow); anything unusable is its default. */
export function brokerSetting(name: keyof typeof BROKER_SETTING_DEFAULTS, v: unknown): number {
  if (v === undefined || v === null || v === '') return BROKER_SETTING_DEFAULTS[name];
  const n = Number(v);
  const { min, max } = BROKER_SETTING_RANGES[name];
  return Number.isInteger(n) && n >= min && n <= max ? n : BROKER_SETTING_DEFAULTS[name];
}

export interface BrokerNodeDef extends NodeDef, BrokerOptions {}

export interface BrokerCredentials {
  username?: string;
  password?: string;
}

export const brokerMigrations: ReadonlyArray<Migration<BrokerOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ port: '1883', bind: '', wsPort: '', tlsPort: '', tlsKey: '', tlsCert: '', ...old }),
  // v1 → v2: MQTT 5 limits (maximum packet size, receive maximum, queue per session) at their defaults.
  (old) => ({
    ...old,
    maxPacketKb: brokerSetting('maxPacketKb', old.maxPacketKb),
    receiveMaximum: brokerSetting('receiveMaximum', old.receiveMaximum),
    maxQueued: brokerSetting('maxQueued', old.maxQueued),
  }),
  // v2 → v3: a CA for device client certificates on the TLS listener (none: no certificate logins).
  (old) => ({ ...old, tlsCa: typeof old.tlsCa === 'string' ? old.tlsCa.trim() : '' }),
  // v3 → v4: how far a subscriber may fall behind before it is cut off (8 MiB, as it was fixed before).
  (old) => ({ ...old, maxBehindKb: brokerSetting('maxBehindKb', old.maxBehindKb) }),
];

