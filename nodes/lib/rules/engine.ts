/**
 * The rule engine: readings in, alert transitions out. Pure and synchronous;
 * time comes from readings (event time) and from an injected clock (timers:
 * dead-man, escalation, reminders, durations that complete without a further
 * reading), so tests drive it with fake time and a backtest with the readings'
 * own timestamps.
 *
 * Speed: a reading costs one Map lookup for its device and one per field; the
 * rules watching a field are a prepared list; a (rule, device) pair whose
 * condition has never held owns no memory (an empty array slot).
 */
import type { FieldValue, Reading } from '../reading';
import { ConflictError, NotFoundError } from '../errors';
import {
  ABOVE,
  ANOMALOUS,
  BELOW,
  CHANGED,
  compileRule,
  EQUAL,
  INSIDE,
  NOT_EQUAL,
  NOT_REPORTED,
  OUTSIDE,
  severityRank,
  type CompiledRule,
  type Leaf,
} from './compile';
import { ChangeWindow, Device, Slot, slotFromJson, slotToJson, type DeviceJson, type SlotJson } from './slot';
import { describeCondition, messageOf } from './describe';
import { durationWords } from './duration';
import type { AlertEvent, AlertEventType, AlertRecord, AlertState, Rule } from './types';

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

interface Entry {
  rule: CompiledRule;
  leaf: Leaf;
}

const NOTIFY: ReadonlySet<AlertEventType> = new Set(['firing', 'acknowledged', 'escalated', 'reminder', 'flapping', 'cleared']);
const ACTIVE_STATES: ReadonlySet<AlertState> = new Set(['pending', 'firing', 'acknowledged', 'flapping']);

function tagNumber(dev: Device, tag: string | undefined, fallback: number): number {
  if (tag === undefined) return fallback;
  const s = dev.tags[tag];
  if (s === undefined || s.trim() === '') return fallback;
  const n = Number(s);
  return Number.isFinite(n) ? n : fallback;
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in a) n--;
  return n === 0;
}

export class RuleEngine {
  private readonly clock: () => number;
  private readonly maxRecords: number;
  private readonly maxDevices: number;
  private readonly historySize: number;
  private readonly rules = new Map<string, CompiledRule>();
  private bySlot: Array<CompiledRule | undefined> = [];
  private freeSlots: number[] = [];
  private byField = new Map<string, Entry[]>();
  /** Leaves on no particular field: device-level dead-man and any-field anomalous. */
  private anyReading: Entry[] = [];
  private verdictEntries: Entry[] = [];
  private deadmanRules: CompiledRule[] = [];
  private deadmanFields: string[] = [];
  private readonly devices = new Map<string, Device>();
  readonly records = new Map<string, AlertRecord>();
  /** Slots that are pending, firing or flapping: the ones timers look at. */
  private readonly active = new Set<Slot>();
  private version = 0;
  private usesTags = false;
  private seq = 0;
  private out: AlertEvent[] = [];
  // Rules a reading touched, evaluated once after all its fields (two arrays: no allocation per entry).
  private touchedRules: CompiledRule[] = [];
  /** Per rule slot: the reading that last touched it. */
  private touchStamp: number[] = [];
  private bitsLen = 0;
  private readonly bitBases = new Map<string, { base: number; len: number }>();
  private recent: AlertEvent[] = [];
  private changedSlots = new Set<Slot>();
  private droppedSlots: Array<[string, string]> = [];
  private changedRecords = new Set<AlertRecord>();
  private removedRecords: string[] = [];
  /** Slots whose durations moved without a transition (persisted once a second, not per reading). */
  private progressed = new Set<Slot>();
  /** Clock time the state was restored; readings from before it continue durations as usual. */
  private restoredAt = -Infinity;
  private counts = { readings: 0, late: 0 };

  constructor(rules: Rule[] = [], opts: EngineOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.maxRecords = opts.maxRecords ?? 50_000;
    this.maxDevices = opts.maxDevices ?? 200_000;
    this.historySize = opts.historySize ?? 1000;
    const now = this.clock();
    for (const r of rules) this.install(r, now);
    this.reindex();
  }

  now(): number {
    return this.clock();
  }

  // ---- rules -------------------------------------------------------------

  ruleList(): Rule[] {
    return [...this.rules.values()].map((c) => c.rule);
  }

  /**
   * Adds or replaces a rule. Alerts it does not affect keep running: a new message,
   * severity or notification setting changes nothing else; a changed condition
   * restarts pending durations, and firing alerts are judged by the new condition
   * from the next reading on; devices the rule no longer covers have their alert cleared.
   */
  upsertRule(rule: Rule): AlertEvent[] {
    this.out = [];
    const now = this.clock();
    const before = this.rules.get(rule.id);
    const compiled = this.install(rule, now);
    this.reindex();
    if (before && before.conditionKey !== compiled.conditionKey) this.conditionChanged(compiled, now);
    if (before) for (const rec of this.records.values()) if (rec.rule === rule.id) rec.ruleName = rule.name;
    return this.take();
  }

  /** Removes a rule; its running alerts clear ("rule deleted") and its records go. */
  removeRule(id: string): AlertEvent[] {
    this.out = [];
    const c = this.rules.get(id);
    if (!c) return [];
    const now = this.clock();
    for (const dev of this.devices.values()) {
      const s = dev.slots[c.slot];
      if (!s) continue;
      this.endSlot(c, dev, s, now, 'the rule was deleted');
      this.drop(dev, c, s);
    }
    for (const [key, rec] of this.records) {
      if (rec.rule === id) {
        this.records.delete(key);
        this.removedRecords.push(key);
      }
    }
    this.rules.delete(id);
    this.bySlot[c.slot] = undefined;
    this.freeSlots.push(c.slot);
    this.reindex();
    return this.take();
  }

  /** Replaces the whole rule set (import, restore). */
  setRules(rules: Rule[]): AlertEvent[] {
    const events: AlertEvent[] = [];
    const keep = new Set(rules.map((r) => r.id));
    for (const id of [...this.rules.keys()]) if (!keep.has(id)) events.push(...this.removeRule(id));
    for (const r of rules) events.push(...this.upsertRule(r));
    return events;
  }

