/** Options of upperstack-mqtt-in, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export type PayloadFormat = 'auto' | 'json' | 'cbor' | 'msgpack' | 'protobuf' | 'lineprotocol';

export interface MqttInOptions {
  name: string;
  /** 'embedded': the upperstack-broker in this runtime; 'external': through a connection config node. */
  source: 'embedded' | 'external';
  /** Node id of the embedded broker; empty means the only one. */
  broker: string;
  /** Id of the upperstack-mqtt-connection config node. */
  connection: string;
  topic: string;
  qos: 0 | 1 | 2;
  format: PayloadFormat;
  /** Shared-subscription group (external brokers): subscribes to $share/<group>/<filter>. */
  group: string;
  configVersion: number;
}

export interface MqttInNodeDef extends NodeDef, MqttInOptions {}

export const mqttInMigrations: ReadonlyArray<Migration<MqttInOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, qos a number.
  (old) => ({
    source: old.connection ? 'external' : 'embedded',
    broker: '',
    connection: '',
    topic: 'devices/{device}/telemetry',
    format: 'auto',
    group: '',
    ...old,
    qos: Number(old.qos ?? 1) as 0 | 1 | 2,
  }),
];
