/**
 * The parts of a rule the schema refused, told apart from those it did not: so the checks a schema cannot make
 * (validate.ts) still run on the parts that are well formed, and one round of validation lists every problem it
 * can, not the schema's first and, once they are fixed, the rest.
 */
import type { Condition } from './types';

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

export function isCondition(x: unknown): x is Condition {
  return isObj(x) && typeof x.op === 'string';
}

/** Something written as a group ({"all": [...]} or {"any": [...]}), well formed or not. */
export function looksLikeGroup(x: unknown): x is Obj {
  return isObj(x) && !('op' in x) && ('all' in x || 'any' in x);
}

function listsOf(group: Obj): Array<{ key: 'all' | 'any'; items: unknown[] }> {
  const out: Array<{ key: 'all' | 'any'; items: unknown[] }> = [];
  for (const key of ['all', 'any'] as const) {
    const items = group[key];
    if (Array.isArray(items)) out.push({ key, items });
  }
  return out;
}

/** `when` and the items of its group, each with its pointer: where a value may be a condition or a group. */
export function whenItems(when: unknown): Array<{ at: string; value: unknown }> {
  const out: Array<{ at: string; value: unknown }> = [{ at: '/when', value: when }];
  if (looksLikeGroup(when)) for (const { key, items } of listsOf(when)) items.forEach((value, i) => out.push({ at: `/when/${key}/${i}`, value }));
  return out;
}

/**
 * The pointers of groups inside a group that is itself inside the rule's group: `when` may hold groups of
 * conditions, and they only conditions. Said once at the group, where the schema alone would list every key of
 * every branch it could have been.
 */
export function tooDeepGroups(when: unknown): string[] {
  if (!looksLikeGroup(when)) return [];
  const out: string[] = [];
  for (const { key, items } of listsOf(when)) {
    items.forEach((item, i) => {
      if (!looksLikeGroup(item)) return;
      for (const inner of listsOf(item)) {
        inner.items.forEach((x, j) => {
          if (looksLikeGroup(x)) out.push(`/when/${key}/${i}/${inner.key}/${j}`);
        });
      }
    });
  }
  return out;
}

/** Whether `pointer` is `at` or lies under it. */
export function within(pointer: string, at: string): boolean {
  return pointer === at || pointer.startsWith(`${at}/`);
}

/**
 * Whether the value at `at` may not have the shape the checks after the schema read: a problem is at it, under
 * it, or above it (short of the rule itself, whose problems are each about one key).
 */
export function brokenBy(problems: readonly string[]): (at: string) => boolean {
  return (at) => problems.some((p) => within(p, at) || (p !== '' && within(at, p)));
}

/**
 * The conditions of a `when` the schema refused, each with its pointer, found without trusting its shape;
 * `grouped`: written as a group. Conditions with a problem are for the schema's messages alone.
 */
export function looseConditions(when: unknown, broken: (at: string) => boolean): { grouped: boolean; leaves: Array<{ cond: Condition; at: string }> } {
  if (isCondition(when)) return { grouped: false, leaves: broken('/when') ? [] : [{ cond: when, at: '/when' }] };
  const leaves: Array<{ cond: Condition; at: string }> = [];
  if (!looksLikeGroup(when)) return { grouped: false, leaves };
  for (const { key, items } of listsOf(when)) {
    items.forEach((item, i) => {
      if (isCondition(item)) leaves.push({ cond: item, at: `/when/${key}/${i}` });
      else if (looksLikeGroup(item)) {
        for (const inner of listsOf(item)) {
          inner.items.forEach((c, j) => {
            if (isCondition(c)) leaves.push({ cond: c, at: `/when/${key}/${i}/${inner.key}/${j}` });
          });
        }
      }
    });
  }
  return { grouped: true, leaves: leaves.filter((l) => !broken(l.at)) };
}
