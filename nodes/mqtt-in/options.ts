/** Options of upperstack-mqtt-in, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import type { Format } from '../lib/codec';

export type PayloadFormat = 'auto' | Format;

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
  /** Messages of one event-loop turn leave as one batch message (only towards decode nodes). */
  coalesce: boolean;
  /** Unsettled messages at which acknowledgements are withheld; 0 turns backpressure off. */
  highWater: number;
  /** Unsettled messages at or below which withheld acknowledgements are released. */
  lowWater: number;
  /**
   * Unsettled readings at which acknowledgements are withheld (resumed at half);
   * 0 turns this mark off. A message counts as one reading until decode has read it.
   */
  highWaterReadings: number;
  /** Disk the journal may take, in MiB; at it, acknowledgements are withheld until the flow has caught up. */
  journalBudgetMb: number;
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
  // v1 → v2: batching per event-loop turn and backpressure, both on.
  (old) => ({
    coalesce: true,
    ...old,
    ...waterMarks(old.highWater, old.lowWater),
  }),
  // v2 → v3: a disk budget for the journal (1 GiB), so a stalled flow cannot fill the disk.
  (old) => ({ ...old, journalBudgetMb: journalBudget(old.journalBudgetMb) }),
  // v3 → v4: backpressure also counts readings (10,000), unless it was turned off.
  (old) => ({ ...old, highWaterReadings: readingsMark(old.highWaterReadings, old.highWater) }),
];

/** Default disk budget of an input's journal, in MiB. */
export const DEFAULT_JOURNAL_BUDGET_MB = 1024;
/** Smallest budget: a few journal segments. */
export const MIN_JOURNAL_BUDGET_MB = 1;

/** The budget from the editor (or text from hand-written flows); anything unusable is the default. */
export function journalBudget(v: unknown): number {
  if (v === undefined || v === null || v === '') return DEFAULT_JOURNAL_BUDGET_MB;
  const n = Number(v);
  return Number.isFinite(n) && n >= MIN_JOURNAL_BUDGET_MB ? n : DEFAULT_JOURNAL_BUDGET_MB;
}

export const DEFAULT_HIGH_WATER = 5000;

/** Numbers from the editor (or text from hand-written flows) as a usable pair: low below high. */
export function waterMarks(high: unknown, low: unknown): { highWater: number; lowWater: number } {
  const h = high === undefined || high === null || high === '' ? DEFAULT_HIGH_WATER : Number(high);
  const highWater = Number.isInteger(h) && h >= 0 ? h : DEFAULT_HIGH_WATER;
  const l = low === undefined || low === null || low === '' ? Math.floor(highWater / 2) : Number(low);
  const lowWater = Number.isInteger(l) && l >= 0 && (l < highWater || highWater === 0) ? l : Math.floor(highWater / 2);
  return { highWater, lowWater };
}

/**
 * Default pause mark in unsettled readings. Decoded readings are what the
 * runtime holds in flight: with the message mark alone, 10-reading batches
 * held up to 50,000 of them and peaked above 300 MB (docs/performance.md, Memory).
 */
export const DEFAULT_HIGH_WATER_READINGS = 10000;

/**
 * The readings mark from the editor (or hand-written flows); unset, it is the
 * default, or 0 when the message mark is 0 (backpressure turned off).
 */
export function readingsMark(v: unknown, highWater?: unknown): number {
  if (v === undefined || v === null || v === '') return Number(highWater) === 0 && highWater !== '' && highWater !== null ? 0 : DEFAULT_HIGH_WATER_READINGS;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_HIGH_WATER_READINGS;
}
