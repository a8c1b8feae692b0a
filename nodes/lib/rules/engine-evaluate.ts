/**
 * Judging readings against the rules: each field's watching leaves, the rules a
 * reading touched evaluated once after all its fields, and the anomaly node's
 * verdicts for "anomalous" conditions.
 */
import type { FieldValue, Reading } from '../reading';
import { ABOVE, BELOW, CHANGED, EQUAL, INSIDE, NOT_EQUAL, NOT_REPORTED, OUTSIDE, type CompiledRule, type Leaf } from './compile';
import { ChangeWindow, Slot, type Device } from './slot';
import type { AlertEvent } from './types';
import { RuleTransitions } from './engine-transitions';

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

/** No own key: asked for every reading, so without the array Object.keys() would make. */
function isEmpty(o: Record<string, string>): boolean {
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) return false;
  return true;
}

export abstract class RuleEvaluation extends RuleTransitions {
  /** Devices given verdicts by the message being judged, with the time of the newest reading a verdict was on. */
  private readonly judged = new Map<Device, number>();

  /** Judges readings (one or a batch); returns the transitions they caused, oldest first. */
  process(input: Reading | Reading[]): AlertEvent[] {
    this.out = [];
    const now = this.clock();
    if (Array.isArray(input)) for (let i = 0; i < input.length; i++) this.processOne(input[i], now);
    else this.processOne(input, now);
    if (this.judged.size) this.settleVerdicts(now);
    return this.take();
  }

  protected processOne(r: Reading, now: number): void {
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
        if (!sameTags(dev.tags, r.tags) && !isEmpty(r.tags)) {
          dev.tags = r.tags;
          dev.appliesVersion = -1;
        }
      } else if (isEmpty(dev.tags)) dev.tags = r.tags;
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

