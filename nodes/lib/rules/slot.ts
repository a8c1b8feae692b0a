/** Per-device and per-(rule, device) state of the engine, and its JSON form for persistence. */
import type { FieldValue } from '../reading';
import type { AlertRecord } from './types';

/** Values seen within a changed-by window, with running min and max (monotonic deques). */
export class ChangeWindow {
  ts: number[] = [];
  vs: number[] = [];
  head = 0;
  maxQ: number[] = [];
  maxHead = 0;
  minQ: number[] = [];
  minHead = 0;

  /** Adds v at ts, forgets values older than ts - within; the current value's largest distance to the rest. */
  push(ts: number, v: number, within: number): { up: number; down: number } {
    const i = this.ts.length;
    this.ts.push(ts);
    this.vs.push(v);
    while (this.maxQ.length > this.maxHead && this.vs[this.maxQ[this.maxQ.length - 1]] <= v) this.maxQ.pop();
    this.maxQ.push(i);
    while (this.minQ.length > this.minHead && this.vs[this.minQ[this.minQ.length - 1]] >= v) this.minQ.pop();
    this.minQ.push(i);
    const cut = ts - within;
    while (this.head < i && this.ts[this.head] < cut) this.head++;
    while (this.maxQ[this.maxHead] < this.head) this.maxHead++;
    while (this.minQ[this.minHead] < this.head) this.minHead++;
    const out = { up: v - this.vs[this.minQ[this.minHead]], down: this.vs[this.maxQ[this.maxHead]] - v };
    if (this.head > 1024 && this.head * 2 > this.ts.length) this.compact();
    return out;
  }

  private compact(): void {
    const h = this.head;
    this.ts = this.ts.slice(h);
    this.vs = this.vs.slice(h);
    this.maxQ = this.maxQ.slice(this.maxHead).map((x) => x - h);
    this.minQ = this.minQ.slice(this.minHead).map((x) => x - h);
    this.head = this.maxHead = this.minHead = 0;
  }
}

export class Slot {
  windows: Array<ChangeWindow | undefined> | null = null;
  /** Event time the condition started holding (pending), NaN when not pending. */
  pendingSince = NaN;
  /** Event time it was last seen holding while pending. */
  pendingLast = NaN;
  /** Clock time pending started, for the timer. */
  pendingClock = NaN;
  /** Restored from disk: durations continue from the first reading after the restart. */
  resumed = false;
  /** The condition fired and has not cleared (whatever the alert shows while flapping). */
  firing = false;
  normalSince = NaN;
  normalClock = NaN;
  lastTrue = NaN;
  lastTrueClock = NaN;
  firedClock = NaN;
  nextRemind = NaN;
  escalated = false;
  flapping = false;
  /** Times of the last state changes, for flap detection. */
  flapTimes: number[] | null = null;
  lastChange = NaN;
  lastValue: FieldValue | undefined = undefined;
  lastField: string | undefined = undefined;
  /**
   * The anomaly node's explanation of the verdict that last made a single "anomalous"
   * condition hold; a group keeps one per leaf (Device.reasons).
   */
  verdictReason: string | undefined = undefined;
  record: AlertRecord | null = null;

  constructor(
    readonly rule: string,
    readonly device: string,
  ) {}

  idle(): boolean {
    return !this.firing && !this.flapping && Number.isNaN(this.pendingSince);
  }
}

export class Device {
  tags: Record<string, string> = {};
  /** Event time of the newest reading processed; older ones are late and skipped. */
  lastTs = -Infinity;
  /** Clock time a reading last arrived (dead-man timers). */
  seenClock = NaN;
  /**
   * Leaf truths of the rules that keep them (groups, several fields): -1 unknown, 0, 1,
   * each rule at its bitBase. One array per device rather than one per (rule, device).
   */
  bits: Int8Array = new Int8Array(0);
  /** The anomaly node's explanation of each anomalous leaf of a group that holds, at its index in bits; null until one came. */
  reasons: Array<string | undefined> | null = null;
  /** Clock time each watched field last arrived, for dead-man conditions on a field. */
  fieldSeen: Map<string, number> | null = null;
  applies: Uint8Array = new Uint8Array(0);
  appliesVersion = -1;
  slots: Array<Slot | undefined> = [];

  constructor(readonly id: string) {}
}

/** Slot as stored on disk: short keys, NaN and defaults left out. */
export interface SlotJson {
  r: string;
  d: string;
  ps?: number;
  pl?: number;
  f?: 1;
  ns?: number;
  lt?: number;
  ltc?: number;
  fc?: number;
  nr?: number;
  e?: 1;
  fl?: 1;
  ft?: number[];
  lc?: number;
  lv?: FieldValue;
  lf?: string;
  vr?: string;
  /** Leaf truths, as snapshots before they moved to the device wrote them. */
  tr?: number[];
}

export interface DeviceJson {
  id: string;
  seen?: number;
  last?: number;
  fields?: Record<string, number>;
  tags?: Record<string, string>;
  /** Leaf truths by rule. */
  bits?: Record<string, number[]>;
  /** Explanations of a group's anomalous leaves by rule, null where a leaf has none. */
  why?: Record<string, Array<string | null>>;
}

function put(o: Record<string, unknown>, k: string, v: number): void {
  if (!Number.isNaN(v)) o[k] = v;
}

export function slotToJson(s: Slot): SlotJson {
  const o: SlotJson = { r: s.rule, d: s.device };
  const x = o as unknown as Record<string, unknown>;
  put(x, 'ps', s.pendingSince);
  put(x, 'pl', s.pendingLast);
  if (s.firing) o.f = 1;
  put(x, 'ns', s.normalSince);
  put(x, 'lt', s.lastTrue);
  put(x, 'ltc', s.lastTrueClock);
  put(x, 'fc', s.firedClock);
  put(x, 'nr', s.nextRemind);
  if (s.escalated) o.e = 1;
  if (s.flapping) o.fl = 1;
  if (s.flapTimes?.length) o.ft = s.flapTimes;
  put(x, 'lc', s.lastChange);
  if (s.lastValue !== undefined) o.lv = s.lastValue;
  if (s.lastField !== undefined) o.lf = s.lastField;
  if (s.verdictReason !== undefined) o.vr = s.verdictReason;
  return o;
}

/** A slot from disk. Pending and recovery durations resume at the next reading (see Slot.resumed). */
export function slotFromJson(j: SlotJson): Slot {
  const s = new Slot(j.r, j.d);
  s.pendingSince = j.ps ?? NaN;
  s.pendingLast = j.pl ?? NaN;
  s.firing = j.f === 1;
  s.normalSince = j.ns ?? NaN;
  s.lastTrue = j.lt ?? NaN;
  s.lastTrueClock = j.ltc ?? NaN;
  s.firedClock = j.fc ?? NaN;
  s.nextRemind = j.nr ?? NaN;
  s.escalated = j.e === 1;
  s.flapping = j.fl === 1;
  s.flapTimes = j.ft ?? null;
  s.lastChange = j.lc ?? NaN;
  s.lastValue = j.lv;
  s.lastField = j.lf;
  if (typeof j.vr === 'string') s.verdictReason = j.vr;
  s.resumed = !Number.isNaN(s.pendingSince) || !Number.isNaN(s.normalSince);
  return s;
}
