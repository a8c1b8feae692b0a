/**
 * Walks CBOR (RFC 8949) for well-formedness and the limits, before cbor-x
 * decodes it: cbor-x reports neither the offset nor, often, the reason ("Offset
 * is outside the bounds of the DataView"), and it recurses, so data nested
 * deeper than the limit must never reach it. Iterative and linear in the input
 * with a stack no deeper than the depth limit, so hostile input cannot blow the
 * stack or the heap.
 */
import { DepthExceededError, SharedValueError, SimpleValueError, StringTooLongError, type UpperstackError } from '../errors';
import { RESERVED_MEMBERS, tooManyFields, tooManyReadings, type Limits } from '../limits';
import { findInvalidUtf8Within } from './text';

export interface ScanProblem {
  offset: number;
  message: string;
  /** Set when the data is well-formed as far as read but breaks a limit. */
  error?: UpperstackError;
  /** Set when the data is well-formed but a text string in it is not UTF-8. */
  text?: true;
}

/** UTF-8 takes at most 3 bytes per UTF-16 code unit: more bytes than 3 × the limit is too long for sure. */
export const UTF8_BYTES_PER_UNIT = 3;

/** The limit a container of `kind` at `depth` (1 = top level) must keep to, and the error for breaking it. */
export function memberLimit(limits: Limits, kind: 'array' | 'map', depth: number, format: string, offset: number): { max: number; error: () => UpperstackError } {
  if (kind === 'array' && depth === 1) return { max: limits.maxReadings, error: () => tooManyReadings(limits, { format, offset }) };
  return { max: kind === 'map' ? limits.maxFields + RESERVED_MEMBERS : limits.maxFields, error: () => tooManyFields(limits, { format, offset }) };
}

export function limitProblem(error: UpperstackError & { details: { offset?: unknown } }): ScanProblem {
  return { offset: Number(error.details.offset ?? 0), message: error.message, error };
}

const TYPE_NAMES = ['unsigned integer', 'negative integer', 'byte string', 'text string', 'array', 'map', 'tag', 'simple value'];

interface Frame {
  kind: 'array' | 'map' | 'tag' | 'chunks';
  major: number;
  start: number;
  /** Items still expected; Infinity until a break for indefinite lengths. */
  left: number;
  items: number;
  /** Bytes of the chunks of an indefinite-length string so far. */
  bytes: number;
}

function itemName(major: number, ai: number): string {
  if (major !== 7) return TYPE_NAMES[major];
  return ai === 25 ? 'half-precision float' : ai === 26 ? 'single-precision float' : ai === 27 ? 'double-precision float' : 'simple value';
}

/**
 * Tags with which cbor-x puts one value in many places: value sharing (28 marks a value, 29 refers to it) and
 * packed CBOR (51 holds a table, 6 refers into it). A few bytes per reference could make a message of 60 KB
 * hold 12 MB of text, or millions of fields from a few hundred KB, past every limit the scan checks on the bytes.
 */
const REFERENCE_TAGS: ReadonlyMap<number, string> = new Map([
  [6, 'a packed CBOR reference'],
  [28, 'a value marked for sharing'],
  [29, 'a reference to a shared value'],
  [51, 'a packed CBOR table'],
]);

function referenceTag(at: number, tag: number, what: string): ScanProblem {
  const message = `CBOR data uses tag ${tag} (${what}) at byte ${at}, which is not accepted: one value would stand in many places, past the limits on what a message holds; send each value in full`;
  return { offset: at, message, error: new SharedValueError(message, { format: 'cbor', offset: at, tag }) };
}

/**
 * A simple value RFC 8949 leaves unassigned (all but 20-23, false, true, null and undefined). cbor-x reads
 * them as references into a packed table and fails with words of its own ("No packed values available"),
 * without saying where; a reading has no use for them either way.
 */
