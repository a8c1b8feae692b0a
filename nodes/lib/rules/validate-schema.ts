/**
 * A rule against schemas/rule.schema.json (ajv), and ajv's errors turned into
 * the problems a person can act on: only the branch of a oneOf the rule comes
 * closest to, a missing or unknown key named by its own pointer, one problem for
 * a group nested too deep.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { packageRoot } from '../paths';
import { escapePointer, valueAt } from '../schema/pointer';
import type { Problems } from './validate-problems';
import { isCondition, looksLikeGroup, tooDeepGroups, whenItems, within } from './validate-shape';

export const RULE_SCHEMA_PATH = join(packageRoot(), 'schemas', 'rule.schema.json');

let compiled: ValidateFunction | undefined;
let schemaRoot: object | undefined;

export function validator(): ValidateFunction {
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
export function schemaProblems(errors: ErrorObject[], data: unknown, bad: Problems): string[] {
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
