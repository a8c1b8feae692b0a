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
  configVersion: number;
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
  register(owner: Node, sub: Subscriber): () => void;
  /** The broker URL with its login and TLS (files read), for nodes that open clients of their own to it. */
  brokerSettings(): { url: string; options: IClientOptions };
}

