/**
 * Checks the limits of JSON bytes before JSON.parse builds anything: nesting
 * depth, members per object or array, and string lengths. One pass over the
 * bytes, a fixed-size stack and no allocation per value; syntax is not checked
 * here (JSON.parse and json-locate do that), only what the limits need, so it
 * stays correct on malformed input: it cannot overflow, loop or over-allocate.
 */
import { DepthExceededError, StringTooLongError } from '../errors';
import { RESERVED_MEMBERS, tooManyFields, tooManyReadings, type Limits } from '../limits';

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

// What a byte is to the scanner; most bytes (digits, letters, spaces, colons) are nothing to it,
// and one table look-up says so.
const OTHER = 0;
const IS_QUOTE = 1;
const IS_OPEN = 2;
const IS_CLOSE = 3;
const IS_COMMA = 4;
const CLASS = new Uint8Array(256);
CLASS[QUOTE] = IS_QUOTE;
CLASS[OPEN_OBJECT] = IS_OPEN;
CLASS[OPEN_ARRAY] = IS_OPEN;
CLASS[CLOSE_OBJECT] = IS_CLOSE;
CLASS[CLOSE_ARRAY] = IS_CLOSE;
CLASS[COMMA] = IS_COMMA;

// Per-depth state, kept between calls (a scan runs to its end synchronously): a single reading
// costs no allocation. Grown when a larger depth limit comes along.
let commas = new Uint32Array(33);
let isArray = new Uint8Array(33);
let openedAt = new Uint32Array(33);

export function scanJsonLimits(b: Uint8Array, limits: Limits): void {
  const { maxDepth } = limits;
  if (commas.length < maxDepth + 1) {
    commas = new Uint32Array(maxDepth + 1);
    isArray = new Uint8Array(maxDepth + 1);
    openedAt = new Uint32Array(maxDepth + 1);
  }
  // Commas seen in each open container: members = commas + 1.
  const maxRaw = limits.maxStringLength * BYTES_PER_CHAR;
  const objectMembers = limits.maxFields + RESERVED_MEMBERS;
  const n = b.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const k = CLASS[b[i]];
    if (k === OTHER) continue;
    if (k === IS_QUOTE) {
      const start = i;
      i++;
      while (i < n) {
        const d = b[i];
        if (d === QUOTE) break;
        i += d === BACKSLASH ? 2 : 1;
      }
      if (i - start - 1 > maxRaw) throw new StringTooLongError({ limit: limits.maxStringLength, format: 'json', offset: start });
    } else if (k === IS_OPEN) {
      if (depth === maxDepth) throw new DepthExceededError({ limit: maxDepth, format: 'json', offset: i });
      depth++;
      commas[depth] = 0;
      isArray[depth] = b[i] === OPEN_ARRAY ? 1 : 0;
      openedAt[depth] = i;
    } else if (k === IS_CLOSE) {
      if (depth > 0) depth--;
    } else if (depth > 0) {
      const members = ++commas[depth] + 1;
      if (isArray[depth] && depth === 1) {
        if (members > limits.maxReadings) throw tooManyReadings(limits, { format: 'json', offset: openedAt[depth] });
      } else if (members > (isArray[depth] ? limits.maxFields : objectMembers)) {
        throw tooManyFields(limits, { format: 'json', offset: openedAt[depth] });
      }
    }
  }
}
