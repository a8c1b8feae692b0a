/** Options of upperstack-live, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface LiveOptions {
  name: string;
  /** A store config node: at start the table and charts are filled from what it keeps; '' or absent: not. */
  store?: string;
  /** Fields to chart, comma-separated: one output per field after the table's. */
  fields: string;
  /** Table columns, comma-separated; empty: every field seen (at most 12). */
  columns: string;
  /** Seconds between two updates of the table and the charts. */
  interval: number;
  /** Devices in the table; the one seen least recently goes first. */
  maxDevices: number;
  configVersion: number;
}

export interface LiveNodeDef extends NodeDef, LiveOptions {}

export const LIVE_DEFAULTS: Omit<LiveOptions, 'name' | 'configVersion'> = {
  store: '',
  fields: 'temperature, humidity, power',
  columns: '',
  interval: 2,
  maxDevices: 1000,
};

/** "a, b,,c" → ["a", "b", "c"]. */
export function fieldList(text: string | undefined): string[] {
  return String(text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export const liveMigrations: ReadonlyArray<Migration<LiveOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => {
    const o = { ...LIVE_DEFAULTS, ...old };
    return { ...o, interval: Number(o.interval), maxDevices: Number(o.maxDevices) };
  },
];
