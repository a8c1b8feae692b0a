/**
 * What every sink stores of a reading's tag value. The contract says tags are
 * strings, and the readings the decode node builds or the validate node passes
 * hold nothing else; a reading a flow builds itself may not, and it must read
 * back the same from whichever sink stored it. So all sinks apply this one rule.
 */

/** Why a tag value cannot be stored, for the sink's refusal ("tag "x" is <this>"). */
export type UnstorableTag = 'an object' | 'an array' | 'a function' | 'a symbol';

/**
 * A tag value as stored: a string as it is; a number, boolean or bigint as
 * its text (`5` → `"5"`, as the decode node turns them); undefined for null,
 * absent or the empty string (no tag): line protocol cannot carry an empty tag
 * value, so the sinks that write it would leave it out, and the others leave it
 * out with them. Objects, arrays and the rest have no text that reads back as
 * what was sent (`[object Object]`), so the sink refuses the reading: the
 * kind is returned and the caller throws its own error naming the tag.
 */
export function storedTagValue(v: unknown): string | undefined | { unstorable: UnstorableTag } {
  switch (typeof v) {
    case 'string':
      return v === '' ? undefined : v;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'undefined':
      return undefined;
    case 'object':
      return v === null ? undefined : { unstorable: Array.isArray(v) ? 'an array' : 'an object' };
    case 'function':
      return { unstorable: 'a function' };
    default:
      return { unstorable: 'a symbol' };
  }
}

/** Where the refusal of a tag that storedTagValue() cannot store ends: what the contract takes. */
export const TAG_VALUES_TAKEN = 'tag values must be strings (numbers and booleans are stored as their text, null or an empty string leaves the tag out)';
