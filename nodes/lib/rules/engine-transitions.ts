/**
 * The state machine of one (rule, device) and the transitions it makes: pending,
 * firing, escalated, flapping, cleared; each transition updates the alert record
 * and becomes an event.
 */
import { severityRank, type CompiledRule } from './compile';
import type { Device, Slot } from './slot';
import { describeCondition, describeGroup, messageOf } from './describe';
import { durationWords } from './duration';
import type { AlertEventType, AlertRecord, AlertState, AlertEvent } from './types';
import { RuleEngineCore } from './engine-core';

const NOTIFY: ReadonlySet<AlertEventType> = new Set(['firing', 'acknowledged', 'escalated', 'reminder', 'flapping', 'cleared']);

export abstract class RuleTransitions extends RuleEngineCore {
  /** The state machine of one (rule, device): t = condition holds, clr = back to normal, esc = past the escalation value. */
  protected step(c: CompiledRule, dev: Device, s: Slot, t: number, clr: number, esc: number, ts: number, now: number, by: 'reading' | 'timer'): void {
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

  protected clearReason(c: CompiledRule, s: Slot, dev: Device): string {
    let why: string;
    if (c.clearLeaf >= 0) why = `${describeCondition(c, c.leaves[c.clearLeaf], s, dev)} (recovery threshold)`;
    else if (c.deadman && c.tree === null) why = `device ${dev.id} reported again`;
    else why = 'the condition no longer holds';
    if (c.clearForMs > 0) why += ` for ${durationWords(c.clearForMs)}`;
    if (c.keepMs > 0) why += `; kept firing ${durationWords(c.keepMs)} after it last held`;
    return why;
  }

  protected record(c: CompiledRule, dev: Device, ts: number): AlertRecord {
    const id = `${c.id}:${dev.id}`;
    let rec = this.records.get(id);
    if (!rec) {
      rec = { id, rule: c.id, ruleName: c.rule.name, device: dev.id, state: 'inactive', severity: c.severity, severityHistory: [], occurrences: 0, lastSeen: ts, since: ts, lastChange: ts, message: '' };
      this.records.set(id, rec);
    }
    return rec;
  }

  protected startPending(c: CompiledRule, dev: Device, s: Slot, ts: number, now: number): void {
    s.pendingSince = ts;
    s.pendingLast = ts;
    s.pendingClock = now;
    s.resumed = false;
    this.active.add(s);
    const rec = (s.record = this.record(c, dev, ts));
    rec.since = ts;
    rec.lastSeen = ts;
    if (c.forMs > 0) {
      this.emit(c, dev, s, 'pending', 'pending', ts, `${describeGroup(c, s, dev)}; it fires if this holds for ${durationWords(c.forMs)}`);
    }
  }

  protected cancel(c: CompiledRule, dev: Device, s: Slot, ts: number, why: string): void {
    s.pendingSince = NaN;
    s.pendingLast = NaN;
    s.pendingClock = NaN;
    s.resumed = false;
    if (s.record && s.record.state === 'pending') this.emit(c, dev, s, 'inactive', 'inactive', ts, why);
    if (s.idle()) this.active.delete(s);
  }

  protected fire(c: CompiledRule, dev: Device, s: Slot, ts: number, now: number, by: 'reading' | 'timer'): void {
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
      why = describeGroup(c, s, dev);
      if (c.forMs > 0) why += by === 'timer' ? `, holding for ${durationWords(c.forMs)} (no reading since said otherwise)` : ` for ${durationWords(Math.max(held, c.forMs))}`;
    }
    if (this.flapped(c, dev, s, ts)) return;
    if (!s.flapping) this.emit(c, dev, s, 'firing', 'firing', ts, why);
  }

  protected clear(c: CompiledRule, dev: Device, s: Slot, ts: number, why: string): void {
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
  protected flapped(c: CompiledRule, dev: Device, s: Slot, ts: number): boolean {
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

  protected escalate(c: CompiledRule, dev: Device, s: Slot, ts: number, why: string): void {
    const rec = s.record!;
    s.escalated = true;
    this.setSeverity(rec, c.escSeverity!, ts);
    const state: AlertState = s.flapping ? 'flapping' : rec.acknowledged ? 'acknowledged' : 'firing';
    this.emit(c, dev, s, 'escalated', state, ts, why);
  }

  protected setSeverity(rec: AlertRecord, severity: AlertRecord['severity'], ts: number): void {
    const last = rec.severityHistory[rec.severityHistory.length - 1];
    rec.severity = severity;
    if (!last || last.severity !== severity) {
      rec.severityHistory.push({ ts, severity });
      if (rec.severityHistory.length > 50) rec.severityHistory.splice(0, rec.severityHistory.length - 50);
    }
  }

  /** Ends whatever a slot has going when its rule goes away or stops covering the device. */
  protected endSlot(c: CompiledRule, dev: Device, s: Slot, now: number, why: string): void {
    if (s.firing || s.flapping) {
      s.firing = false;
      s.flapping = false;
      this.emit(c, dev, s, 'cleared', 'cleared', now, why);
    } else if (!Number.isNaN(s.pendingSince)) this.cancel(c, dev, s, now, why);
  }

  protected silencedBy(c: CompiledRule, dev: Device, ts: number): 'silence' | 'mute' | undefined {
    for (const x of c.silences) if (ts >= x.from && ts < x.to && (!x.devices || x.devices.has(dev.id))) return 'silence';
    if (c.mute && c.mute.contains(ts)) return 'mute';
    return undefined;
  }

  protected emit(c: CompiledRule, dev: Device, s: Slot, type: AlertEventType, state: AlertState, ts: number, reason: string, who?: { by: string; note?: string }): void {
    const rec = s.record ?? (s.record = this.record(c, dev, ts));
    const previous = rec.state;
    rec.state = state;
    rec.lastChange = ts;
    rec.message = messageOf(c, s, dev, rec, ts, reason);
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
    if (c.rule.timezone) ev.timezone = c.rule.timezone;
    this.out.push(ev);
    this.recent.push(ev);
    if (this.recent.length > this.historySize * 2) this.recent.splice(0, this.recent.length - this.historySize);
    this.changedSlots.add(s);
    this.changedRecords.add(rec);
  }
}