  private install(rule: Rule, now: number): CompiledRule {
    const before = this.rules.get(rule.id);
    const slot = before ? before.slot : this.freeSlots.length ? this.freeSlots.pop()! : this.bySlot.length;
    const compiled = compileRule(rule, slot, before?.activatedAt ?? now);
    if (!compiled.fast) {
      const had = this.bitBases.get(rule.id);
      if (had && had.len === compiled.leaves.length) compiled.bitBase = had.base;
      else {
        compiled.bitBase = this.bitsLen;
        this.bitsLen += compiled.leaves.length;
        this.bitBases.set(rule.id, { base: compiled.bitBase, len: compiled.leaves.length });
      }
    }
    this.rules.set(rule.id, compiled);
    this.bySlot[slot] = compiled;
    return compiled;
  }

  private reindex(): void {
    this.version++;
    this.byField = new Map();
    this.anyReading = [];
    this.verdictEntries = [];
    this.deadmanRules = [];
    const deadmanFields = new Set<string>();
    this.usesTags = false;
    for (const c of this.rules.values()) {
      if (!c.enabled) continue;
      if (c.usesTags) this.usesTags = true;
      if (c.deadman) this.deadmanRules.push(c);
      // A single condition that steps directly judges its clear and escalation leaves itself.
      const direct = c.tree === null && (c.fast || c.deadman || c.anomalous);
      for (const leaf of direct ? c.leaves.slice(0, 1) : c.leaves) {
        const e = { rule: c, leaf };
        if (leaf.op === ANOMALOUS) this.verdictEntries.push(e);
        if (leaf.op === NOT_REPORTED && leaf.field !== undefined) deadmanFields.add(leaf.field);
        if (leaf.field === undefined) this.anyReading.push(e);
        else {
          const list = this.byField.get(leaf.field);
          if (list) list.push(e);
          else this.byField.set(leaf.field, [e]);
        }
      }
    }
    this.deadmanFields = [...deadmanFields];
    while (this.touchStamp.length < this.bySlot.length) this.touchStamp.push(0);
  }

  private ensureBits(dev: Device): void {
    if (dev.bits.length >= this.bitsLen) return;
    const b = new Int8Array(this.bitsLen).fill(-1);
    b.set(dev.bits);
    dev.bits = b;
  }

  /** The condition changed: pending durations start over, alerts of devices no longer covered clear. */
  private conditionChanged(c: CompiledRule, now: number): void {
    for (const dev of this.devices.values()) {
      if (c.bitBase >= 0 && dev.bits.length > c.bitBase) dev.bits.fill(-1, c.bitBase, c.bitBase + c.leaves.length);
      const s = dev.slots[c.slot];
      if (!s) continue;
      this.computeApplies(dev);
      if (dev.applies[c.slot] !== 1) {
        this.endSlot(c, dev, s, now, c.enabled ? 'the rule no longer covers this device' : 'the rule was disabled');
        this.drop(dev, c, s);
        continue;
      }
      if (!Number.isNaN(s.pendingSince)) this.cancel(c, dev, s, now, 'the rule\'s condition was changed; the duration starts again');
      s.windows = null;
      s.normalSince = NaN;
      if (s.idle() && !this.keepsSlot(c)) this.drop(dev, c, s);
    }
  }

  // ---- readings ----------------------------------------------------------

  /** Judges readings (one or a batch); returns the transitions they caused, oldest first. */
  process(input: Reading | Reading[]): AlertEvent[] {
    this.out = [];
    const now = this.clock();
    if (Array.isArray(input)) for (let i = 0; i < input.length; i++) this.processOne(input[i], now);
    else this.processOne(input, now);
    return this.take();
  }

  private device(id: string): Device {
    let dev = this.devices.get(id);
    if (dev === undefined) {
      dev = new Device(id);
      for (let i = 0; i < this.bySlot.length; i++) dev.slots.push(undefined);
      this.ensureBits(dev);
      this.devices.set(id, dev);
    }
    return dev;
  }

  private computeApplies(dev: Device): void {
    if (dev.appliesVersion === this.version) return;
    const n = this.bySlot.length;
    if (dev.applies.length !== n) dev.applies = new Uint8Array(n);
    // A packed array of the full length: writing a high index into an empty array would make it a slow dictionary.
    while (dev.slots.length < n) dev.slots.push(undefined);
    this.ensureBits(dev);
    for (let i = 0; i < n; i++) {
      const c = this.bySlot[i];
      dev.applies[i] = c !== undefined && c.enabled && this.covers(c, dev) ? 1 : 0;
    }
    dev.appliesVersion = this.version;
  }

  private covers(c: CompiledRule, dev: Device): boolean {
    const s = c.selector;
    if (s.kind === 'all') return true;
    if (s.kind === 'list') return s.ids.has(dev.id);
    for (const [k, v] of s.tags) if (dev.tags[k] !== v) return false;
    return true;
  }

