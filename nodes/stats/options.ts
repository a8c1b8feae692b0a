/** Options of upperstack-stats, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface StatsOptions {
  name: string;
  /** Store config whose latest dead letters output 3 lists; empty: no list. */
  store: string;
  /** Seconds between two updates. */
  interval: number;
  /** Dead letters listed on output 3. */
  deadLetters: number;
  configVersion: number;
}

export interface StatsNodeDef extends NodeDef, StatsOptions {}

export const STATS_DEFAULTS: Omit<StatsOptions, 'name' | 'configVersion'> = {
  store: '',
  interval: 5,
  deadLetters: 10,
};

export const statsMigrations: ReadonlyArray<Migration<StatsOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => {
    const o = { ...STATS_DEFAULTS, ...old };
    return { ...o, interval: Number(o.interval), deadLetters: Number(o.deadLetters) };
  },
];
