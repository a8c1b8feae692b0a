/**
 * The rule engine's state in one place: compiled rules and their indexes (which
 * leaves watch which field), devices and their slots, alert records, and what
 * changed since the state log last looked. The behaviour over it is layered on
 * top: transitions (engine-transitions.ts), judging readings (engine-evaluate.ts),
 * timers (engine-timers.ts), saved state (engine-state.ts), and the public rule,
 * people and query calls (engine.ts).
 */
import { ANOMALOUS, compileRule, NOT_REPORTED, type CompiledRule, type Leaf } from './compile';
import { Device, Slot } from './slot';
import type { AlertEvent, AlertRecord, AlertState, Rule } from './types';
import type { EngineOptions } from './engine-types';

export interface Entry {
  rule: CompiledRule;
  leaf: Leaf;
}

export const ACTIVE_STATES: ReadonlySet<AlertState> = new Set(['pending', 'firing', 'acknowledged', 'flapping']);

export abstract class RuleEngineCore {
  protected readonly clock: () => number;
  protected readonly maxRecords: number;
  protected readonly maxDevices: number;
  protected readonly historySize: number;
  protected readonly rules = new Map<string, CompiledRule>();
  protected bySlot: Array<CompiledRule | undefined> = [];
  protected freeSlots: number[] = [];
  protected byField = new Map<string, Entry[]>();
  /** Leaves on no particular field: device-level dead-man and any-field anomalous. */
  protected anyReading: Entry[] = [];
  protected verdictEntries: Entry[] = [];
  protected deadmanRules: CompiledRule[] = [];
  protected deadmanFields: string[] = [];
  protected readonly devices = new Map<string, Device>();
  readonly records = new Map<string, AlertRecord>();
  /** Slots that are pending, firing or flapping: the ones timers look at. */
  protected readonly active = new Set<Slot>();
  protected version = 0;
  protected usesTags = false;
  protected seq = 0;
  protected out: AlertEvent[] = [];
  // Rules a reading touched, evaluated once after all its fields (two arrays: no allocation per entry).
  protected touchedRules: CompiledRule[] = [];
  /** Per rule slot: the reading that last touched it. */
  protected touchStamp: number[] = [];
  protected bitsLen = 0;
  protected readonly bitBases = new Map<string, { base: number; len: number }>();
  protected recent: AlertEvent[] = [];
  protected changedSlots = new Set<Slot>();
  protected droppedSlots: Array<[string, string]> = [];
  protected changedRecords = new Set<AlertRecord>();
  protected removedRecords: string[] = [];
  /** Slots whose durations moved without a transition (persisted once a second, not per reading). */
  protected progressed = new Set<Slot>();
  /** Clock time the state was restored; readings from before it continue durations as usual. */
  protected restoredAt = -Infinity;
  protected counts = { readings: 0, late: 0 };

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

  protected install(rule: Rule, now: number): CompiledRule {
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

  protected reindex(): void {
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

  protected ensureBits(dev: Device): void {
    if (dev.bits.length >= this.bitsLen) return;
    const b = new Int8Array(this.bitsLen).fill(-1);
    b.set(dev.bits);
    dev.bits = b;
  }


  protected device(id: string): Device {
    let dev = this.devices.get(id);
    if (dev === undefined) {
      dev = new Device(id);
      for (let i = 0; i < this.bySlot.length; i++) dev.slots.push(undefined);
      this.ensureBits(dev);
      this.devices.set(id, dev);
    }
    return dev;
  }

  protected computeApplies(dev: Device): void {
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

  protected covers(c: CompiledRule, dev: Device): boolean {
    const s = c.selector;
    if (s.kind === 'all') return true;
    if (s.kind === 'list') return s.ids.has(dev.id);
    for (const [k, v] of s.tags) if (dev.tags[k] !== v) return false;
    return true;
  }

  protected slotFor(c: CompiledRule, dev: Device): Slot {
    let s = dev.slots[c.slot];
    if (s === undefined) {
      s = new Slot(c.id, dev.id);
      dev.slots[c.slot] = s;
    }
    return s;
  }


  protected scheduled(c: CompiledRule, ts: number): boolean {
    return c.schedule === undefined || c.schedule.contains(ts);
  }


  protected keepsSlot(c: CompiledRule): boolean {
    // Flap detection needs the times of past changes; changed-by its window of values.
    return c.flapChanges > 0 || c.changes;
  }

  protected drop(dev: Device, c: CompiledRule, s: Slot): void {
    if (dev.slots[c.slot] === s) dev.slots[c.slot] = undefined;
    this.active.delete(s);
    this.progressed.delete(s);
    this.changedSlots.delete(s);
    this.droppedSlots.push([s.rule, s.device]);
  }

  protected take(): AlertEvent[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** The most recent transitions, newest last. */
  history(limit = this.historySize): AlertEvent[] {
    return this.recent.slice(-limit);
  }
}
