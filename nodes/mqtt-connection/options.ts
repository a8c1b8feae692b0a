/** Options of upperstack-mqtt-connection (an external broker), shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { IClientOptions } from 'mqtt';
import type { Intake } from '../lib/ingest/intake';
import type { StatusState } from '../shared/status';
import type { Migration } from '../shared/config';

export interface MqttConnectionOptions {
  name: string;
  /** mqtt://, mqtts://, ws:// or wss:// URL. */
  url: string;
  clientId: string;
  protocolVersion: 4 | 5;
  /** Keep the session (and queued QoS 1/2 messages) across reconnects. */
  persistent: boolean;
  keepalive: number;
  /** Files for TLS; empty means the system CAs and no client certificate. */
  ca: string;
  cert: string;
  key: string;
  rejectUnauthorized: boolean;
  /**
   * MQTT 5: the most unacknowledged QoS 1/2 messages the broker may send this
   * client at once (Receive Maximum in CONNECT); 0 announces none, leaving the
   * broker's own limit (mosquitto: max_inflight_messages, 20 by default).
   * MQTT 3.1.1 cannot say it.
   */
  receiveMaximum: number;
  configVersion: number;
}

/**
 * A window of 100 lets the connection journal and acknowledge a backlog about
 * 80 messages at a time instead of 16 (mosquitto's 20 less room for the next
 * ones), about a fifth of the per-turn work (docs/performance.md); past the
 * input's pause mark it is also the most the broker can still send unasked.
 */
export const DEFAULT_RECEIVE_MAXIMUM = 100;
export const RECEIVE_MAXIMUM_RANGE = Object.freeze({ min: 0, max: 65535 });

/** A receive maximum from the editor or a hand-written flow; anything unusable is the default. */
export function receiveMaximumSetting(v: unknown): number {
  if (v === undefined || v === null || v === '') return DEFAULT_RECEIVE_MAXIMUM;
  const n = Number(v);
  return Number.isInteger(n) && n >= RECEIVE_MAXIMUM_RANGE.min && n <= RECEIVE_MAXIMUM_RANGE.max ? n : DEFAULT_RECEIVE_MAXIMUM;
}

/**
 * Messages journaled (and acknowledged) together at most. Short of the broker's
 * window, so that it can send the next messages while a turn is written: 16 of
 * mosquitto's default 20 when the window is the broker's (MQTT 3.1.1, or no
 * receive maximum announced), four fifths of the announced one otherwise.
 */
export function turnMaximum(o: Pick<MqttConnectionOptions, 'protocolVersion' | 'receiveMaximum'>): number {
  if (o.protocolVersion !== 5 || o.receiveMaximum <= 0) return 16;
  return Math.max(1, o.receiveMaximum - Math.ceil(o.receiveMaximum / 5));
}

export interface MqttConnectionNodeDef extends NodeDef, MqttConnectionOptions {}

export interface MqttConnectionCredentials {
  username?: string;
  password?: string;
}

export const mqttConnectionMigrations: ReadonlyArray<Migration<MqttConnectionOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => ({
    url: 'mqtt://127.0.0.1:1883',
    clientId: '',
    persistent: true,
    ca: '',
    cert: '',
    key: '',
    rejectUnauthorized: true,
    ...old,
    protocolVersion: Number(old.protocolVersion ?? 4) === 5 ? 5 : 4,
    keepalive: Number(old.keepalive ?? 60),
  }),
  // v1 → v2: MQTT 5 connections announce a receive maximum (longer journal turns on a backlog).
  (old) => ({ ...old, receiveMaximum: receiveMaximumSetting(old.receiveMaximum) }),
];

/** An input on this connection: its subscription and the intake its messages go to. */
export interface Subscriber {
  filter: string;
  qos: 0 | 1 | 2;
  /** Takes the messages; receive(..., early) because the stream holds acknowledgements until flush(). */
  intake: Pick<Intake, 'receive' | 'flush'>;
  status(state: StatusState, text: string): void;
}

export interface MqttConnectionNode extends Node<MqttConnectionCredentials> {
  /** Returns the input's way out: `removed` false (a restart, a redeploy) keeps a persistent session's subscription. */
  register(owner: Node, sub: Subscriber): (removed?: boolean) => void;
  /** The broker URL with its login and TLS (files read), for nodes that open clients of their own to it. */
  brokerSettings(): { url: string; options: IClientOptions };
}

