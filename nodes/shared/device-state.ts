/** The per-device analytics state registry of this runtime (nodes/lib/cluster/state.ts), by data folder. */
import type { NodeAPI } from 'node-red';
import { deviceStateRegistry, type DeviceStateRegistry } from '../lib/cluster/state';
import { dataDir } from './runtime';

export function deviceStates(RED: NodeAPI): DeviceStateRegistry {
  return deviceStateRegistry(dataDir(RED));
}
