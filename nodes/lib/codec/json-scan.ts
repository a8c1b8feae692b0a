/**
 * Checks the limits of JSON bytes before JSON.parse builds anything: nesting
 * depth, members per object or array, and string lengths. One pass over the
 * bytes, a fixed-size stack and no allocation per value; syntax is not checked
 * here (JSON.parse and json-locate do that), only what the limits need, so it
 * stays correct on malformed input: it cannot overflow, loop or over-allocate.
 */
import { DepthExceededError, StringTooLongError, TooManyFieldsError, TooManyReadingsError } from '../errors';
import { RESERVED_MEMBERS, type Limits } from '../limits';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

// An escape such as \u0041 is 6 bytes for one character: a string longer than 6 × the limit in
// bytes is too long whatever it holds; the exact check (in characters) follows after parsing.
const BYTES_PER_CHAR = 6;

export function scanJsonLimits(b: Uint8Array, limits: Limits): void {
  const { maxDepth } = limits;
  // Commas seen in each open container: members = commas + 1.
  const commas = new Uint32Array(maxDepth + 1);
  const isArray = new Uint8Array(maxDepth + 1);
  const openedAt = new Uint32Array(maxDepth + 1);
  const maxRaw = limits.maxStringLength * BYTES_PER_CHAR;
  const objectMembers = limits.maxFields + RESERVED_MEMBERS;
  const n = b.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c === QUOTE) {
      const start = i;
      i++;
      while (i < n) {
        const d = b[i];
        if (d === QUOTE) break;
        i += d === BACKSLASH ? 2 : 1;
      }
      if (i - start - 1 > maxRaw) throw new StringTooLongError({ limit: limits.maxStringLength, format: 'json', offset: start });
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth === maxDepth) throw new DepthExceededError({ limit: maxDepth, format: 'json', offset: i });
      depth++;
      commas[depth] = 0;
      isArray[depth] = c === OPEN_ARRAY ? 1 : 0;
      openedAt[depth] = i;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth > 0) depth--;
    } else if (c === COMMA && depth > 0) {
      const members = ++commas[depth] + 1;
      if (isArray[depth] && depth === 1) {
        if (members > limits.maxReadings) throw new TooManyReadingsError({ limit: limits.maxReadings, format: 'json', offset: openedAt[depth] });
      } else if (members > (isArray[depth] ? limits.maxFields : objectMembers)) {
        throw new TooManyFieldsError({ limit: limits.maxFields, format: 'json', offset: openedAt[depth] });
      }
    }
  }
}
