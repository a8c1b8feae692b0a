/**
 * Checks a rule against schemas/rule.schema.json (ajv) and then for what a
 * schema cannot say (a band whose low is above its high, an unknown time zone,
 * a placeholder the message cannot fill, a number too large to be kept as JSON).
 * Every error names the JSON pointer of the offending value, so a form can mark
 * the field and an API client can fix it.
 */
import { ConflictError, RuleInvalidError } from '../errors';
import { deviceIdProblem } from '../devices/record';
import { escapePointer } from '../schema/pointer';
import { nonFiniteNumber, nonFiniteProblem } from '../schema/finite';
import { durationMs } from './duration';
import { TEMPLATE_FIELDS, placeholders } from './template';
import type { Condition, Group, Rule, SubGroup } from './types';
import { brokenBy, isCondition, looksLikeGroup, looseConditions } from './validate-shape';
import { Problems, refusalUnder, ruleRefusal } from './validate-problems';
import { schemaProblems, validator } from './validate-schema';

export { MAX_RULE_PROBLEMS, problemsOf, refusalUnder, ruleRefusal, type RuleProblem } from './validate-problems';
export { isRuleId, RULE_SCHEMA_PATH, ruleSchema } from './validate-schema';

function fail(pointer: string, message: string): never {
  throw new RuleInvalidError(`${pointer} ${message}`, { pointer });
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function isGroup(x: Condition | Group | SubGroup): x is Group {
  return !('op' in x);
}

function checkCondition(c: Condition, at: string, inGroup: boolean, bad: Problems): void {
  if ((c.op === 'outside' || c.op === 'inside') && c.low !== undefined && c.high !== undefined && !(c.low < c.high)) {
    bad.fail(`${at}/low`, `must be below high (${c.low} is not below ${c.high})`);
  }
  if (c.op === 'not-reported' && c.for !== undefined && !(durationMs(c.for) > 0)) bad.fail(`${at}/for`, 'must be longer than zero: it is how long the device may stay silent');
  if (c.op === 'changed-by' && c.within !== undefined && !(durationMs(c.within) > 0)) bad.fail(`${at}/within`, 'must be longer than zero');
  if (inGroup && c.for !== undefined && c.op !== 'not-reported') {
    bad.fail(`${at}/for`, 'is set on the group, not on one of its conditions: put "for" next to "all" or "any"');
  }
  if (c.op === 'anomalous' && c.value !== undefined) bad.fail(`${at}/value`, 'is not used by "anomalous": give "score" (0 to 1) instead');
  for (const k of ['lowTag', 'highTag'] as const) {
    if (c[k] !== undefined && c.op !== 'outside' && c.op !== 'inside') bad.fail(`${at}/${k}`, `is only used with "outside" and "inside"`);
  }
  if (c.valueTag !== undefined && c.op !== 'above' && c.op !== 'below' && c.op !== 'changed-by') bad.fail(`${at}/valueTag`, 'is only used with "above", "below" and "changed-by"');
}

/** The leaf conditions of `when`, each with its pointer. */
export function conditionsOf(when: Condition | Group): Array<{ cond: Condition; at: string }> {
  if (!isGroup(when)) return [{ cond: when, at: '/when' }];
  const out: Array<{ cond: Condition; at: string }> = [];
  const key = when.all ? 'all' : 'any';
  (when[key] ?? []).forEach((item, i) => {
    if (isGroup(item)) {
      const sub = item as SubGroup;
      const k = sub.all ? 'all' : 'any';
      (sub[k] ?? []).forEach((c, j) => out.push({ cond: c, at: `/when/${key}/${i}/${k}/${j}` }));
    } else out.push({ cond: item, at: `/when/${key}/${i}` });
  });
  return out;
}

/**
 * The fields the conditions of `when` name, each once, in their order: what the recovery or escalation threshold
 * of a group can watch (the form offers them in its field pickers; test/unit/alert-form-rules.test.ts runs its copy
 * beside this one).
 */
export function watchedFields(leaves: ReadonlyArray<{ cond: Condition }>): string[] {
  const out: string[] = [];
  for (const { cond } of leaves) if (typeof cond.field === 'string' && cond.field !== '' && !out.includes(cond.field)) out.push(cond.field);
  return out;
}

/**
 * What makes two rule names the same for the people who read alerts: spaces
 * around, case, and the composed or decomposed form of an accented letter
 * ("Température" typed on two systems) do not tell rules apart.
 */
export function ruleNameKey(name: string): string {
  return name.normalize('NFC').trim().toLowerCase();
}

/**
 * The key of a rule's name as it is created, changed or imported: a name of
 * spaces only shows as nothing in the alert list and in notifications. Rules
 * already stored are not checked, so one saved before still loads.
 */
const BLANK_NAME = 'must not be blank: give the rule a name people will recognise in alerts, such as "Boiler too hot"';

export function newRuleNameKey(name: string): string {
  const key = ruleNameKey(name);
  if (key === '') fail('/name', BLANK_NAME);
  return key;
}

/**
 * A listed device id outside the device id rule of the registry and the inputs could never match a device. Like
 * names, only rules being created, changed or imported are checked: a rule stored before still loads (dropping it
 * at load would delete it from rules.json at the next save).
 */
export function checkNewRuleDevices(rule: Rule): void {
  const bad = new Problems();
  newRuleDeviceProblems(rule, bad);
  if (bad.list.length) throw ruleRefusal(bad.list);
}

function newRuleDeviceProblems(rule: Partial<Rule>, bad: Problems): void {
  const lists: Array<{ at: string; ids: readonly string[] }> = [{ at: '/devices/list', ids: rule.devices && 'list' in rule.devices ? rule.devices.list : [] }];
  // A silence names devices by the same rule as the rule's own list (one $defs/device in the schema).
  for (const [j, s] of (rule.silences ?? []).entries()) if (s.devices) lists.push({ at: `/silences/${j}/devices`, ids: s.devices });
  for (const { at, ids } of lists) {
    for (const [i, id] of ids.entries()) {
      const problem = deviceIdProblem(id);
      if (problem) bad.add(`${at}/${i}`, `${at}/${i}: ${problem}`);
    }
  }
}

/**
 * The conditions checkSemantics checks, and what the rule watches as far as the valid parts of `when` tell:
 * `op`, the one condition's operator (undefined for a group, or when refused); `oneField`, whether it watches
 * one named field (undefined when that cannot be told: the field, or the operator that may need none, was refused).
 */
interface When {
  grouped: boolean;
  leaves: Array<{ cond: Condition; at: string }>;
  op?: Condition['op'];
  oneField?: boolean;
}

function wholeWhen(when: Condition | Group): When {
  const grouped = isGroup(when);
  return { grouped, leaves: conditionsOf(when), ...(grouped ? { oneField: false } : { op: when.op, oneField: Boolean(when.field) }) };
}

/**
 * A `when` the schema refused: a group still watches no single field, whichever of its conditions is wrong; a
 * condition keeps its operator and field where the schema took them. Anything else tells nothing.
 */
function partialWhen(raw: unknown, broken: (at: string) => boolean): When {
  const { grouped, leaves } = looseConditions(raw, broken);
  if (looksLikeGroup(raw)) return { grouped, leaves, oneField: false };
  if (!isCondition(raw)) return { grouped, leaves };
  const op = broken('/when/op') ? undefined : raw.op;
  const fieldKnown = !broken('/when/field');
  // A field written and taken watches it; none written says "no field" only once the operator is known not to need one.
  const oneField = fieldKnown && Boolean(raw.field) ? true : fieldKnown && op !== undefined ? false : undefined;
  return { grouped, leaves, ...(op === undefined ? {} : { op }), ...(oneField === undefined ? {} : { oneField }) };
}

/** The fields a group watches, as said after "watches no single field": " (temperature, humidity)", or nothing. */
function whichField(leaves: ReadonlyArray<{ cond: Condition }>): string {
  const fields = watchedFields(leaves);
  return fields.length ? ` (it watches ${fields.map((f) => JSON.stringify(f)).join(', ')})` : '';
}

/** The checks a schema cannot make, on the parts of the rule that have the schema's shape (all of a valid rule). */
function checkSemantics(rule: Partial<Rule>, when: When, bad: Problems): void {
  // A blank tag name (the form's tag field left empty) matches no device: the rule would never fire.
  const tags = rule.devices && 'tags' in rule.devices ? rule.devices.tags : undefined;
  if (tags && Object.keys(tags).some((k) => k.trim() === '')) bad.fail('/devices/tags', 'needs a tag name, such as "site" with the value "lab"');
  const { grouped, leaves } = when;
  for (const { cond, at } of leaves) checkCondition(cond, at, grouped, bad);
  const { op } = when;
  // Such a condition takes no recovery or escalation threshold at all: which field one would watch is beside the point.
  const noThreshold = op === 'not-reported' || op === 'anomalous';
  if (noThreshold) {
    if (rule.clear?.op !== undefined) bad.fail('/clear/op', `is not used with "${op}": the alert clears when ${op === 'not-reported' ? 'the device reports again' : 'a reading is no longer anomalous'} (give only "for" to wait longer)`);
    if (rule.escalate?.op !== undefined) bad.fail('/escalate/op', `is not used with "${op}"; escalate after a time instead`);
  }
  // Required only here, so the schema cannot say it: the keyword lets a form word it as it words the schema's "required".
  const which = whichField(leaves);
  if (rule.clear) {
    const c = rule.clear;
    if (when.oneField === false && !noThreshold && c.op !== undefined && c.field === undefined) {
      bad.add('/clear/field', `/clear/field is required: the condition watches no single field${which}, so say which field the recovery threshold is about`, 'required');
    }
    if (c.op === undefined && (c.value !== undefined || c.low !== undefined || c.high !== undefined)) bad.fail('/clear/op', 'is required when a recovery value is given');
    if ((c.op === 'outside' || c.op === 'inside') && c.low !== undefined && c.high !== undefined && !(c.low < c.high)) bad.fail('/clear/low', `must be below high (${c.low} is not below ${c.high})`);
  }
  if (when.oneField === false && !noThreshold && rule.escalate?.op !== undefined && rule.escalate.field === undefined) {
    bad.add('/escalate/field', `/escalate/field is required: the condition watches no single field${which}, so say which field the second threshold is about`, 'required');
  }
  for (const k of ['remindEvery', 'keepFiringFor'] as const) {
    const v = rule[k];
    if (k === 'remindEvery' && v !== undefined && !(durationMs(v) > 0)) bad.fail(`/${k}`, 'must be longer than zero');
  }
  if (rule.escalate?.after !== undefined && !(durationMs(rule.escalate.after) > 0)) bad.fail('/escalate/after', 'must be longer than zero');
  if (rule.flap && !(durationMs(rule.flap.within) > 0)) bad.fail('/flap/within', 'must be longer than zero');
  if (rule.timezone !== undefined && !isTimeZone(rule.timezone)) bad.fail('/timezone', `"${rule.timezone}" is not a time zone; use a name such as "Europe/Berlin" or "UTC"`);
  for (const key of ['schedule', 'mute'] as const) {
    (rule[key] ?? []).forEach((w, i) => {
      if (w.from === w.to) bad.fail(`/${key}/${i}/to`, 'must differ from "from" (a window from 00:00 to 24:00 is the whole day)');
    });
  }
  (rule.silences ?? []).forEach((s, i) => {
    if (!(Date.parse(s.from) < Date.parse(s.to))) bad.fail(`/silences/${i}/to`, 'must be after "from"');
  });
  if (rule.message !== undefined) {
    for (const name of placeholders(rule.message)) {
      if (!TEMPLATE_FIELDS.includes(name) && !name.startsWith('tag.')) {
        bad.fail('/message', `uses {${name}}, which is not a placeholder; use ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(' ')} or {tag.NAME}`);
      }
    }
  }
}

/** A number JSON cannot keep in a rule or a request about rules, in the rules' error shape (RULE_INVALID, pointer). */
export function nonFiniteRuleError(found: { pointer: string; value: number }): RuleInvalidError {
  return new RuleInvalidError(`${found.pointer || 'the rule'} ${nonFiniteProblem(found.value)}`, { pointer: found.pointer });
}

/**
 * The rule, typed, when it is valid; otherwise throws RuleInvalidError naming the JSON pointer of the first
 * problem and listing every problem in `errors` (at most MAX_RULE_PROBLEMS). `fresh`: the rule is being created,
 * changed or imported, so its name and listed device ids are checked too (newRuleNameKey, checkNewRuleDevices).
 */
export function validateRule(data: unknown, opts: { fresh?: boolean } = {}): Rule {
  // Before the schema, which would call such a number valid or, once it is null, "must be number (got null)".
  // HTTP bodies are refused before this (jsonBody); rules.json and rules shared in a cluster are read by JSON.parse alone.
  const huge = nonFiniteNumber(data);
  if (huge) throw nonFiniteRuleError(huge);
  const validate = validator();
  const bad = new Problems();
  if (validate(data)) {
    const rule = data as Rule;
    laterChecks(rule, wholeWhen(rule.when), bad, opts.fresh);
  } else {
    const refused = schemaProblems(validate.errors ?? [], data, bad);
    // The checks after the schema read the rule's shape: they see only the parts the schema found nothing wrong with.
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
      const broken = brokenBy(refused);
      const part = Object.fromEntries(Object.entries(data).filter(([k]) => k !== 'when' && !broken(`/${escapePointer(k)}`))) as Partial<Rule>;
      const raw = (data as { when?: unknown }).when;
      const when: When = broken('/when') ? partialWhen(raw, broken) : wholeWhen(raw as Condition | Group);
      try {
        laterChecks(part, when, bad, opts.fresh);
      } catch {
        // A shape nobody foresaw: the schema's problems are the answer, as they were before.
      }
    }
  }
  if (bad.list.length) throw ruleRefusal(bad.list);
  return data as Rule;
}

