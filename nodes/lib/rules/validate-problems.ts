/**
 * What a refused rule says: one problem per field, each with the JSON pointer of
 * the value, so a form marks every field at once and an API client can fix it.
 */
import { RuleInvalidError } from '../errors';

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
export class Problems {
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
