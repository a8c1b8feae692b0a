/** Options of upperstack-market, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface MarketOptions {
  name: string;
  /** Node id of the embedded broker; empty means the only one. */
  broker: string;
  /** The device whose data is offered; empty: every device whose readings reach the node. */
  device: string;
  configVersion: number;
}

export interface MarketNodeDef extends NodeDef, MarketOptions {}

/** A device id usable as one MQTT topic level (no separators or wildcards). */
export function topicLevelProblem(device: string): string | undefined {
  if (device === '') return undefined;
  if (device.length > 128 || /[/+#\u0000]/.test(device) || device.startsWith('$')) return 'a device id without "/", "+", "#" (at most 128 characters), or empty for every device';
  return undefined;
}

export const marketMigrations: ReadonlyArray<Migration<MarketOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ broker: '', ...old, device: String(old.device ?? '').trim() }),
];
