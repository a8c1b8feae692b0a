/**
 * A validated Rule turned into what the engine runs: leaf conditions with op
 * codes and thresholds as numbers, the AND/OR tree as indices, durations in ms,
 * schedules and silences ready to answer "now?".
 */
import type { FieldValue } from '../reading';
import { durationMs } from './duration';
import { WeeklyWindows } from './schedule';
import { compileTemplate, type Template } from './template';
import { conditionsOf } from './validate';
import type { ClearCondition, Condition, Group, Rule, Severity, SubGroup } from './types';
import { SEVERITIES } from './types';

export const ABOVE = 0;
export const BELOW = 1;
export const OUTSIDE = 2;
export const INSIDE = 3;
export const EQUAL = 4;
export const NOT_EQUAL = 5;
export const CHANGED = 6;
export const NOT_REPORTED = 7;
export const ANOMALOUS = 8;

const OP_CODES: Record<string, number> = {
  above: ABOVE,
  below: BELOW,
  outside: OUTSIDE,
  inside: INSIDE,
  equal: EQUAL,
  'not-equal': NOT_EQUAL,
  'changed-by': CHANGED,
  'not-reported': NOT_REPORTED,
  anomalous: ANOMALOUS,
};

export const ROLE_WHEN = 0;
export const ROLE_CLEAR = 1;
export const ROLE_ESCALATE = 2;

export interface Leaf {
  /** Position in the rule's leaves (when leaves first, then clear, then escalate). */
  index: number;
  role: number;
  field: string | undefined;
  op: number;
  opName: string;
  value: number;
  text: FieldValue | undefined;
  low: number;
  high: number;
  valueTag: string | undefined;
  lowTag: string | undefined;
  highTag: string | undefined;
  withinMs: number;
  silenceMs: number;
  score: number;
}

export type TreeItem = number | { any: boolean; leaves: number[] };

export interface CompiledSilence {
  from: number;
  to: number;
  devices: Set<string> | undefined;
}

export interface CompiledRule {
  rule: Rule;
  id: string;
  /** Stable index into each device's slots; kept while the rule exists. */
  slot: number;
  enabled: boolean;
  leaves: Leaf[];
  /** Number of `when` leaves (the first ones). */
  whenCount: number;
  clearLeaf: number;
  escLeaf: number;
  /** null: a single condition (leaf 0). */
  tree: { any: boolean; items: TreeItem[] } | null;
  /**
   * Single condition on one field with clear and escalation on the same field:
   * no per-device memory until the condition first holds.
   */
  fast: boolean;
  forMs: number;
  clearForMs: number;
  keepMs: number;
  severity: Severity;
  escSeverity: Severity | undefined;
  escAfterMs: number;
  remindMs: number;
  flapChanges: number;
  flapWithinMs: number;
  schedule: WeeklyWindows | undefined;
  mute: WeeklyWindows | undefined;
  silences: CompiledSilence[];
  selector: { kind: 'all' } | { kind: 'list'; ids: Set<string>; list: string[] } | { kind: 'tags'; tags: Array<[string, string]> };
  template: Template;
  timezone: string;
  unit: string;
  deadman: boolean;
  anomalous: boolean;
  usesTags: boolean;
  /** What decides whether the condition holds: a change here resets pending durations. */
  conditionKey: string;
  /** Clock time the rule started watching (for devices listed that never reported). */
  activatedAt: number;
  /** Where its leaf truths start in each device's bits (rules that are not fast); set by the engine. */
  bitBase: number;
  /** Has a changed-by leaf, whose window lives in the (rule, device) slot. */
  changes: boolean;
}

export const DEFAULT_MESSAGE = '{rule}: {device} {field} is {value} {unit}';
/**
 * A rule without a message that watches for silence: its value is the last one before the silence (or none, from a
 * device never heard from), so "temperature is 5" would read as a reading it did not send; the reason says what happened.
 */
export const DEADMAN_MESSAGE = '{rule}: {device}: {reason}';

function num(v: FieldValue | undefined): number {
  return typeof v === 'number' ? v : NaN;
}

function leafOf(c: Condition | ClearCondition, index: number, role: number, fallbackField: string | undefined): Leaf {
  const op = OP_CODES[c.op ?? 'above'];
  const cond = c as Condition;
  return {
    index,
    role,
    field: c.field ?? fallbackField,
    op,
    opName: c.op ?? '',
    value: num(c.value),
    text: c.value,
    low: c.low ?? NaN,
    high: c.high ?? NaN,
    valueTag: c.valueTag,
    lowTag: c.lowTag,
    highTag: c.highTag,
    withinMs: cond.within ? durationMs(cond.within) : 0,
    silenceMs: op === NOT_REPORTED && cond.for ? durationMs(cond.for) : 0,
    score: op === ANOMALOUS ? cond.score ?? 0.5 : NaN,
  };
}

