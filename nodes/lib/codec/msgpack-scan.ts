/**
 * Walks MessagePack for well-formedness and the limits before @msgpack/msgpack
 * decodes it: to give the offset and reason that its "Insufficient data" leaves
 * out, and so that depth, widths and string lengths are checked before anything
 * is built. Iterative and linear in the input, with a stack no deeper than the
 * depth limit.
 */
import { DepthExceededError, StringTooLongError } from '../errors';
import type { Limits } from '../limits';
import { findInvalidUtf8Within } from './text';
import { limitProblem, memberLimit, UTF8_BYTES_PER_UNIT, type ScanProblem } from './cbor-scan';

interface Frame {
  kind: 'array' | 'map';
  start: number;
  left: number;
}

function hex(b: number): string {
  return `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** What follows a type byte: `size` bytes of fixed payload, or a `lenBytes`-byte length then that many bytes. */
function layout(t: number): { name: string; size?: number; lenBytes?: number; extType?: boolean; container?: 'array' | 'map'; count?: number; text?: boolean } | undefined {
  if (t <= 0x7f || t >= 0xe0) return { name: 'fixint', size: 0 };
  if (t <= 0x8f) return { name: 'map', container: 'map', count: t & 0x0f };
  if (t <= 0x9f) return { name: 'array', container: 'array', count: t & 0x0f };
  if (t <= 0xbf) return { name: 'string', size: t & 0x1f, text: true };
  switch (t) {
    case 0xc0: case 0xc2: case 0xc3: return { name: t === 0xc0 ? 'nil' : 'boolean', size: 0 };
    case 0xc4: return { name: 'bin 8', lenBytes: 1 };
    case 0xc5: return { name: 'bin 16', lenBytes: 2 };
    case 0xc6: return { name: 'bin 32', lenBytes: 4 };
    case 0xc7: return { name: 'ext 8', lenBytes: 1, extType: true };
    case 0xc8: return { name: 'ext 16', lenBytes: 2, extType: true };
    case 0xc9: return { name: 'ext 32', lenBytes: 4, extType: true };
    case 0xca: return { name: 'float 32', size: 4 };
    case 0xcb: return { name: 'float 64', size: 8 };
    case 0xcc: case 0xd0: return { name: t === 0xcc ? 'uint 8' : 'int 8', size: 1 };
    case 0xcd: case 0xd1: return { name: t === 0xcd ? 'uint 16' : 'int 16', size: 2 };
    case 0xce: case 0xd2: return { name: t === 0xce ? 'uint 32' : 'int 32', size: 4 };
    case 0xcf: case 0xd3: return { name: t === 0xcf ? 'uint 64' : 'int 64', size: 8 };
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return { name: `fixext ${1 << (t - 0xd4)}`, size: 1 + (1 << (t - 0xd4)) };
    case 0xd9: return { name: 'str 8', lenBytes: 1, text: true };
    case 0xda: return { name: 'str 16', lenBytes: 2, text: true };
    case 0xdb: return { name: 'str 32', lenBytes: 4, text: true };
    case 0xdc: return { name: 'array 16', container: 'array', lenBytes: 2 };
    case 0xdd: return { name: 'array 32', container: 'array', lenBytes: 4 };
    case 0xde: return { name: 'map 16', container: 'map', lenBytes: 2 };
    case 0xdf: return { name: 'map 32', container: 'map', lenBytes: 4 };
    default: return undefined; // 0xc1 is never used
  }
}

/**
 * `onKey`, when given, is told of every string that is a map key: where its item starts (its type byte) and
 * where its bytes start and end.
 */
export function findMsgpackProblem(b: Uint8Array, limits?: Limits, onKey?: (item: number, start: number, end: number) => void): ScanProblem | undefined {
  const len = b.length;
  const stack: Frame[] = [];
  let pos = 0;
  const maxString = limits ? limits.maxStringLength * UTF8_BYTES_PER_UNIT : Infinity;
  const early = (start: number, what: string): ScanProblem => ({ offset: start, message: `MessagePack data ends early at byte ${start} of ${len}: ${what}` });
  const finishItem = (): boolean => {
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) return true;
      if (--top.left > 0) return false;
      stack.pop();
    }
  };

  let badText: ScanProblem | undefined;

  if (len === 0) return { offset: 0, message: 'MessagePack data is empty' };
  for (;;) {
    if (pos >= len) {
      const top = stack[stack.length - 1];
      if (!top) return early(pos, 'no value follows');
      return early(top.start, `the ${top.kind} starting there still needs ${top.left} more item(s)`);
    }
    const start = pos;
    const t = b[pos++];
    const l = layout(t);
    if (!l) return { offset: start, message: `MessagePack data is invalid at byte ${start}: ${hex(t)} is not a MessagePack type byte` };
    let count = l.count ?? 0;
    if (l.lenBytes) {
      if (pos + l.lenBytes > len) return early(start, `the ${l.name} header there needs ${1 + l.lenBytes} bytes but only ${len - start} remain`);
      count = Buffer.from(b.buffer, b.byteOffset + pos, l.lenBytes).readUIntBE(0, l.lenBytes);
      pos += l.lenBytes;
    }
    if (l.container) {
      const items = l.container === 'map' ? count * 2 : count;
      if (limits && stack.length >= limits.maxDepth) return limitProblem(new DepthExceededError({ limit: limits.maxDepth, format: 'msgpack', offset: start }));
      // Every item takes at least one byte, so an impossible count is known up front. It is the data
      // ending early, not too wide, whatever the count says (as the CBOR scan reports it): the width
      // limit is for data that holds that many items.
      if (items > len - pos) return early(start, `${l.container === 'array' ? 'an' : 'a'} ${l.container} of ${count} ${l.container === 'map' ? 'entries' : 'items'} starts there but only ${len - pos} bytes follow`);
      if (limits) {
        const lim = memberLimit(limits, l.container, stack.length + 1, 'msgpack', start);
        if (count > lim.max) return limitProblem(lim.error());
      }
      if (items > 0) {
        stack.push({ kind: l.container, start, left: items });
        continue;
      }
    } else {
      const need = l.lenBytes ? count + (l.extType ? 1 : 0) : (l.size ?? 0);
      if (need > len - pos) return early(start, `${/^[aeiou]/.test(l.name) ? 'an' : 'a'} ${l.name} value of ${need} bytes starts there but only ${len - pos} bytes follow its header`);
      if (l.text && need > maxString) return limitProblem(new StringTooLongError({ limit: limits!.maxStringLength, format: 'msgpack', offset: start }));
      // A map's items alternate key, value: an even count left means a key.
      // The spec's str is UTF-8; the decoder would read bad bytes as other characters and store them garbled.
      // The walk goes on, so a structural problem later is the one reported, and this one only for data well-formed.
      if (l.text && !badText) {
        const bad = findInvalidUtf8Within(b, pos, pos + need, 'string');
        if (bad) badText = { offset: bad.offset, message: `MessagePack data is invalid at byte ${bad.offset}: the ${l.name} starting at byte ${start} is not valid UTF-8: byte ${bad.offset} (${hex(b[bad.offset])}) ${bad.reason}`, text: true };
      }
      if (onKey && l.text && stack.length > 0 && stack[stack.length - 1].kind === 'map' && stack[stack.length - 1].left % 2 === 0) onKey(start, pos, pos + need);
      pos += need;
    }
    if (finishItem()) break;
  }
  if (pos < len) {
    return { offset: pos, message: `MessagePack data has ${len - pos} unexpected byte(s) after the value, which ends at byte ${pos} of ${len}` };
  }
  return badText;
}
