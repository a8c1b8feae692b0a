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
 *
 * The class is layered, one file a layer: its state (engine-core.ts), the
 * transitions of one (rule, device) (engine-transitions.ts), judging readings
 * (engine-evaluate.ts), timers (engine-timers.ts), saved state
 * (engine-state.ts); here the rule, people and query calls.
 */
import { ConflictError, NotFoundError } from '../errors';
import type { CompiledRule } from './compile';
import type { AlertEvent, AlertRecord, Rule } from './types';
import type { AlertFilter } from './engine-types';
import { ACTIVE_STATES } from './engine-core';
import { RuleEngineState } from './engine-state';

export type { AlertFilter, EngineChanges, EngineOptions, EngineState } from './engine-types';

export class RuleEngine extends RuleEngineState {
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

  /** The condition changed: pending durations start over, alerts of devices no longer covered clear. */
  protected conditionChanged(c: CompiledRule, now: number): void {
    for (const dev of this.devices.values()) {
      if (c.bitBase >= 0 && dev.bits.length > c.bitBase) dev.bits.fill(-1, c.bitBase, c.bitBase + c.leaves.length);
      if (c.bitBase >= 0 && dev.reasons !== null) dev.reasons.fill(undefined, c.bitBase, c.bitBase + c.leaves.length);
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


  stats(): { rules: number; devices: number; alerts: number; active: number; readings: number; late: number } {
    let active = 0;
    for (const r of this.records.values()) if (ACTIVE_STATES.has(r.state)) active++;
    return { rules: this.rules.size, devices: this.devices.size, alerts: this.records.size, active, readings: this.counts.readings, late: this.counts.late };
  }
}
