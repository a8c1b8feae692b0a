/** Options of upperstack-alert-list, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface AlertListOptions {
  name: string;
  /** Alert states listed, comma-separated. */
  states: string;
  /** Seconds between two looks at the alerts (a list goes out only when it changed). */
  interval: number;
  /** Rows listed at most, most severe and newest first. */
  maxRows: number;
  configVersion: number;
}

export interface AlertListNodeDef extends NodeDef, AlertListOptions {}

export const ALERT_LIST_STATES = ['pending', 'firing', 'acknowledged', 'flapping'] as const;

export const ALERT_LIST_DEFAULTS: Omit<AlertListOptions, 'name' | 'configVersion'> = {
  states: 'firing, acknowledged, flapping',
  interval: 1,
  maxRows: 200,
};

export const alertListMigrations: ReadonlyArray<Migration<AlertListOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => {
    const o = { ...ALERT_LIST_DEFAULTS, ...old };
    return { ...o, interval: Number(o.interval), maxRows: Number(o.maxRows) };
  },
];
