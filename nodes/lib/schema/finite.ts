/**
 * Numbers JSON cannot hold. JSON.parse reads 1e309 as Infinity, which
 * JSON.stringify writes back as null: a document kept as JSON would lose the
 * value at the next save. Places that keep what they are given refuse it first.
 */
import { BadParameterError } from '../errors';
import { escapePointer } from './pointer';

/** The first number in `data` that is not finite, with its JSON pointer; undefined when there is none. */
export function nonFiniteNumber(data: unknown): { pointer: string; value: number } | undefined {
  // A stack, not recursion: `data` is a request body, as deep as its sender made it.
  const stack: Array<{ value: unknown; pointer: string }> = [{ value: data, pointer: '' }];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { value, pointer } = stack.pop()!;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { pointer, value };
      continue;
    }
    if (value === null || typeof value !== 'object' || seen.has(value)) continue;
    seen.add(value);
    // Pushed last first, so the first offending number in document order is the one found.
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i][1], pointer: `${pointer}/${escapePointer(entries[i][0])}` });
  }
  return undefined;
}

/** What is wrong with such a number, after its pointer: "/when/value is too large a number ...". */
export function nonFiniteProblem(value: number): string {
  if (Number.isNaN(value)) return 'is not a number';
  return 'is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)';
}

/**
 * A request body's such number as a bad parameter: `parameter` the body's
 * top-level member it is in ("tags" for /tags/site), as routes that name their
 * parameters do, else "body" (an array, or a bare number); `pointer` where it is.
 */
export function nonFiniteBodyError(found: { pointer: string; value: number }, body: unknown): BadParameterError {
  const first = found.pointer.split('/')[1];
  const parameter = first === undefined || Array.isArray(body) ? 'body' : first.replace(/~1/g, '/').replace(/~0/g, '~');
  return new BadParameterError(parameter, `${found.pointer || 'the body'} ${nonFiniteProblem(found.value)}`, { pointer: found.pointer });
}
