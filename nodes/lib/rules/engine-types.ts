/** The rule engine's public shapes: options, saved state, the change log, the alert filter. */
import type { AlertRecord, AlertEvent, AlertState } from './types';
import type { DeviceJson, SlotJson } from './slot';

export interface EngineOptions {
  /** Epoch ms; defaults to Date.now. */
  clock?: () => number;
  /** Alert records kept (active ones always; the oldest cleared ones go first). */
  maxRecords?: number;
  /** Devices tracked; past it the longest-silent devices without alerts are forgotten. */
  maxDevices?: number;
  /** Recent transitions kept for the history view. */
  historySize?: number;
}

export interface EngineState {
  version: 1;
  savedAt: number;
  devices: DeviceJson[];
  slots: SlotJson[];
  records: AlertRecord[];
  events: AlertEvent[];
  activated: Record<string, number>;
}

/** What changed since the last takeChanges(): for the append-only state log. */
export interface EngineChanges {
  slots: SlotJson[];
  /** Slots that went away: [rule, device]. */
  dropped: Array<[string, string]>;
  records: AlertRecord[];
  removedRecords: string[];
  events: AlertEvent[];
}

export interface AlertFilter {
  state?: AlertState | AlertState[];
  device?: string;
  rule?: string;
  /** Alerts active at some time in [from, to). */
  from?: number;
  to?: number;
}