  private processOne(r: Reading, now: number): void {
    if (r === null || typeof r !== 'object' || typeof r.device !== 'string' || r.fields === null || typeof r.fields !== 'object') return;
    const fields = r.fields;
    const dev = this.device(r.device);
    dev.seenClock = now;
    const deadmanFields = this.deadmanFields;
    for (let i = 0; i < deadmanFields.length; i++) {
      if (fields[deadmanFields[i]] !== undefined) (dev.fieldSeen ??= new Map()).set(deadmanFields[i], now);
    }
    const annotated = r as Reading & { anomaly?: unknown; anomalies?: unknown };
    if (annotated.anomaly !== undefined || annotated.anomalies !== undefined) return this.processVerdict(dev, r, now);
    if (!(r.ts >= dev.lastTs)) {
      this.counts.late++;
      return;
    }
    this.counts.readings++;
    dev.lastTs = r.ts;
    if (r.tags !== undefined && r.tags !== dev.tags) {
      if (this.usesTags) {
        // A reading without tags says nothing about the device's tags.
        if (!sameTags(dev.tags, r.tags) && Object.keys(r.tags).length) {
          dev.tags = r.tags;
          dev.appliesVersion = -1;
        }
      } else if (Object.keys(dev.tags).length === 0) dev.tags = r.tags;
    }
    if (dev.appliesVersion !== this.version) this.computeApplies(dev);
    const applies = dev.applies;
    const stamp = ++this.seq;
    const ts = r.ts;
    for (const f in fields) {
      const entries = this.byField.get(f);
      if (entries === undefined) continue;
      const v = fields[f];
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i];
        const c = e.rule;
        if (applies[c.slot] !== 1) continue;
        if (c.fast) {
          this.stepFast(c, dev, this.evalLeaf(e.leaf, v, dev, undefined, ts), v, f, ts, now);
          continue;
        }
        if (e.leaf.op === NOT_REPORTED && c.tree === null) {
          const s = dev.slots[c.slot];
          if (s !== undefined) this.step(c, dev, s, 0, 1, 0, ts, now, 'reading');
          continue;
        }
        this.touchLeaf(c, dev, e.leaf, v, f, ts, stamp);
      }
    }
    const any = this.anyReading;
    for (let i = 0; i < any.length; i++) {
      const e = any[i];
      const c = e.rule;
      if (applies[c.slot] !== 1) continue;
      if (c.tree === null) {
        const s = dev.slots[c.slot];
        if (s !== undefined) this.step(c, dev, s, 0, 1, 0, ts, now, 'reading');
      } else this.touchLeaf(c, dev, e.leaf, undefined, undefined, ts, stamp);
    }
    if (this.touchedRules.length) this.evaluateTouched(dev, fields, ts, now);
  }

  private slotFor(c: CompiledRule, dev: Device): Slot {
    let s = dev.slots[c.slot];
    if (s === undefined) {
      s = new Slot(c.id, dev.id);
      dev.slots[c.slot] = s;
    }
    return s;
  }

  /** Records a leaf's truth in the device's bits; the rule is evaluated once, after all the reading's fields. */
  private touchLeaf(c: CompiledRule, dev: Device, leaf: Leaf, v: FieldValue | undefined, f: string | undefined, ts: number, stamp: number): void {
    // A changed-by window lives in the slot; other leaves need none until the rule holds.
    const s = c.changes ? this.slotFor(c, dev) : dev.slots[c.slot];
    const t = v === undefined ? 0 : this.evalLeaf(leaf, v, dev, s, ts);
    if (t >= 0) dev.bits[c.bitBase + leaf.index] = t;
    // Only values a message may show are kept: storing every number would box it (an allocation per reading).
    if (s !== undefined && leaf.role === 0 && v !== undefined && (t === 1 || !s.idle())) {
      s.lastValue = v;
      s.lastField = f;
    }
    if (this.touchStamp[c.slot] !== stamp) {
      this.touchStamp[c.slot] = stamp;
      this.touchedRules.push(c);
    }
  }

  private evaluateTouched(dev: Device, fields: Reading['fields'], ts: number, now: number): void {
    const rules = this.touchedRules;
    for (let i = 0; i < rules.length; i++) {
      const c = rules[i];
      let s = dev.slots[c.slot];
      if (s === undefined) {
        if (this.whenHolds(c, dev.bits) !== 1 || !this.scheduled(c, ts)) continue;
        s = this.slotFor(c, dev);
        for (const leaf of c.leaves) {
          if (leaf.role === 0 && leaf.field !== undefined && fields[leaf.field] !== undefined && dev.bits[c.bitBase + leaf.index] === 1) {
            s.lastField = leaf.field;
            s.lastValue = fields[leaf.field];
            break;
          }
        }
      }
      this.evaluateSlot(c, dev, s, ts, now, 'reading');
    }
    rules.length = 0;
  }

  /** A rule with stored leaf truths: its group, clear and escalation from them. */
  private evaluateSlot(c: CompiledRule, dev: Device, s: Slot, ts: number, now: number, by: 'reading' | 'timer'): void {
    const tr = dev.bits;
    const t = this.whenHolds(c, tr);
    const clr = c.clearLeaf >= 0 ? (tr[c.bitBase + c.clearLeaf] === 1 ? 1 : 0) : t ? 0 : 1;
    const esc = c.escLeaf >= 0 && tr[c.bitBase + c.escLeaf] === 1 ? 1 : 0;
    this.step(c, dev, s, t, clr, esc, ts, now, by);
  }

  private whenHolds(c: CompiledRule, tr: Int8Array): number {
    const b = c.bitBase;
    if (b < 0) return 0;
    if (c.tree === null) return tr[b] === 1 ? 1 : 0;
    const { any, items } = c.tree;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      let v: boolean;
      if (typeof it === 'number') v = tr[b + it] === 1;
      else {
        v = !it.any;
        for (const l of it.leaves) {
          if (it.any ? tr[b + l] === 1 : tr[b + l] !== 1) {
            v = it.any;
            break;
          }
        }
      }
      if (any && v) return 1;
      if (!any && !v) return 0;
    }
    return any ? 0 : 1;
  }

  /** 1 holds, 0 does not, -1 cannot tell (e.g. text in a numeric comparison). */
  private evalLeaf(l: Leaf, v: FieldValue, dev: Device, s: Slot | undefined, ts: number): number {
    switch (l.op) {
      case ABOVE:
        if (typeof v !== 'number') return -1;
        return v > (l.valueTag === undefined ? l.value : tagNumber(dev, l.valueTag, l.value)) ? 1 : 0;
      case BELOW:
        if (typeof v !== 'number') return -1;
        return v < (l.valueTag === undefined ? l.value : tagNumber(dev, l.valueTag, l.value)) ? 1 : 0;
      case OUTSIDE:
        if (typeof v !== 'number') return -1;
        return v < tagNumber(dev, l.lowTag, l.low) || v > tagNumber(dev, l.highTag, l.high) ? 1 : 0;
      case INSIDE:
        if (typeof v !== 'number') return -1;
        return v >= tagNumber(dev, l.lowTag, l.low) && v <= tagNumber(dev, l.highTag, l.high) ? 1 : 0;
      case EQUAL:
        return v === l.text ? 1 : 0;
      case NOT_EQUAL:
        return v !== l.text ? 1 : 0;
      case CHANGED: {
        if (typeof v !== 'number' || s === undefined) return -1;
        const wins = (s.windows ??= []);
        const w = (wins[l.index] ??= new ChangeWindow());
        const d = w.push(ts, v, l.withinMs);
        const x = tagNumber(dev, l.valueTag, l.value);
        return d.up > x || d.down > x ? 1 : 0;
      }
      default:
        // not-reported: a reading is a report; anomalous: a reading without a verdict is not anomalous.
        return 0;
    }
  }

  private stepFast(c: CompiledRule, dev: Device, t: number, v: FieldValue | undefined, f: string | undefined, ts: number, now: number): void {
    if (t < 0) return;
    let s = dev.slots[c.slot];
    if (s === undefined) {
      if (t === 0 || !this.scheduled(c, ts)) return;
      s = new Slot(c.id, dev.id);
      dev.slots[c.slot] = s;
    }
    if (v !== undefined) {
      s.lastValue = v;
      s.lastField = f;
    }
    let clr = t === 1 ? 0 : 1;
    let esc = 0;
    if (s.firing && v !== undefined) {
      if (c.clearLeaf >= 0) clr = this.evalLeaf(c.leaves[c.clearLeaf], v, dev, s, ts) === 1 ? 1 : 0;
      if (c.escLeaf >= 0) esc = this.evalLeaf(c.leaves[c.escLeaf], v, dev, s, ts) === 1 ? 1 : 0;
    }
    this.step(c, dev, s, t, clr, esc, ts, now, 'reading');
  }

  private scheduled(c: CompiledRule, ts: number): boolean {
    return c.schedule === undefined || c.schedule.contains(ts);
  }

  /** The state machine of one (rule, device): t = condition holds, clr = back to normal, esc = past the escalation value. */
  private step(c: CompiledRule, dev: Device, s: Slot, t: number, clr: number, esc: number, ts: number, now: number, by: 'reading' | 'timer'): void {
    if (!s.firing) {
      if (t === 1 && this.scheduled(c, ts)) {
        if (Number.isNaN(s.pendingSince)) {
          this.startPending(c, dev, s, ts, now);
          if (!s.firing && c.forMs === 0) this.fire(c, dev, s, ts, now, by);
          return;
        }
        if (s.resumed && ts >= this.restoredAt) {
          // First reading from after a restart: the downtime does not count towards "for".
          const held = s.pendingLast - s.pendingSince;
          s.pendingSince = ts - held;
          s.pendingClock = now - held;
          s.resumed = false;
        }
        if (ts > s.pendingLast) s.pendingLast = ts;
        this.progressed.add(s);
        if (s.record) s.record.lastSeen = ts;
        if (ts - s.pendingSince >= c.forMs) this.fire(c, dev, s, ts, now, by);
      } else if (!Number.isNaN(s.pendingSince)) {
        this.cancel(c, dev, s, ts, t === 1 ? 'outside the rule\'s schedule' : `the condition stopped holding before ${durationWords(c.forMs)}`);
        if (s.idle() && !this.keepsSlot(c)) this.drop(dev, c, s);
      } else if (s.idle() && !this.keepsSlot(c)) this.drop(dev, c, s);
      return;
    }
    const rec = s.record!;
    if (t === 1) {
      s.lastTrue = ts;
      s.lastTrueClock = now;
      rec.lastSeen = ts;
      this.progressed.add(s);
    }
    if (esc === 1 && c.escSeverity !== undefined && severityRank(rec.severity) < severityRank(c.escSeverity)) {
      this.escalate(c, dev, s, ts, `${describeCondition(c, c.leaves[c.escLeaf], s, dev)} (escalation threshold)`);
    }
    // While firing, pendingLast is the last time it was seen back to normal.
    if (clr === 1) {
      if (Number.isNaN(s.normalSince)) {
        s.normalSince = ts;
        s.normalClock = now;
        s.resumed = false;
      } else if (s.resumed && ts >= this.restoredAt) {
        const held = Number.isNaN(s.pendingLast) ? 0 : s.pendingLast - s.normalSince;
        s.normalSince = ts - held;
        s.normalClock = now - held;
        s.resumed = false;
      }
      if (!(ts <= s.pendingLast)) s.pendingLast = ts;
      this.progressed.add(s);
    } else if (!Number.isNaN(s.normalSince)) {
      s.normalSince = NaN;
      s.normalClock = NaN;
      s.pendingLast = NaN;
      s.resumed = false;
      this.progressed.add(s);
    }
    if (!Number.isNaN(s.normalSince) && !s.resumed && ts - s.normalSince >= c.clearForMs && (Number.isNaN(s.lastTrue) || ts - s.lastTrue >= c.keepMs)) {
      this.clear(c, dev, s, ts, this.clearReason(c, s, dev));
    }
  }

  private clearReason(c: CompiledRule, s: Slot, dev: Device): string {
    let why: string;
    if (c.clearLeaf >= 0) why = `${describeCondition(c, c.leaves[c.clearLeaf], s, dev)} (recovery threshold)`;
    else if (c.deadman && c.tree === null) why = `device ${dev.id} reported again`;
    else why = 'the condition no longer holds';
    if (c.clearForMs > 0) why += ` for ${durationWords(c.clearForMs)}`;
    if (c.keepMs > 0) why += `; kept firing ${durationWords(c.keepMs)} after it last held`;
    return why;
  }

  // ---- transitions -------------------------------------------------------

  private record(c: CompiledRule, dev: Device, ts: number): AlertRecord {
    const id = `${c.id}:${dev.id}`;
    let rec = this.records.get(id);
    if (!rec) {
      rec = { id, rule: c.id, ruleName: c.rule.name, device: dev.id, state: 'inactive', severity: c.severity, severityHistory: [], occurrences: 0, lastSeen: ts, since: ts, lastChange: ts, message: '' };
      this.records.set(id, rec);
    }
    return rec;
  }

  private startPending(c: CompiledRule, dev: Device, s: Slot, ts: number, now: number): void {
    s.pendingSince = ts;
    s.pendingLast = ts;
    s.pendingClock = now;
    s.resumed = false;
    this.active.add(s);
    const rec = (s.record = this.record(c, dev, ts));
    rec.since = ts;
    rec.lastSeen = ts;
    if (c.forMs > 0) {
      this.emit(c, dev, s, 'pending', 'pending', ts, `${describeCondition(c, c.leaves[0], s, dev)}; it fires if this holds for ${durationWords(c.forMs)}`);
    }
  }

  private cancel(c: CompiledRule, dev: Device, s: Slot, ts: number, why: string): void {
    s.pendingSince = NaN;
    s.pendingLast = NaN;
    s.pendingClock = NaN;
    s.resumed = false;
    if (s.record && s.record.state === 'pending') this.emit(c, dev, s, 'inactive', 'inactive', ts, why);
    if (s.idle()) this.active.delete(s);
  }

  private fire(c: CompiledRule, dev: Device, s: Slot, ts: number, now: number, by: 'reading' | 'timer'): void {
    const rec = (s.record ??= this.record(c, dev, ts));
    const held = ts - s.pendingSince;
    s.pendingSince = NaN;
    s.pendingLast = NaN;
    s.pendingClock = NaN;
    s.firing = true;
    s.lastTrue = ts;
    s.lastTrueClock = now;
    s.normalSince = NaN;
    s.normalClock = NaN;
    s.firedClock = now;
    s.escalated = false;
    s.nextRemind = c.remindMs > 0 ? now + c.remindMs : NaN;
    this.active.add(s);
    rec.occurrences++;
    rec.firstSeen ??= ts;
    rec.lastSeen = ts;
    delete rec.acknowledged;
    this.setSeverity(rec, c.severity, ts);
    let why: string;
    if (c.deadman && c.tree === null) why = describeCondition(c, c.leaves[0], s, dev);
    else {
      why = c.tree === null ? describeCondition(c, c.leaves[0], s, dev) : `${c.tree.any ? 'one of the conditions' : 'all conditions'} held`;
      if (c.forMs > 0) why += by === 'timer' ? `, holding for ${durationWords(c.forMs)} (no reading since said otherwise)` : ` for ${durationWords(Math.max(held, c.forMs))}`;
    }
    if (this.flapped(c, dev, s, ts)) return;
    if (!s.flapping) this.emit(c, dev, s, 'firing', 'firing', ts, why);
  }

  private clear(c: CompiledRule, dev: Device, s: Slot, ts: number, why: string): void {
    s.firing = false;
    s.normalSince = NaN;
    s.normalClock = NaN;
    s.nextRemind = NaN;
    s.escalated = false;
    if (this.flapped(c, dev, s, ts)) return;
    if (!s.flapping) {
      this.emit(c, dev, s, 'cleared', 'cleared', ts, why);
      this.active.delete(s);
      if (!this.keepsSlot(c)) this.drop(dev, c, s);
    }
  }

  /** Counts a state change; true when it makes (or keeps) the alert flapping, so it is not announced. */
  private flapped(c: CompiledRule, dev: Device, s: Slot, ts: number): boolean {
    s.lastChange = ts;
    if (c.flapChanges === 0) return false;
    const times = (s.flapTimes ??= []);
    times.push(ts);
    while (times.length && times[0] <= ts - c.flapWithinMs) times.shift();
    if (times.length > c.flapChanges + 1) times.splice(0, times.length - c.flapChanges - 1);
    if (s.flapping) {
      this.changedSlots.add(s);
      return true;
    }
    if (times.length > c.flapChanges) {
      s.flapping = true;
      this.active.add(s);
      this.emit(c, dev, s, 'flapping', 'flapping', ts, `it changed state ${times.length} times within ${durationWords(c.flapWithinMs)}; held as flapping until it settles for ${durationWords(c.flapWithinMs)}`);
      return true;
    }
    return false;
  }

  private escalate(c: CompiledRule, dev: Device, s: Slot, ts: number, why: string): void {
    const rec = s.record!;
    s.escalated = true;
    this.setSeverity(rec, c.escSeverity!, ts);
    const state: AlertState = s.flapping ? 'flapping' : rec.acknowledged ? 'acknowledged' : 'firing';
    this.emit(c, dev, s, 'escalated', state, ts, why);
  }

  private setSeverity(rec: AlertRecord, severity: AlertRecord['severity'], ts: number): void {
    const last = rec.severityHistory[rec.severityHistory.length - 1];
    rec.severity = severity;
    if (!last || last.severity !== severity) {
      rec.severityHistory.push({ ts, severity });
      if (rec.severityHistory.length > 50) rec.severityHistory.splice(0, rec.severityHistory.length - 50);
    }
  }

  /** Ends whatever a slot has going when its rule goes away or stops covering the device. */
  private endSlot(c: CompiledRule, dev: Device, s: Slot, now: number, why: string): void {
    if (s.firing || s.flapping) {
      s.firing = false;
      s.flapping = false;
      this.emit(c, dev, s, 'cleared', 'cleared', now, why);
    } else if (!Number.isNaN(s.pendingSince)) this.cancel(c, dev, s, now, why);
  }

  private keepsSlot(c: CompiledRule): boolean {
    // Flap detection needs the times of past changes; changed-by its window of values.
    return c.flapChanges > 0 || c.changes;
  }

  private drop(dev: Device, c: CompiledRule, s: Slot): void {
    if (dev.slots[c.slot] === s) dev.slots[c.slot] = undefined;
    this.active.delete(s);
    this.progressed.delete(s);
    this.changedSlots.delete(s);
    this.droppedSlots.push([s.rule, s.device]);
  }

  private silencedBy(c: CompiledRule, dev: Device, ts: number): 'silence' | 'mute' | undefined {
    for (const x of c.silences) if (ts >= x.from && ts < x.to && (!x.devices || x.devices.has(dev.id))) return 'silence';
    if (c.mute && c.mute.contains(ts)) return 'mute';
    return undefined;
  }

  private emit(c: CompiledRule, dev: Device, s: Slot, type: AlertEventType, state: AlertState, ts: number, reason: string, who?: { by: string; note?: string }): void {
    const rec = s.record ?? (s.record = this.record(c, dev, ts));
    const previous = rec.state;
    rec.state = state;
    rec.lastChange = ts;
    rec.message = messageOf(c, s, dev, rec, ts);
    rec.field = s.lastField ?? c.leaves[0]?.field;
    rec.value = s.lastValue;
    const silenced = NOTIFY.has(type) ? this.silencedBy(c, dev, ts) : undefined;
    rec.seq = (rec.seq ?? 0) + 1;
    const ev: AlertEvent = {
      id: rec.id,
      rule: c.id,
      ruleName: c.rule.name,
      device: dev.id,
      event: type,
      state,
      previous,
      severity: rec.severity,
      ts,
      message: rec.message,
      reason,
      since: rec.since,
      occurrences: rec.occurrences,
      key: `${rec.id}:${rec.seq}`,
      notify: NOTIFY.has(type) && silenced === undefined,
    };
    if (rec.field !== undefined) ev.field = rec.field;
    if (rec.value !== undefined) ev.value = rec.value;
    if (silenced) ev.silenced = silenced;
    if (who) {
      ev.by = who.by;
      if (who.note) ev.note = who.note;
    }
    if (c.rule.notify) ev.notifyChannels = c.rule.notify;
    this.out.push(ev);
    this.recent.push(ev);
    if (this.recent.length > this.historySize * 2) this.recent.splice(0, this.recent.length - this.historySize);
    this.changedSlots.add(s);
    this.changedRecords.add(rec);
  }

  private take(): AlertEvent[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  // ---- anomaly verdicts --------------------------------------------------

  /** An annotated reading from the anomaly node: only "anomalous" conditions learn from it. */
  private processVerdict(dev: Device, r: Reading, now: number): void {
    if (this.verdictEntries.length === 0) return;
    if (dev.appliesVersion !== this.version) this.computeApplies(dev);
    // A verdict may arrive after the next plain reading; it counts when it arrives.
    const ts = Number.isFinite(dev.lastTs) ? Math.max(r.ts, dev.lastTs) : r.ts;
    dev.lastTs = Math.max(dev.lastTs, ts);
    const stamp = ++this.seq;
    const a = r as Reading & { anomaly?: { score?: number } | null; anomalies?: Record<string, { score?: number } | null> };
    for (const e of this.verdictEntries) {
      const c = e.rule;
      if (dev.applies[c.slot] !== 1) continue;
      const field = e.leaf.field;
      let score: number | undefined;
      if (a.anomalies) {
        if (field !== undefined) score = a.anomalies[field]?.score;
        else for (const v of Object.values(a.anomalies)) if (v && (score === undefined || v.score! > score)) score = v.score;
      } else if (a.anomaly && (field === undefined || typeof r.fields[field] === 'number')) score = a.anomaly.score;
      if (typeof score !== 'number') continue;
      const t = score >= e.leaf.score ? 1 : 0;
      const v = field !== undefined ? r.fields[field] : undefined;
      if (c.tree === null && c.leaves.length === 1) this.stepFast(c, dev, t, v, field, ts, now);
      else {
        dev.bits[c.bitBase + e.leaf.index] = t;
        if (this.touchStamp[c.slot] !== stamp) {
          this.touchStamp[c.slot] = stamp;
          this.touchedRules.push(c);
        }
      }
    }
    if (this.touchedRules.length) this.evaluateTouched(dev, r.fields, ts, now);
  }

  // ---- timers ------------------------------------------------------------

  /**
   * Runs what time alone decides: dead-man silences, durations that complete
   * without a further reading, escalation, reminders, the end of flapping.
   * Call it often (the node: once a second); cost grows with active alerts and
   * with devices × dead-man rules, not with readings.
   *
   * `owns` (a cluster member: the devices of the partitions it owns now) limits
   * what time decides to those devices: another member judges the rest, and a
   * listed device of another member's partition never reports here.
   */
  tick(at?: number, owns?: (device: string) => boolean): AlertEvent[] {
    this.out = [];
    const now = at ?? this.clock();
    for (const s of [...this.active]) {
      const c = this.rules.get(s.rule);
      const dev = this.devices.get(s.device);
      if (!c || !dev || (owns && !owns(dev.id))) continue;
      this.timers(c, dev, s, now);
    }
    for (const c of this.deadmanRules) this.deadman(c, now, owns);
    this.trim();
    return this.take();
  }

  private timers(c: CompiledRule, dev: Device, s: Slot, now: number): void {
    if (!s.firing && !Number.isNaN(s.pendingSince) && !s.resumed && now - s.pendingClock >= c.forMs) {
      if (this.scheduled(c, now)) this.fire(c, dev, s, now, now, 'timer');
      else this.cancel(c, dev, s, now, 'the rule\'s schedule ended before it fired');
    }
    if (s.firing) {
      const rec = s.record!;
      if (!Number.isNaN(s.normalSince) && !s.resumed && now - s.normalClock >= c.clearForMs && (Number.isNaN(s.lastTrueClock) || now - s.lastTrueClock >= c.keepMs)) {
        this.clear(c, dev, s, now, this.clearReason(c, s, dev));
        if (!s.firing && !s.flapping) return;
      }
      if (!rec.acknowledged && !s.escalated && c.escAfterMs > 0 && c.escSeverity !== undefined && now - s.firedClock >= c.escAfterMs) {
        if (severityRank(rec.severity) < severityRank(c.escSeverity)) this.escalate(c, dev, s, now, `not acknowledged for ${durationWords(c.escAfterMs)}`);
        else s.escalated = true;
      }
      if (!rec.acknowledged && !s.flapping && !Number.isNaN(s.nextRemind) && now >= s.nextRemind) {
        s.nextRemind = now + c.remindMs;
        this.emit(c, dev, s, 'reminder', rec.state, now, `still ${rec.state} since ${new Date(rec.since).toISOString()}, not acknowledged`);
      }
    }
    if (s.flapping && now - s.lastChange >= c.flapWithinMs) {
      s.flapping = false;
      s.flapTimes = null;
      if (s.firing) {
        const rec = s.record!;
        this.emit(c, dev, s, 'firing', rec.acknowledged ? 'acknowledged' : 'firing', now, `stopped flapping; it has been firing for ${durationWords(now - s.lastChange)}`);
      } else {
        this.emit(c, dev, s, 'cleared', 'cleared', now, `stopped flapping; it has been clear for ${durationWords(now - s.lastChange)}`);
        if (Number.isNaN(s.pendingSince)) {
          this.active.delete(s);
          if (!this.keepsSlot(c)) this.drop(dev, c, s);
        }
      }
    }
  }

  private deadman(c: CompiledRule, now: number, owns?: (device: string) => boolean): void {
    if (c.selector.kind === 'list') for (const id of c.selector.list) if (!owns || owns(id)) this.device(id);
    for (const dev of this.devices.values()) {
      if (owns && !owns(dev.id)) continue;
      if (dev.appliesVersion !== this.version) this.computeApplies(dev);
      if (dev.applies[c.slot] !== 1) continue;
      if (c.tree === null && c.leaves.length === 1) {
        const s = dev.slots[c.slot];
        if (s?.firing || s?.flapping) continue;
        const leaf = c.leaves[0];
        const seen = this.seenAt(c, dev, leaf);
        if (now - seen < leaf.silenceMs || !this.scheduled(c, now)) continue;
        const slot = this.slotFor(c, dev);
        slot.lastField = leaf.field;
        this.startPending(c, dev, slot, seen, now);
        this.fire(c, dev, slot, now, now, 'timer');
        slot.record!.since = seen;
        continue;
      }
      let changed = false;
      for (const leaf of c.leaves) {
        if (leaf.op !== NOT_REPORTED) continue;
        const t = now - this.seenAt(c, dev, leaf) >= leaf.silenceMs ? 1 : 0;
        const at = c.bitBase + leaf.index;
        if (dev.bits[at] !== t) {
          dev.bits[at] = t;
          changed = true;
        }
      }
      let s = dev.slots[c.slot];
      if (s === undefined) {
        if (!changed || this.whenHolds(c, dev.bits) !== 1) continue;
        s = this.slotFor(c, dev);
      }
      if (changed || !s.idle()) this.evaluateSlot(c, dev, s, now, now, 'timer');
    }
  }

  private seenAt(c: CompiledRule, dev: Device, leaf: Leaf): number {
    const seen = leaf.field === undefined ? dev.seenClock : dev.fieldSeen?.get(leaf.field);
    return seen === undefined || Number.isNaN(seen) ? c.activatedAt : seen;
  }

  /** Keeps records and devices within their limits; active ones are never dropped. */
  private trim(): void {
    if (this.records.size > this.maxRecords) {
      const idle = [...this.records.values()].filter((r) => !ACTIVE_STATES.has(r.state)).sort((a, b) => a.lastChange - b.lastChange);
      for (const r of idle.slice(0, this.records.size - this.maxRecords)) {
        this.records.delete(r.id);
        this.removedRecords.push(r.id);
      }
    }
    if (this.devices.size > this.maxDevices) {
      const idle = [...this.devices.values()].filter((d) => d.slots.every((s) => s === undefined || s.idle())).sort((a, b) => a.seenClock - b.seenClock);
      for (const d of idle.slice(0, this.devices.size - this.maxDevices)) {
        for (const s of d.slots) if (s) this.droppedSlots.push([s.rule, s.device]);
        this.devices.delete(d.id);
      }
    }
  }

  // ---- people ------------------------------------------------------------

  /** Acknowledges a firing alert: escalation by time and reminders stop. */
  acknowledge(id: string, by: string, note?: string): AlertEvent {
    this.out = [];
    const rec = this.records.get(id);
    if (!rec) throw new NotFoundError(`no alert "${id}"; alert ids are <rule>:<device>`, { alert: id });
    const c = this.rules.get(rec.rule);
    const dev = this.devices.get(rec.device);
    const s = c && dev ? dev.slots[c.slot] : undefined;
    if (!c || !dev || !s || !s.firing) throw new ConflictError(`alert "${id}" is ${rec.state}; only a firing alert can be acknowledged`, { alert: id, state: rec.state });
    if (rec.acknowledged) throw new ConflictError(`alert "${id}" was already acknowledged by ${rec.acknowledged.by}`, { alert: id, state: rec.state });
    const now = this.clock();
    rec.acknowledged = { by, ts: now, ...(note ? { note } : {}) };
    s.nextRemind = NaN;
    this.emit(c, dev, s, 'acknowledged', s.flapping ? 'flapping' : 'acknowledged', now, `acknowledged by ${by}${note ? `: ${note}` : ''}`, { by, note });
    return this.take()[0];
  }

  // ---- queries -----------------------------------------------------------

  alerts(f: AlertFilter = {}): AlertRecord[] {
    const states = f.state === undefined ? undefined : new Set(Array.isArray(f.state) ? f.state : [f.state]);
    const out: AlertRecord[] = [];
    for (const r of this.records.values()) {
      if (states && !states.has(r.state)) continue;
      if (f.device !== undefined && r.device !== f.device) continue;
      if (f.rule !== undefined && r.rule !== f.rule) continue;
      // Active in [from, to): began before `to` and was still going (or changed) at or after `from`.
      if (f.to !== undefined && r.since >= f.to) continue;
      if (f.from !== undefined && !ACTIVE_STATES.has(r.state) && r.lastChange < f.from) continue;
      out.push(r);
    }
    return out.sort((a, b) => b.lastChange - a.lastChange);
  }

  alert(id: string): AlertRecord | undefined {
    return this.records.get(id);
  }

  /** The most recent transitions, newest last. */
  history(limit = this.historySize): AlertEvent[] {
    return this.recent.slice(-limit);
  }

  stats(): { rules: number; devices: number; alerts: number; active: number; readings: number; late: number } {
    let active = 0;
    for (const r of this.records.values()) if (ACTIVE_STATES.has(r.state)) active++;
    return { rules: this.rules.size, devices: this.devices.size, alerts: this.records.size, active, readings: this.counts.readings, late: this.counts.late };
  }

  // ---- persistence -------------------------------------------------------

  /** Transitions and slot changes since the last call (cheap; for the append-only log). */
  takeChanges(withProgress: boolean): EngineChanges {
    const slots = new Set(this.changedSlots);
    if (withProgress) {
      for (const s of this.progressed) slots.add(s);
      this.progressed.clear();
    }
    const out: EngineChanges = {
      slots: [...slots].map(slotToJson),
      dropped: this.droppedSlots,
      records: [...this.changedRecords].map((r) => ({ ...r, severityHistory: [...r.severityHistory] })),
      removedRecords: this.removedRecords,
      events: [],
    };
    this.changedSlots.clear();
    this.changedRecords.clear();
    this.droppedSlots = [];
    this.removedRecords = [];
    return out;
  }

  exportState(): EngineState {
    const devices: DeviceJson[] = [];
    const slots: SlotJson[] = [];
    for (const d of this.devices.values()) {
      devices.push(this.deviceJson(d));
      for (const s of d.slots) if (s && !(s.idle() && !s.windows)) slots.push(slotToJson(s));
    }
    this.progressed.clear();
    this.changedSlots.clear();
    this.changedRecords.clear();
    this.droppedSlots = [];
    this.removedRecords = [];
    const activated: Record<string, number> = {};
    for (const c of this.rules.values()) activated[c.id] = c.activatedAt;
    return { version: 1, savedAt: this.clock(), devices, slots, records: [...this.records.values()], events: this.history(), activated };
  }

  // ---- per-device state (a cluster member hands devices over with it) ----

  /**
   * The state of the devices `keep` accepts: devices, their slots and alert
   * records (not the history). For another engine's importDevices().
   */
  exportDevices(keep: (device: string) => boolean): EngineState {
    const devices: DeviceJson[] = [];
    const slots: SlotJson[] = [];
    for (const d of this.devices.values()) {
      if (!keep(d.id)) continue;
      devices.push(this.deviceJson(d));
      for (const s of d.slots) if (s && !(s.idle() && !s.windows)) slots.push(slotToJson(s));
    }
    const records: AlertRecord[] = [];
    for (const r of this.records.values()) if (keep(r.device)) records.push({ ...r, severityHistory: [...r.severityHistory] });
    return { version: 1, savedAt: this.clock(), devices, slots, records, events: [], activated: {} };
  }

  /**
   * Takes over devices exported by another engine: whatever this engine held
   * for them is replaced. Unlike importState (a restart), pending and recovery
   * durations go on in event time: the readings in between are still to come.
   * Emits nothing; the changes reach takeChanges() for the state log.
   */
  importDevices(state: EngineState): void {
    const ids = new Set<string>([...(state.devices ?? []).map((d) => d.id), ...(state.slots ?? []).map((s) => s.d), ...(state.records ?? []).map((r) => r.device)]);
    this.forgetDevices((id) => ids.has(id));
    for (const j of state.devices ?? []) {
      const d = this.device(j.id);
      if (j.seen !== undefined) d.seenClock = j.seen;
      if (j.last !== undefined) d.lastTs = j.last;
      if (j.fields) d.fieldSeen = new Map(Object.entries(j.fields));
      if (j.tags) {
        d.tags = j.tags;
        d.appliesVersion = -1;
      }
      for (const [id, part] of Object.entries(j.bits ?? {})) this.restoreBits(d, id, part);
    }
    for (const r of state.records ?? []) {
      if (!this.rules.has(r.rule)) continue;
      this.records.set(r.id, r);
      this.changedRecords.add(r);
    }
    for (const j of state.slots ?? []) {
      const c = this.rules.get(j.r);
      if (!c) continue;
      const s = slotFromJson(j);
      s.resumed = false;
      if (j.tr) this.restoreBits(this.device(j.d), c.id, j.tr);
      s.record = this.records.get(`${c.id}:${j.d}`) ?? null;
      const d = this.device(j.d);
      while (d.slots.length <= c.slot) d.slots.push(undefined);
      d.slots[c.slot] = s;
      if (!s.idle()) this.active.add(s);
      this.changedSlots.add(s);
    }
  }

  /** Drops the devices `drop` accepts, with their slots and alert records; emits nothing. Returns how many. */
  forgetDevices(drop: (device: string) => boolean): number {
    let n = 0;
    for (const d of [...this.devices.values()]) {
      if (!drop(d.id)) continue;
      for (const s of d.slots) {
        if (!s) continue;
        this.active.delete(s);
        this.progressed.delete(s);
        this.changedSlots.delete(s);
        this.droppedSlots.push([s.rule, s.device]);
      }
      this.devices.delete(d.id);
      n++;
    }
    for (const [id, r] of [...this.records]) {
      if (!drop(r.device)) continue;
      this.records.delete(id);
      this.changedRecords.delete(r);
      this.removedRecords.push(id);
    }
    return n;
  }

  private deviceJson(d: Device): DeviceJson {
    const j: DeviceJson = { id: d.id };
    if (!Number.isNaN(d.seenClock)) j.seen = d.seenClock;
    if (Number.isFinite(d.lastTs)) j.last = d.lastTs;
    if (d.fieldSeen?.size) j.fields = Object.fromEntries(d.fieldSeen);
    if (this.usesTags && Object.keys(d.tags).length) j.tags = d.tags;
    for (const c of this.rules.values()) {
      if (c.bitBase < 0 || d.bits.length < c.bitBase + c.leaves.length) continue;
      const part = Array.from(d.bits.subarray(c.bitBase, c.bitBase + c.leaves.length));
      if (part.some((x) => x !== -1)) (j.bits ??= {})[c.id] = part;
    }
    return j;
  }

  private restoreBits(d: Device, rule: string, part: number[]): void {
    const c = this.rules.get(rule);
    if (!c || c.bitBase < 0 || part.length !== c.leaves.length) return;
    this.ensureBits(d);
    d.bits.set(part, c.bitBase);
  }

  /**
   * Loads saved state into an engine that has its rules. Pending durations and
   * "back to normal for" continue from the next reading with the time they had;
   * dead-man timers and escalation/reminder deadlines are clock times, so the
   * downtime counts for them.
   */
  importState(state: EngineState): void {
    const now = this.clock();
    this.restoredAt = now;
    for (const [id, at] of Object.entries(state.activated ?? {})) {
      const c = this.rules.get(id);
      if (c) c.activatedAt = at;
    }
    for (const j of state.devices ?? []) {
      const d = this.device(j.id);
      if (j.seen !== undefined) d.seenClock = j.seen;
      if (j.last !== undefined) d.lastTs = j.last;
      if (j.fields) d.fieldSeen = new Map(Object.entries(j.fields));
      if (j.tags) d.tags = j.tags;
      for (const [id, part] of Object.entries(j.bits ?? {})) this.restoreBits(d, id, part);
    }
    for (const r of state.records ?? []) if (this.rules.has(r.rule)) this.records.set(r.id, r);
    for (const j of state.slots ?? []) {
      const c = this.rules.get(j.r);
      if (!c) continue;
      const s = slotFromJson(j);
      if (j.tr) this.restoreBits(this.device(j.d), c.id, j.tr);
      s.record = this.records.get(`${c.id}:${j.d}`) ?? null;
      const d = this.device(j.d);
      while (d.slots.length <= c.slot) d.slots.push(undefined);
      d.slots[c.slot] = s;
      if (!s.idle()) this.active.add(s);
    }
    this.recent = [...(state.events ?? [])];
  }
}
