/** Options of upperstack-command, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface CommandOptions {
  name: string;
  /** Node id of the embedded broker; empty means the only one. */
  broker: string;
  /** MQTT topic of a device's commands; `{device}` is replaced. Empty: no MQTT. */
  topic: string;
  qos: 0 | 1;
  configVersion: number;
}

export interface CommandNodeDef extends NodeDef, CommandOptions {}

export const DEFAULT_COMMAND_TOPIC = 'devices/{device}/commands';

export const commandMigrations: ReadonlyArray<Migration<CommandOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, qos a number.
  (old) => ({ broker: '', topic: DEFAULT_COMMAND_TOPIC, ...old, qos: Number(old.qos ?? 1) === 0 ? 0 : 1 }),
];
