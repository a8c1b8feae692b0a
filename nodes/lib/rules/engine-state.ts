/**
 * The engine's state saved and loaded: the change log for the append-only state
 * file, a whole snapshot for a restart, and per-device export/import when a
 * cluster member hands devices over.
 */
import { slotFromJson, slotToJson, type Device, type DeviceJson, type Slot, type SlotJson } from './slot';
import type { AlertRecord } from './types';
import type { EngineChanges, EngineState } from './engine-types';
import { RuleTimers } from './engine-timers';

export abstract class RuleEngineState extends RuleTimers {
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
    const { devices, slots } = this.devicesJson(() => true);
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
    const { devices, slots } = this.devicesJson(keep);
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
    for (const j of state.devices ?? []) this.restoreDevice(j);
    for (const r of state.records ?? []) {
      if (!this.rules.has(r.rule)) continue;
      this.records.set(r.id, r);
      this.changedRecords.add(r);
    }
    for (const j of state.slots ?? []) {
      const s = this.restoreSlot(j, false);
      if (s) this.changedSlots.add(s);
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

  protected deviceJson(d: Device): DeviceJson {
    const j: DeviceJson = { id: d.id };
    if (!Number.isNaN(d.seenClock)) j.seen = d.seenClock;
    if (Number.isFinite(d.lastTs)) j.last = d.lastTs;
    if (d.fieldSeen?.size) j.fields = Object.fromEntries(d.fieldSeen);
    if (this.usesTags && Object.keys(d.tags).length) j.tags = d.tags;
    for (const c of this.rules.values()) {
      if (c.bitBase < 0 || d.bits.length < c.bitBase + c.leaves.length) continue;
      const part = Array.from(d.bits.subarray(c.bitBase, c.bitBase + c.leaves.length));
      if (part.some((x) => x !== -1)) (j.bits ??= {})[c.id] = part;
      if (d.reasons === null || c.tree === null || !c.anomalous) continue;
      const why = d.reasons.slice(c.bitBase, c.bitBase + c.leaves.length).map((x) => x ?? null);
      if (why.some((x) => x !== null)) (j.why ??= {})[c.id] = why;
    }
    return j;
  }

  /** The devices `keep` accepts and their slots that hold anything (an idle slot without change windows is what a new one would be). */
  private devicesJson(keep: (device: string) => boolean): { devices: DeviceJson[]; slots: SlotJson[] } {
    const devices: DeviceJson[] = [];
    const slots: SlotJson[] = [];
    for (const d of this.devices.values()) {
      if (!keep(d.id)) continue;
      devices.push(this.deviceJson(d));
      for (const s of d.slots) if (s && !(s.idle() && !s.windows)) slots.push(slotToJson(s));
    }
    return { devices, slots };
  }

  /** One saved device back in place, for a restart and for a hand-over alike. */
  private restoreDevice(j: DeviceJson): void {
    const d = this.device(j.id);
    if (j.seen !== undefined) d.seenClock = j.seen;
    if (j.last !== undefined) d.lastTs = j.last;
    if (j.fields) d.fieldSeen = new Map(Object.entries(j.fields));
    if (j.tags) {
      d.tags = j.tags;
      // Which rules cover the device is cached per rule-set version; new tags may change it.
      d.appliesVersion = -1;
    }
    for (const [id, part] of Object.entries(j.bits ?? {})) this.restoreBits(d, id, part);
    for (const [id, why] of Object.entries(j.why ?? {})) {
      const c = this.rules.get(id);
      if (!c || c.tree === null || c.bitBase < 0 || !Array.isArray(why) || why.length !== c.leaves.length) continue;
      for (let i = 0; i < why.length; i++) {
        const text = why[i];
        this.keepReason(d, c.bitBase + i, typeof text === 'string' ? text : undefined);
      }
    }
  }

  /**
   * One saved slot back in its device, with its alert record (restore records
   * first); undefined when its rule is gone. `resume`: durations continue from
   * the first reading after a restart (importState); a hand-over continues in
   * event time instead.
   */
  private restoreSlot(j: SlotJson, resume: boolean): Slot | undefined {
    const c = this.rules.get(j.r);
    if (!c) return undefined;
    const s = slotFromJson(j);
    if (!resume) s.resumed = false;
    if (j.tr) this.restoreBits(this.device(j.d), c.id, j.tr);
    s.record = this.records.get(`${c.id}:${j.d}`) ?? null;
    const d = this.device(j.d);
    while (d.slots.length <= c.slot) d.slots.push(undefined);
    d.slots[c.slot] = s;
    if (!s.idle()) this.active.add(s);
    return s;
  }

  protected restoreBits(d: Device, rule: string, part: number[]): void {
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
    for (const j of state.devices ?? []) this.restoreDevice(j);
    for (const r of state.records ?? []) if (this.rules.has(r.rule)) this.records.set(r.id, r);
    for (const j of state.slots ?? []) this.restoreSlot(j, true);
    this.recent = [...(state.events ?? [])];
  }
}
