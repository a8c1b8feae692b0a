/**
 * Checks a rule against schemas/rule.schema.json (ajv) and then for what a
 * schema cannot say (a band whose low is above its high, an unknown time zone,
 * a placeholder the message cannot fill, a number too large to be kept as JSON).
 * Every error names the JSON pointer of the offending value, so a form can mark
 * the field and an API client can fix it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ConflictError, RuleInvalidError } from '../errors';
import { deviceIdProblem } from '../devices/record';
import { packageRoot } from '../paths';
import { escapePointer, valueAt } from '../schema/pointer';
import { nonFiniteNumber, nonFiniteProblem } from '../schema/finite';
import { durationMs } from './duration';
import { TEMPLATE_FIELDS, placeholders } from './template';
import type { Condition, Group, Rule, SubGroup } from './types';
import { brokenBy, isCondition, looksLikeGroup, looseConditions, tooDeepGroups, whenItems, within } from './validate-shape';

export const RULE_SCHEMA_PATH = join(packageRoot(), 'schemas', 'rule.schema.json');

let compiled: ValidateFunction | undefined;
let schemaRoot: object | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  // verbose: each error names the schema object it comes from, which tells a oneOf's branches apart.
  const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false, verbose: true });
  addFormats(ajv);
  schemaRoot = JSON.parse(readFileSync(RULE_SCHEMA_PATH, 'utf8')) as object;
  compiled = ajv.compile(schemaRoot);
  return compiled;
}

export function ruleSchema(): object {
  return JSON.parse(readFileSync(RULE_SCHEMA_PATH, 'utf8')) as object;
}

let idPattern: RegExp | undefined;

/** Whether a rule may have this id: the schema's pattern, the one place it is written. */
export function isRuleId(id: string): boolean {
  idPattern ??= new RegExp((ruleSchema() as { properties: { id: { pattern: string } } }).properties.id.pattern);
  return idPattern.test(id);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const COMBINATORS = new Set(['oneOf', 'anyOf', 'allOf', 'if', 'not']);
// Errors about a value itself say most; a missing or unknown key less; combinators least.
const RANK: Record<string, number> = { required: 1, additionalProperties: 2, minProperties: 2, maxProperties: 2 };

/** Every schema object a branch can check a value with, its local $refs followed (the rule schema, not input). */
const reachable = new WeakMap<object, Set<unknown>>();

function schemasOf(branch: object, root: object): Set<unknown> {
  const known = reachable.get(branch);
  if (known) return known;
  const seen = new Set<unknown>();
  const todo: unknown[] = [branch];
  while (todo.length) {
    const s = todo.pop();
    if (s === null || typeof s !== 'object' || seen.has(s)) continue;
    seen.add(s);
    const ref = (s as { $ref?: unknown }).$ref;
    if (typeof ref === 'string' && ref.startsWith('#')) todo.push(valueAt(root, ref.slice(1)));
    todo.push(...Object.values(s));
  }
  reachable.set(branch, seen);
  return seen;
}

/**
 * Of the errors ajv reports for a oneOf, only those of the branch the data comes closest to (fewest errors)
 * are about what the user meant: a condition with a bad value is not also "missing all" as a group would be.
 * Branches are told apart by the schema object each error comes from (ajv's verbose parentSchema), which
 * holds across $refs, where schema paths start afresh.
 */
function meantErrors(errors: ErrorObject[], root: object): ErrorObject[] {
  const under = (e: ErrorObject, at: string) => e.instancePath === at || e.instancePath.startsWith(`${at}/`);
  // Each oneOf that failed, outermost first: keep the errors of the branch with the fewest.
  const anchors = errors.filter((e) => e.keyword === 'oneOf').sort((a, b) => depth(a.instancePath) - depth(b.instancePath) || a.schemaPath.length - b.schemaPath.length);
  let errs = errors.filter((e) => !COMBINATORS.has(e.keyword));
  for (const a of anchors) {
    const branches = Array.isArray(a.schema) ? (a.schema as unknown[]).filter((b): b is object => b !== null && typeof b === 'object') : [];
    if (branches.length < 2) continue;
    const sets = branches.map((b) => schemasOf(b, root));
    const mine = errs.filter((e) => under(e, a.instancePath));
    const counts = sets.map((set) => mine.filter((e) => set.has(e.parentSchema)).length);
    const tried = counts.map((n, i) => ({ n, i })).filter((c) => c.n > 0);
    if (tried.length < 2) continue;
    const best = sets[tried.sort((x, y) => x.n - y.n || x.i - y.i)[0].i];
    errs = errs.filter((e) => !under(e, a.instancePath) || best.has(e.parentSchema) || !sets.some((set) => set.has(e.parentSchema)));
  }
  return errs.length ? errs : errors;
}

function depth(pointer: string): number {
  return pointer === '' ? 0 : pointer.split('/').length - 1;
}

/** One thing wrong with a rule: the JSON pointer of the value (`field`) and a message that starts with it. */
export interface RuleProblem {
  field: string;
  message: string;
  /** The schema keyword that failed, for a form that says what kind of value is wanted. */
  keyword?: string;
}

/** How many problems one refusal lists: every field of a form can be marked, a body of junk does not fill pages. */
export const MAX_RULE_PROBLEMS = 20;

/** The problems found so far, one per field: a second complaint about a field says less than its first. */
class Problems {
  readonly list: RuleProblem[] = [];

  add(field: string, message: string, keyword?: string): void {
    if (this.list.length >= MAX_RULE_PROBLEMS || this.list.some((p) => p.field === field)) return;
    this.list.push(keyword === undefined ? { field, message } : { field, message, keyword });
  }

  /** `message` is completed after the pointer: "/when/value" + " is required". */
  fail(pointer: string, message: string): void {
    this.add(pointer, `${pointer} ${message}`);
  }
}

/**
 * The refusal of a rule: code, message and pointer are those of its first problem (what clients read before
 * `errors` listed them all), and `errors` has every problem, so a form marks each field at once.
 */
export function ruleRefusal(problems: readonly RuleProblem[]): RuleInvalidError {
  const first = problems[0];
  return new RuleInvalidError(first.message, { pointer: first.field, ...(first.keyword === undefined ? {} : { keyword: first.keyword }), errors: problems });
}

/** The problems of a refusal: `errors` when it lists them, otherwise its one pointer and message. */
export function problemsOf(err: RuleInvalidError): RuleProblem[] {
  const listed = err.details.errors;
  if (Array.isArray(listed)) return listed as RuleProblem[];
  const keyword = err.details.keyword;
  return [{ field: String(err.details.pointer), message: err.message, ...(typeof keyword === 'string' ? { keyword } : {}) }];
}

/**
 * The refusal with every pointer moved under `base` ("/rule", "/rules/3"); `rename`: the messages name the new
 * pointer too (a pack's do; a preview's keep the rule's own, as they always have).
 */
export function refusalUnder(err: RuleInvalidError, base: string, rename = true): RuleInvalidError {
  const moved = problemsOf(err).map((p) => {
    const field = `${base}${p.field}`;
    if (!rename) return { ...p, field };
    const message = p.message.startsWith(p.field) ? field + p.message.slice(p.field.length) : `${field}: ${p.message}`;
    return { ...p, field, message };
  });
  return new RuleInvalidError(moved[0].message, { ...err.details, pointer: moved[0].field, errors: moved });
}

function schemaProblem(e: ErrorObject, data: unknown, bad: Problems): void {
  const p = e.params as Record<string, unknown>;
  let pointer = e.instancePath;
  let message: string;
  if (e.keyword === 'required') {
    pointer += `/${escapePointer(String(p.missingProperty))}`;
    message = `${pointer} is required`;
  } else if (e.keyword === 'additionalProperties') {
    pointer += `/${escapePointer(String(p.additionalProperty))}`;
    message = `${pointer} is not a key a rule can have here`;
  } else if (e.keyword === 'enum') {
    message = `${pointer || 'the rule'} must be one of ${(p.allowedValues as unknown[]).map(show).join(', ')} (got ${show(valueAt(data, pointer))})`;
  } else if (e.keyword === 'pattern' && /duration/.test(e.schemaPath)) {
    message = `${pointer} must be a duration such as "90s", "10m", "2h" or "1d" (got ${show(valueAt(data, pointer))})`;
  } else if (e.keyword === 'pattern' && /window/.test(e.schemaPath)) {
    message = `${pointer} must be a time of day as HH:MM (got ${show(valueAt(data, pointer))})`;
  } else {
    message = `${pointer || 'the rule'} ${e.message ?? 'is invalid'} (got ${show(valueAt(data, pointer))})`;
  }
  bad.add(pointer, message, e.keyword);
}

/**
 * An escalation with neither a time nor a value fails both of the schema's alternatives, and ajv lists every key
 * of both as required: a form would say "after" and "op" and "value" were all needed. It needs one of them: said
 * once, on "after", the field a form shows first.
 */
function escalationProblem(errors: ErrorObject[], bad: Problems): ErrorObject[] {
  if (!errors.some((e) => e.keyword === 'anyOf' && e.instancePath === '/escalate')) return errors;
  bad.add('/escalate/after', '/escalate/after is needed, or "value" (with "op"): after how long unacknowledged, or past which value, the alert escalates', 'anyOf');
  return errors.filter((e) => !(e.instancePath === '/escalate' && (e.keyword === 'required' || e.keyword === 'anyOf')));
}

const TOO_DEEP = 'is a group inside a group inside "when": groups nest one level at most; move its conditions into the group around it';

let branchSets: { condition: Set<unknown>; groupOnly: Set<unknown> } | undefined;

/** The schema objects a condition is checked with, and those only a group or a group's group is. */
function branches(): { condition: Set<unknown>; groupOnly: Set<unknown> } {
  if (branchSets) return branchSets;
  const root = schemaRoot ?? {};
  const defs = (root as { $defs?: Record<string, object> }).$defs ?? {};
  const of = (name: string) => (defs[name] ? schemasOf(defs[name], root) : new Set<unknown>());
  const condition = of('condition');
  const groupOnly = new Set([...of('group'), ...of('subgroup')].filter((s) => !condition.has(s)));
  branchSets = { condition, groupOnly };
  return branchSets;
}

/**
 * `when` and each item of its group is a condition or a group, and what is written says which: one with an "op"
 * is a condition, one with "all" or "any" and no "op" a group. The schema's errors about it being the other are
 * dropped here, where ajv's oneOf would count them against the errors of what was meant (a group with one
 * condition missing its value is no closer to being a condition, yet ajv's tally can say so). A group two levels
 * down is one problem, said at it (tooDeepGroups), instead of every key of every branch it could have been.
 */
function shapeProblems(errors: ErrorObject[], data: unknown, bad: Problems): { errors: ErrorObject[]; pointers: string[] } {
  const when = (data as { when?: unknown } | null)?.when;
  const deep = tooDeepGroups(when);
  for (const at of deep) bad.fail(at, TOO_DEEP);
  const { condition, groupOnly } = branches();
  const meant = new Map<string, Set<unknown>>();
  for (const { at, value } of whenItems(when)) {
    if (isCondition(value)) meant.set(at, groupOnly);
    else if (looksLikeGroup(value)) meant.set(at, condition);
  }
  const kept = errors.filter((e) => {
    if (deep.some((at) => within(e.instancePath, at))) return false;
    const other = meant.get(e.instancePath);
    return !other || !(COMBINATORS.has(e.keyword) || other.has(e.parentSchema));
  });
  return { errors: kept, pointers: deep };
}

/** Adds the schema's problems; returns the pointers of every value it refused, for the checks that follow. */
function schemaProblems(errors: ErrorObject[], data: unknown, bad: Problems): string[] {
  const nesting = shapeProblems(errors, data, bad);
  const errs = meantErrors(escalationProblem(nesting.errors, bad), schemaRoot ?? {}).sort(
    (a, b) => depth(b.instancePath) - depth(a.instancePath) || (RANK[a.keyword] ?? 0) - (RANK[b.keyword] ?? 0),
  );
  for (const e of errs) schemaProblem(e, data, bad);
  // A missing or unknown key is named by its own pointer: a rule without "when" has no "when" to read.
  const pointers = errs.map((e) => {
    const key = e.keyword === 'required' ? e.params.missingProperty : e.keyword === 'additionalProperties' ? e.params.additionalProperty : undefined;
    return key === undefined ? e.instancePath : `${e.instancePath}/${escapePointer(String(key))}`;
  });
  if (errors.some((e) => e.keyword === 'anyOf' && e.instancePath === '/escalate')) pointers.push('/escalate');
  return [...pointers, ...nesting.pointers];
}

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

/** The conditions checkSemantics checks; `single`: the rule's one condition, undefined when unknown (refused by the schema). */
interface When {
  grouped: boolean;
  leaves: Array<{ cond: Condition; at: string }>;
  known: boolean;
}

function wholeWhen(when: Condition | Group): When {
  return { grouped: isGroup(when), leaves: conditionsOf(when), known: true };
}

/** The checks a schema cannot make, on the parts of the rule that have the schema's shape (all of a valid rule). */
function checkSemantics(rule: Partial<Rule>, when: When, bad: Problems): void {
  // A blank tag name (the form's tag field left empty) matches no device: the rule would never fire.
  const tags = rule.devices && 'tags' in rule.devices ? rule.devices.tags : undefined;
  if (tags && Object.keys(tags).some((k) => k.trim() === '')) bad.fail('/devices/tags', 'needs a tag name, such as "site" with the value "lab"');
  const { grouped, leaves } = when;
  for (const { cond, at } of leaves) checkCondition(cond, at, grouped, bad);
  const single = grouped || !when.known ? undefined : leaves[0]?.cond;
  if (single && (single.op === 'not-reported' || single.op === 'anomalous')) {
    if (rule.clear?.op !== undefined) bad.fail('/clear/op', `is not used with "${single.op}": the alert clears when ${single.op === 'not-reported' ? 'the device reports again' : 'a reading is no longer anomalous'} (give only "for" to wait longer)`);
    if (rule.escalate?.op !== undefined) bad.fail('/escalate/op', `is not used with "${single.op}"; escalate after a time instead`);
  }
  if (rule.clear) {
    const c = rule.clear;
    if (when.known && c.op !== undefined && c.field === undefined && !single?.field) {
      bad.fail('/clear/field', 'is required: the condition watches no single field, so say which field the recovery threshold is about');
    }
    if (c.op === undefined && (c.value !== undefined || c.low !== undefined || c.high !== undefined)) bad.fail('/clear/op', 'is required when a recovery value is given');
    if ((c.op === 'outside' || c.op === 'inside') && c.low !== undefined && c.high !== undefined && !(c.low < c.high)) bad.fail('/clear/low', `must be below high (${c.low} is not below ${c.high})`);
  }
  if (when.known && rule.escalate?.op !== undefined && rule.escalate.field === undefined && !single?.field) {
    bad.fail('/escalate/field', 'is required: the condition watches no single field, so say which field the second threshold is about');
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
      const when: When = broken('/when') ? { ...looseConditions(raw, broken), known: false } : wholeWhen(raw as Condition | Group);
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
