/**
 * Alert rules as users and the API write them (schemas/rule.schema.json), and
 * the alerts and transitions the engine produces.
 */
import type { FieldValue } from '../reading';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export type Op = 'above' | 'below' | 'outside' | 'inside' | 'equal' | 'not-equal' | 'changed-by' | 'not-reported' | 'anomalous';
export const OPS: readonly Op[] = ['above', 'below', 'outside', 'inside', 'equal', 'not-equal', 'changed-by', 'not-reported', 'anomalous'];

export type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const DAYS: readonly Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface Condition {
  /** The field it watches; optional for not-reported (any reading) and anomalous (any field). */
  field?: string;
  op: Op;
  /** above, below, equal, not-equal: the threshold; changed-by: the change. */
  value?: FieldValue;
  /** outside, inside: the band. */
  low?: number;
  high?: number;
  /** changed-by: the time window. */
  within?: string;
  /** anomalous: the anomaly score (0..1] from the anomaly node; default 0.5. */
  score?: number;
  /** How long it must hold; for not-reported, how long the silence is. */
  for?: string;
  /** Per-device thresholds: the value of this device tag, when the device has it, replaces value/low/high. */
  valueTag?: string;
  lowTag?: string;
  highTag?: string;
}

export interface SubGroup {
  all?: Condition[];
  any?: Condition[];
}

export interface Group {
  all?: Array<Condition | SubGroup>;
  any?: Array<Condition | SubGroup>;
  for?: string;
}

export interface ClearCondition {
  field?: string;
  op?: 'above' | 'below' | 'outside' | 'inside' | 'equal' | 'not-equal';
  value?: FieldValue;
  low?: number;
  high?: number;
  /** Back to normal for this long before the alert clears. */
  for?: string;
  valueTag?: string;
  lowTag?: string;
  highTag?: string;
}

export interface TimeWindow {
  days: Day[];
  /** "HH:MM" local time; to "24:00" is the end of the day; to before from crosses midnight. */
  from: string;
  to: string;
}

export interface Silence {
  /** ISO 8601 date-times. */
  from: string;
  to: string;
  devices?: string[];
  by?: string;
  note?: string;
}

export type DeviceSelector = { all: true } | { list: string[] } | { tags: Record<string, string> };

export interface Rule {
  id: string;
  name: string;
  description?: string;
  enabled?: boolean;
  devices: DeviceSelector;
  when: Condition | Group;
  clear?: ClearCondition;
  keepFiringFor?: string;
  severity: Severity;
  message?: string;
  unit?: string;
  timezone?: string;
  escalate?: { severity: Severity; after?: string; op?: 'above' | 'below'; value?: number; field?: string };
  remindEvery?: string;
  flap?: { changes: number; within: string };
  schedule?: TimeWindow[];
  mute?: TimeWindow[];
  silences?: Silence[];
  notify?: { email?: boolean | string[]; webhook?: boolean; mqtt?: boolean };
}

/**
 * inactive: a pending alert whose condition went away before it fired, and had never fired.
 * flapping: it changed state too often; held here with one notification until it settles.
 */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'acknowledged' | 'flapping' | 'cleared';

export type AlertEventType =
  | 'pending'
  | 'firing'
  | 'acknowledged'
  | 'escalated'
  | 'reminder'
  | 'flapping'
  | 'cleared'
  | 'inactive';

export interface AlertEvent {
  /** The alert: `<rule>:<device>`. */
  id: string;
  rule: string;
  ruleName: string;
  device: string;
  event: AlertEventType;
  state: AlertState;
  previous: AlertState;
  severity: Severity;
  /** When it happened: the reading's time, or the clock for timers and acknowledgements. */
  ts: number;
  message: string;
  /** Why, in words: "temperature 31 above 30 for 5 seconds". */
  reason: string;
  field?: string;
  value?: FieldValue;
  /** Start of the current occurrence (pending or firing), epoch ms. */
  since: number;
  occurrences: number;
  /**
   * Idempotency key of this transition, `<rule>:<device>:<seq>` (seq counts the
   * alert's transitions and moves with its state): the same on every send of
   * the same transition, e.g. when a cluster member that took the device over
   * sends what its predecessor may already have sent (docs/scaling.md).
   */
  key?: string;
  /** False for transitions nobody is told about: pending, inactive, silenced or muted ones. */
  notify: boolean;
  silenced?: 'silence' | 'mute';
  by?: string;
  note?: string;
  notifyChannels?: Rule['notify'];
  /** The rule's `timezone` when it has one: the e-mail gives its times on that clock, as the message's {since} does. */
  timezone?: string;
}

export interface AlertRecord {
  id: string;
  rule: string;
  ruleName: string;
  device: string;
  state: AlertState;
  severity: Severity;
  severityHistory: Array<{ ts: number; severity: Severity }>;
  occurrences: number;
  /** First time it fired (any occurrence), and the last time its condition was seen holding or it changed. */
  firstSeen?: number;
  lastSeen: number;
  /** Start of the current occurrence. */
  since: number;
  lastChange: number;
  message: string;
  field?: string;
  value?: FieldValue;
  acknowledged?: { by: string; note?: string; ts: number };
  /** Transitions so far (the last event's key ends with it). */
  seq?: number;
}