  /** Records a leaf's truth in the device's bits; the rule is evaluated once, after all the reading's fields. */
  protected touchLeaf(c: CompiledRule, dev: Device, leaf: Leaf, v: FieldValue | undefined, f: string | undefined, ts: number, stamp: number): void {
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

  protected evaluateTouched(dev: Device, fields: Reading['fields'], ts: number, now: number): void {
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
  protected evaluateSlot(c: CompiledRule, dev: Device, s: Slot, ts: number, now: number, by: 'reading' | 'timer'): void {
    const tr = dev.bits;
    const t = this.whenHolds(c, tr);
    const clr = c.clearLeaf >= 0 ? (tr[c.bitBase + c.clearLeaf] === 1 ? 1 : 0) : t ? 0 : 1;
    const esc = c.escLeaf >= 0 && tr[c.bitBase + c.escLeaf] === 1 ? 1 : 0;
    this.step(c, dev, s, t, clr, esc, ts, now, by);
  }

  protected whenHolds(c: CompiledRule, tr: Int8Array): number {
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
  protected evalLeaf(l: Leaf, v: FieldValue, dev: Device, s: Slot | undefined, ts: number): number {
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

  protected stepFast(c: CompiledRule, dev: Device, t: number, v: FieldValue | undefined, f: string | undefined, ts: number, now: number, verdictReason?: string): void {
    if (t < 0) return;
    let s = dev.slots[c.slot];
    if (s === undefined) {
      if (t === 0 || !this.scheduled(c, ts)) return;
      s = new Slot(c.id, dev.id);
      dev.slots[c.slot] = s;
    }
    if (t === 1 && verdictReason !== undefined) s.verdictReason = verdictReason;
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

  /** An annotated reading from the anomaly node: only "anomalous" conditions learn from it. */
  protected processVerdict(dev: Device, r: Reading, now: number): void {
    if (this.verdictEntries.length === 0) return;
    if (dev.appliesVersion !== this.version) this.computeApplies(dev);
    // The verdict's own reading time, even when plain readings after it came first (a batch's readings reach the
    // rules before the verdicts on them): an alert starts at the anomalous reading, not at the end of its batch.
    const ts = Number.isFinite(r.ts) || !Number.isFinite(dev.lastTs) ? r.ts : dev.lastTs;
    dev.lastTs = Math.max(dev.lastTs, ts);
    const judged = this.judged.get(dev);
    if (judged === undefined || ts > judged) this.judged.set(dev, ts);
    const stamp = ++this.seq;
    const a = r as Reading & { anomaly?: VerdictLike | null; anomalies?: Record<string, VerdictLike | null> };
    for (const e of this.verdictEntries) {
      const c = e.rule;
      if (dev.applies[c.slot] !== 1) continue;
      let field = e.leaf.field;
      let verdict: VerdictLike | null | undefined;
      if (a.anomalies) {
        if (field !== undefined) verdict = a.anomalies[field];
        else {
          for (const [f, v] of Object.entries(a.anomalies)) {
            if (v && typeof v.score === 'number' && (!verdict || v.score > verdict.score!)) {
              verdict = v;
              field = f;
            }
          }
        }
      } else if (a.anomaly && (field === undefined || typeof r.fields[field] === 'number')) {
        const judged = typeof a.anomaly.field === 'string' ? a.anomaly.field : undefined;
        // A verdict naming another field says nothing of this rule's field (the anomaly node may watch only some).
        if (field !== undefined && judged !== undefined && judged !== field) continue;
        verdict = a.anomaly;
        // A verdict from before verdicts named their field: on a reading with one number it can only be that one's.
        field ??= judged ?? onlyNumber(r.fields);
      }
      const score = verdict?.score;
      if (typeof score !== 'number') continue;
      const t = score >= e.leaf.score ? 1 : 0;
      const v = field !== undefined ? r.fields[field] : undefined;
      // A single condition steps directly, recovery and escalation thresholds too: reindex() indexed only its first
      // leaf. Its one explanation lives in its slot; a group's, one per leaf, beside the leaf truths.
      if (c.tree === null) this.stepFast(c, dev, t, v, field, ts, now, reasonOf(verdict));
      else {
        dev.bits[c.bitBase + e.leaf.index] = t;
        this.keepReason(dev, c.bitBase + e.leaf.index, t === 1 ? reasonOf(verdict) : undefined);
        if (this.touchStamp[c.slot] !== stamp) {
          this.touchStamp[c.slot] = stamp;
          this.touchedRules.push(c);
        }
      }
    }
    if (this.touchedRules.length) this.evaluateTouched(dev, r.fields, ts, now);
  }

  /**
   * Readings newer than a device's last verdict in a message came without one: they are not anomalous, as a plain
   * reading after the verdict would have said. A batch's plain readings reach the rules before its verdicts, so an
   * alert raised from a batch clears with the batch's last reading (unless that one is anomalous) rather than
   * waiting for a reading that may never come.
   */
  private settleVerdicts(now: number): void {
    for (const [dev, judgedTs] of this.judged) {
      const ts = dev.lastTs;
      if (!(ts > judgedTs)) continue;
      const stamp = ++this.seq;
      for (const e of this.verdictEntries) {
        const c = e.rule;
        if (dev.applies[c.slot] !== 1) continue;
        if (c.tree === null) {
          const s = dev.slots[c.slot];
          // A recovery threshold needs the value of that newer reading, which is not at hand: its next reading decides.
          if (s !== undefined && c.clearLeaf < 0) this.step(c, dev, s, 0, 1, 0, ts, now, 'reading');
          continue;
        }
        dev.bits[c.bitBase + e.leaf.index] = 0;
        this.keepReason(dev, c.bitBase + e.leaf.index, undefined);
        if (this.touchStamp[c.slot] !== stamp) {
          this.touchStamp[c.slot] = stamp;
          this.touchedRules.push(c);
        }
      }
      if (this.touchedRules.length) this.evaluateTouched(dev, {}, ts, now);
    }
    this.judged.clear();
  }

  /**
   * A group's anomalous leaf keeps its own explanation beside its truth (two such
   * leaves each have theirs); devices only get the array once a verdict explains itself.
   */
  protected keepReason(dev: Device, at: number, why: string | undefined): void {
    let rs = dev.reasons;
    if (rs === null) {
      if (why === undefined) return;
      rs = dev.reasons = new Array<string | undefined>(this.bitsLen).fill(undefined);
    }
    // Rules added since the array was made lie past its end; filled up, it stays a packed array.
    while (rs.length <= at) rs.push(undefined);
    rs[at] = why;
  }
}

/** The name of a reading's only numeric field; undefined when it has none or several. */
function onlyNumber(fields: Reading['fields']): string | undefined {
  let found: string | undefined;
  for (const f in fields) {
    if (typeof fields[f] !== 'number') continue;
    if (found !== undefined) return undefined;
    found = f;
  }
  return found;
}

/** The part of the anomaly node's verdict the rules read. */
interface VerdictLike {
  score?: number;
  /** The field judged; absent on verdicts from older anomaly nodes and on heartbeat ones. */
  field?: string;
  reason?: unknown;
}

/** Longest explanation carried into an alert: a verdict comes from a message anyone upstream may have built. */
const MAX_REASON = 500;

function reasonOf(v: VerdictLike | null | undefined): string | undefined {
  const text = v?.reason;
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}