function laterChecks(rule: Partial<Rule>, when: When, bad: Problems, fresh: boolean | undefined): void {
  checkSemantics(rule, when, bad);
  if (fresh && typeof rule.name === 'string' && ruleNameKey(rule.name) === '') bad.fail('/name', BLANK_NAME);
  if (fresh) newRuleDeviceProblems(rule, bad);
}

/** A rule pack: {"rules": [...]} or a bare array. Errors point into the pack (/rules/3/when/value). */
export function validatePack(data: unknown): Rule[] {
  const list = Array.isArray(data) ? data : data && typeof data === 'object' ? (data as { rules?: unknown }).rules : undefined;
  const base = Array.isArray(data) ? '' : '/rules';
  if (!Array.isArray(list)) throw new RuleInvalidError('a rule pack is {"rules": [...]} or an array of rules', { pointer: base });
  if (list.length > 10_000) throw new RuleInvalidError(`a rule pack holds at most 10000 rules, this one ${list.length}`, { pointer: base });
  const ids = new Set<string>();
  // The rules API refuses a second rule of a name (ruleNameKey) with 409; a pack may not bring two either.
  const names = new Map<string, number>();
  return list.map((r, i) => {
    let rule: Rule;
    let name: string;
    try {
      rule = validateRule(r, { fresh: true });
      name = ruleNameKey(rule.name);
      if (ids.has(rule.id)) throw new RuleInvalidError(`/id "${rule.id}" appears twice in the pack`, { pointer: '/id' });
      ids.add(rule.id);
    } catch (err) {
      if (err instanceof RuleInvalidError) throw refusalUnder(err, `${base}/${i}`);
      throw err;
    }
    const first = names.get(name);
    if (first !== undefined) {
      throw new ConflictError(`two rules of the pack are named "${rule.name.trim()}" (${base}/${first} and ${base}/${i}): give each rule a name of its own; nothing was imported`, { pointer: `${base}/${i}/name`, rule: rule.id });
    }
    names.set(name, i);
    return rule;
  });
}
