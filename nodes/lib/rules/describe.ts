/** Words for alerts: why a transition happened, and the rule's message filled in. */
import { ABOVE, ANOMALOUS, BELOW, CHANGED, DEADMAN_MESSAGE, EQUAL, INSIDE, NOT_EQUAL, NOT_REPORTED, OUTSIDE, type CompiledRule, type Leaf } from './compile';
import { durationWords } from './duration';
import type { Device, Slot } from './slot';
import { compileTemplate, fillTemplate, timeText, valueText } from './template';
import type { AlertRecord } from './types';

function tagNum(dev: Device, tag: string | undefined, fallback: number): number {
  if (tag === undefined) return fallback;
  const s = dev.tags[tag];
  const n = s === undefined || s.trim() === '' ? NaN : Number(s);
  return Number.isFinite(n) ? n : fallback;
}

function withUnit(v: string, unit: string): string {
  if (!unit || v === '') return v;
  return unit === '%' ? `${v}%` : `${v} ${unit}`;
}

/** The threshold as the message shows it, with the device's own value when a tag overrides it. */
export function thresholdText(leaf: Leaf, dev: Device, unit: string): string {
  switch (leaf.op) {
    case ABOVE:
    case BELOW:
    case CHANGED:
      return withUnit(valueText(tagNum(dev, leaf.valueTag, leaf.value)), unit);
    case OUTSIDE:
    case INSIDE:
      return `${withUnit(valueText(tagNum(dev, leaf.lowTag, leaf.low)), unit)} to ${withUnit(valueText(tagNum(dev, leaf.highTag, leaf.high)), unit)}`;
    case EQUAL:
    case NOT_EQUAL:
      return valueText(leaf.text);
    case NOT_REPORTED:
      return durationWords(leaf.silenceMs);
    case ANOMALOUS:
      return `score ${leaf.score}`;
    default:
      return '';
  }
}

/** "temperature 31 °C is above 30 °C", "no reading from pump-7 for 10 minutes". */
export function describeCondition(c: CompiledRule, leaf: Leaf, s: Slot, dev: Device): string {
  const field = leaf.field ?? s.lastField ?? 'a field';
  // The slot keeps the last value of one field only: a group's other fields are named without one.
  const known = s.lastField === leaf.field || leaf.field === undefined;
  const value = known ? ` ${withUnit(valueText(s.lastValue), c.unit)}` : '';
  const th = thresholdText(leaf, dev, c.unit);
  switch (leaf.op) {
    case ABOVE:
      return `${field}${value} is above ${th}`;
    case BELOW:
      return `${field}${value} is below ${th}`;
    case OUTSIDE:
      return `${field}${value} is outside ${th}`;
    case INSIDE:
      return `${field}${value} is inside ${th}`;
    case EQUAL:
      return `${field} is ${th}`;
    case NOT_EQUAL:
      return `${field}${value} is not ${th}`;
    case CHANGED:
      return `${field} changed by more than ${th} within ${durationWords(leaf.withinMs)}${known ? ` (now${value})` : ''}`;
    case NOT_REPORTED:
      return leaf.field === undefined ? `no reading from ${dev.id} for ${th}` : `no ${leaf.field} from ${dev.id} for ${th}`;
    case ANOMALOUS: {
      // A group keeps each leaf's explanation beside its truth; a single condition in its slot.
      const why = c.tree === null ? s.verdictReason : dev.reasons?.[c.bitBase + leaf.index];
      return why ? `${leaf.field ?? s.lastField ?? 'a field'} is anomalous (${th} or more): ${why}` : `${leaf.field ?? 'a field'} is anomalous (${th} or more)`;
    }
    default:
      return field;
  }
}

/**
 * Why a group holds, in words: the conditions that held, joined by "and" (for OR, only
 * those that held; in a subgroup, only when the subgroup held), each as describeCondition
 * says it, each anomalous one with the anomaly node's explanation of its own verdict.
 */
export function describeGroup(c: CompiledRule, s: Slot, dev: Device): string {
  const tree = c.tree;
  if (tree === null) return describeCondition(c, c.leaves[0], s, dev);
  const bits = dev.bits;
  const held = (i: number): boolean => c.bitBase >= 0 && bits[c.bitBase + i] === 1;
  const parts: string[] = [];
  for (const it of tree.items) {
    if (typeof it === 'number') {
      if (held(it)) parts.push(describeCondition(c, c.leaves[it], s, dev));
      continue;
    }
    const inner = it.leaves.filter(held);
    if (it.any ? inner.length > 0 : inner.length === it.leaves.length) for (const i of inner) parts.push(describeCondition(c, c.leaves[i], s, dev));
  }
  // Nothing recorded (e.g. state from before the leaves were kept): the old words, still true.
  return parts.length ? parts.join(' and ') : `${tree.any ? 'one of the conditions' : 'all conditions'} held`;
}

/** The default message of a rule whose field is not known: the reason says it as a sentence. */
const REASON_TEMPLATE = compileTemplate(DEADMAN_MESSAGE);

export function messageOf(c: CompiledRule, s: Slot, dev: Device, rec: AlertRecord, ts: number, reason: string): string {
  const leaf = c.leaves[0];
  const field = s.lastField ?? leaf?.field ?? '';
  // The default message says "<field> is <value>": with no field (a verdict that names none on a reading with several
  // numbers) it would read "pump-7  is", so the reason, which says "a field", speaks instead.
  const template = field === '' && c.rule.message === undefined ? REASON_TEMPLATE : c.template;
  const text = fillTemplate(template, {
    device: dev.id,
    field,
    value: valueText(s.lastValue),
    unit: c.unit,
    threshold: leaf ? thresholdText(leaf, dev, c.unit) : '',
    since: timeText(rec.since, c.timezone),
    duration: durationWords(Math.max(0, ts - rec.since)),
    rule: c.rule.name,
    severity: rec.severity,
    state: rec.state,
    reason,
    tags: dev.tags,
  });
  return text.replace(/\s+$/, '');
}