function isGroup(x: Condition | Group | SubGroup): boolean {
  return !('op' in x);
}

function windows(list: Rule['schedule'], tz: string): WeeklyWindows | undefined {
  return list && list.length ? new WeeklyWindows(list, tz) : undefined;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Compiles a rule validated by validateRule(). */
export function compileRule(rule: Rule, slot: number, activatedAt: number): CompiledRule {
  const leaves: Leaf[] = [];
  const grouped = isGroup(rule.when);
  for (const { cond } of conditionsOf(rule.when)) leaves.push(leafOf(cond, leaves.length, ROLE_WHEN, undefined));
  const whenCount = leaves.length;
  let tree: CompiledRule['tree'] = null;
  if (grouped) {
    const g = rule.when as Group;
    const any = !!g.any;
    const items: TreeItem[] = [];
    let next = 0;
    for (const item of (any ? g.any : g.all) ?? []) {
      if (isGroup(item)) {
        const sub = item as SubGroup;
        const list = (sub.any ?? sub.all) ?? [];
        items.push({ any: !!sub.any, leaves: list.map(() => next++) });
      } else items.push(next++);
    }
    tree = { any, items };
  }
  const single = grouped ? undefined : (rule.when as Condition);
  const mainField = single?.field;
  let clearLeaf = -1;
  if (rule.clear?.op) {
    clearLeaf = leaves.length;
    leaves.push(leafOf(rule.clear, clearLeaf, ROLE_CLEAR, mainField));
  }
  let escLeaf = -1;
  if (rule.escalate?.op && rule.escalate.value !== undefined) {
    escLeaf = leaves.length;
    leaves.push(leafOf({ op: rule.escalate.op, value: rule.escalate.value, field: rule.escalate.field }, escLeaf, ROLE_ESCALATE, mainField));
  }
  const sameField = leaves.every((l) => l.field === mainField);
  const fastOps = new Set([ABOVE, BELOW, OUTSIDE, INSIDE, EQUAL, NOT_EQUAL, ANOMALOUS]);
  const fast = !grouped && mainField !== undefined && sameField && leaves.every((l) => fastOps.has(l.op));
  const tz = rule.timezone ?? 'UTC';
  const groupFor = grouped ? (rule.when as Group).for : single?.op === 'not-reported' ? undefined : single?.for;
  const sel = rule.devices;
  const selector: CompiledRule['selector'] =
    'list' in sel ? { kind: 'list', ids: new Set(sel.list), list: sel.list } : 'tags' in sel ? { kind: 'tags', tags: Object.entries(sel.tags) } : { kind: 'all' };
  return {
    rule,
    id: rule.id,
    slot,
    enabled: rule.enabled !== false,
    leaves,
    whenCount,
    clearLeaf,
    escLeaf,
    tree,
    fast,
    forMs: groupFor ? durationMs(groupFor) : 0,
    clearForMs: rule.clear?.for ? durationMs(rule.clear.for) : 0,
    keepMs: rule.keepFiringFor ? durationMs(rule.keepFiringFor) : 0,
    severity: rule.severity,
    escSeverity: rule.escalate?.severity,
    escAfterMs: rule.escalate?.after ? durationMs(rule.escalate.after) : 0,
    remindMs: rule.remindEvery ? durationMs(rule.remindEvery) : 0,
    flapChanges: rule.flap?.changes ?? 0,
    flapWithinMs: rule.flap ? durationMs(rule.flap.within) : 0,
    schedule: windows(rule.schedule, tz),
    mute: windows(rule.mute, tz),
    silences: (rule.silences ?? []).map((s) => ({ from: Date.parse(s.from), to: Date.parse(s.to), devices: s.devices ? new Set(s.devices) : undefined })),
    selector,
    template: compileTemplate(rule.message ?? ('op' in rule.when && rule.when.op === 'not-reported' ? DEADMAN_MESSAGE : DEFAULT_MESSAGE)),
    timezone: tz,
    unit: rule.unit ?? '',
    deadman: leaves.some((l) => l.op === NOT_REPORTED),
    anomalous: leaves.some((l) => l.op === ANOMALOUS),
    usesTags: selector.kind === 'tags' || leaves.some((l) => l.valueTag !== undefined || l.lowTag !== undefined || l.highTag !== undefined),
    conditionKey: JSON.stringify([rule.when, rule.devices, rule.enabled !== false, rule.schedule ?? null]),
    activatedAt,
    bitBase: -1,
    changes: leaves.some((l) => l.op === CHANGED),
  };
}
