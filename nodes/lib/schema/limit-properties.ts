/**
 * minProperties and maxProperties without an array per check. Ajv's own code
 * for them is `Object.keys(data).length < limit`, which allocates a list of the
 * object's keys each time: with the default reading schema's
 * `"fields": {"minProperties": 1}` that was ~100 B of garbage on every reading.
 * Here the object's own enumerable keys are counted only up to the limit (one
 * key for minProperties 1). Same keyword, place among the object keywords
 * (before `required`, as Ajv orders its own), error object and $data support as
 * Ajv's definition, so users see the same errors.
 */
import { _, type CodeKeywordDefinition, type KeywordCxt } from 'ajv';
import builtin from 'ajv/dist/vocabularies/validation/limitProperties';

const hasOwn = Object.prototype.hasOwnProperty;

/** True when `o` has at least `n` own enumerable string keys (what Object.keys lists), counting no further. */
export function hasKeys(o: object, n: number): boolean {
  if (n <= 0) return true;
  let count = 0;
  for (const k in o) if (hasOwn.call(o, k) && ++count >= n) return true;
  return false;
}

export const limitProperties: CodeKeywordDefinition = {
  ...builtin,
  before: 'required',
  code(cxt: KeywordCxt) {
    const { keyword, data, schemaCode, gen } = cxt;
    const has = gen.scopeValue('func', { ref: hasKeys });
    cxt.fail$data(keyword === 'maxProperties' ? _`${has}(${data}, ${schemaCode} + 1)` : _`!${has}(${data}, ${schemaCode})`);
  },
};