function simpleValue(at: number, value: number): ScanProblem {
  const message = `CBOR data uses simple value ${value} at byte ${at}, which is not accepted: a reading's values are numbers, text, true, false or null (simple values 20 to 22); send the value as one of those`;
  return { offset: at, message, error: new SimpleValueError(message, { format: 'cbor', offset: at, simple: value }) };
}

function hex(b: number): string {
  return `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

export function findCborProblem(b: Uint8Array, limits?: Limits): ScanProblem | undefined {
  const len = b.length;
  const stack: Frame[] = [];
  let pos = 0;
  // Tags nest like containers (cbor-x recurses into them); chunks of a string do not.
  let depth = 0;
  // Arrays and maps only: whether an array is the top-level batch does not depend on a tag around it.
  let containers = 0;
  const maxString = limits ? limits.maxStringLength * UTF8_BYTES_PER_UNIT : Infinity;
  const tooDeep = (at: number) => limitProblem(new DepthExceededError({ limit: limits!.maxDepth, format: 'cbor', offset: at }));
  const tooLong = (at: number) => limitProblem(new StringTooLongError({ limit: limits!.maxStringLength, format: 'cbor', offset: at }));
  const push = (f: Frame) => {
    stack.push(f);
    if (f.kind !== 'chunks') depth++;
    if (f.kind === 'array' || f.kind === 'map') containers++;
  };
  const pop = () => {
    const f = stack.pop()!;
    if (f.kind !== 'chunks') depth--;
    if (f.kind === 'array' || f.kind === 'map') containers--;
  };

  const early = (start: number, what: string): ScanProblem => ({
    offset: start,
    message: `CBOR data ends early at byte ${start} of ${len}: ${what}`,
  });
  const invalid = (at: number, why: string): ScanProblem => ({ offset: at, message: `CBOR data is invalid at byte ${at}: ${why}` });
  // Marks one item complete; returns true once the top-level item is.
  const finishItem = (): boolean => {
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) return true;
      top.items++;
      if (top.left === Infinity) return false;
      if (--top.left > 0) return false;
      pop();
    }
  };

  let badText: ScanProblem | undefined;

  if (len === 0) return { offset: 0, message: 'CBOR data is empty' };
  for (;;) {
    const top = stack[stack.length - 1];
    if (pos >= len) {
      if (!top) return early(pos, 'no data item follows');
      const name = top.kind === 'chunks' ? `indefinite-length ${TYPE_NAMES[top.major]}` : top.kind;
      const missing = top.left === Infinity ? 'its remaining items and the closing break (0xFF)' : `${top.left} more item(s)`;
      return early(top.start, `the ${name} starting there still needs ${missing}`);
    }
    const start = pos;
    const ib = b[pos++];
    const major = ib >> 5;
    const ai = ib & 0x1f;

    if (ib === 0xff) {
      if (!top || top.left !== Infinity) return invalid(start, 'a break (0xFF) outside an indefinite-length array, map or string');
      if (top.kind === 'map' && top.items % 2 === 1) return invalid(start, `the indefinite-length map starting at byte ${top.start} ends after a key with no value`);
      pop();
      if (finishItem()) break;
      continue;
    }
    if (top?.kind === 'chunks' && (major !== top.major || ai === 31)) {
      return invalid(start, `the indefinite-length ${TYPE_NAMES[top.major]} starting at byte ${top.start} may contain only definite-length ${TYPE_NAMES[top.major]} chunks, found ${hex(ib)}`);
    }
    // An indefinite-length map counts keys and values as items.
    if (limits && top && top.left === Infinity && top.kind !== 'chunks' && top.kind !== 'tag') {
      const lim = memberLimit(limits, top.kind === 'map' ? 'map' : 'array', containers, 'cbor', top.start);
      if ((top.kind === 'map' ? Math.floor(top.items / 2) : top.items) + 1 > lim.max) return limitProblem(lim.error());
    }

    let arg = ai;
    // The argument as the data states it, for messages: a 64-bit one past 2^53 is not exact as a number
    // (2^64 - 1 would read 18446744073709552000), and the count a sender declared should read as sent.
    let argText: string | undefined;
    if (ai >= 24 && ai <= 27) {
      const size = 1 << (ai - 24);
      if (pos + size > len) return early(start, `the ${itemName(major, ai)} there needs ${1 + size} bytes but only ${len - start} remain`);
      if (size === 8) {
        const big = Buffer.from(b.buffer, b.byteOffset + pos, 8).readBigUInt64BE();
        arg = Number(big);
        argText = big.toString();
      } else arg = Buffer.from(b.buffer, b.byteOffset + pos, size).readUIntBE(0, size);
      pos += size;
    } else if (ai >= 28 && ai <= 30) {
      return invalid(start, `${hex(ib)} is not a valid initial byte (additional information ${ai} is reserved)`);
    } else if (ai === 31 && (major < 2 || major > 5)) {
      return invalid(start, `${hex(ib)} is not a valid initial byte (a ${TYPE_NAMES[major]} cannot have indefinite length)`);
    }

    const indefinite = ai === 31;
    if (major === 2 || major === 3) {
      if (indefinite) {
        push({ kind: 'chunks', major, start, left: Infinity, items: 0, bytes: 0 });
        continue;
      }
      if (arg > len - pos) return early(start, `a ${TYPE_NAMES[major]} of ${argText ?? arg} bytes starts there but only ${len - pos} bytes follow its header`);
      if (top?.kind === 'chunks') {
        top.bytes += arg;
        if (top.bytes > maxString) return tooLong(top.start);
      } else if (arg > maxString) return tooLong(start);
      // RFC 8949 §3.1: a text string is UTF-8, and each chunk of an indefinite one on its own (§3.2.3).
      // cbor-x would put U+FFFD in place of bad bytes and the reading would be stored garbled.
      // The walk goes on, so a structural problem later is the one reported, and this one only for data well-formed.
      if (major === 3 && !badText) {
        const bad = findInvalidUtf8Within(b, pos, pos + arg, 'text string');
        if (bad) badText = { ...invalid(bad.offset, `the text string starting at byte ${start} is not valid UTF-8: byte ${bad.offset} (${hex(b[bad.offset])}) ${bad.reason}`), text: true };
      }
      pos += arg;
    } else if (major === 4 || major === 5) {
      const count = major === 5 ? arg * 2 : arg;
      const kind = major === 4 ? 'array' : 'map';
      if (limits && depth >= limits.maxDepth) return tooDeep(start);
      if (indefinite) {
        push({ kind, major, start, left: Infinity, items: 0, bytes: 0 });
        continue;
      }
      // Every item takes at least one byte, so an impossible count is known before walking it.
      if (count > len - pos) return early(start, `${kind === 'array' ? 'an' : 'a'} ${kind} of ${argText ?? arg} ${major === 5 ? 'entries' : 'items'} starts there but only ${len - pos} bytes follow`);
      if (limits) {
        const lim = memberLimit(limits, kind, containers + 1, 'cbor', start);
        if (arg > lim.max) return limitProblem(lim.error());
      }
      if (count > 0) {
        push({ kind, major, start, left: count, items: 0, bytes: 0 });
        continue;
      }
    } else if (major === 6) {
      const by = REFERENCE_TAGS.get(arg);
      if (by) return referenceTag(start, arg, by);
      if (limits && depth >= limits.maxDepth) return tooDeep(start);
      push({ kind: 'tag', major, start, left: 1, items: 0, bytes: 0 });
      continue;
    } else if (major === 7 && ai === 24 && arg < 32) {
      return invalid(start, `simple value ${arg} must be encoded in the initial byte, not in a following byte`);
    } else if (major === 7 && (ai < 20 || ai === 24)) {
      return simpleValue(start, arg);
    }
    if (finishItem()) break;
  }
  if (pos < len) {
    return { offset: pos, message: `CBOR data has ${len - pos} unexpected byte(s) after the value, which ends at byte ${pos} of ${len}` };
  }
  return badText;
}
