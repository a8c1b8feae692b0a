/** What time alone decides: dead-man silences, durations completing, escalation, reminders, the end of flapping; limits on kept state. */
import { NOT_REPORTED, severityRank, type CompiledRule, type Leaf } from './compile';
import type { Device, Slot } from './slot';
import { durationWords } from './duration';
import { timeText } from './template';
import type { AlertEvent } from './types';
import { ACTIVE_STATES } from './engine-core';
import { RuleEvaluation } from './engine-evaluate';

export abstract class RuleTimers extends RuleEvaluation {
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

  protected timers(c: CompiledRule, dev: Device, s: Slot, now: number): void {
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
        // On the rule's clock, as {since} and the e-mail's times are: the reminder's reason is read beside them.
        this.emit(c, dev, s, 'reminder', rec.state, now, `still ${rec.state} since ${timeText(rec.since, c.timezone)}, not acknowledged`);
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

  protected deadman(c: CompiledRule, now: number, owns?: (device: string) => boolean): void {
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

  protected seenAt(c: CompiledRule, dev: Device, leaf: Leaf): number {
    const seen = leaf.field === undefined ? dev.seenClock : dev.fieldSeen?.get(leaf.field);
    return seen === undefined || Number.isNaN(seen) ? c.activatedAt : seen;
  }

  /** Keeps records and devices within their limits; active ones are never dropped. */
  protected trim(): void {
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
}
