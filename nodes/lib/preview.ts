/**
 * JSON text of any value, cut at a length: for dead letters and error messages,
 * which must describe whatever a device sent. JSON.stringify recurses (a value
 * nested a few thousand levels deep throws RangeError) and writes all of a huge
 * value before it could be cut; this writer uses an explicit stack and stops as
 * soon as the text is long enough, so its work is bounded by `max`, not by the
 * value. Cycles end at the length bound too.
 */
import type { QuotedValue } from './errors/base';

type Frame =
  | { array: true; v: unknown[]; i: number }
  | { array: false; v: Record<string, unknown>; keys: string[]; i: number; written: number };

const hasOwn = Object.prototype.hasOwnProperty;

/** Up to `n` own enumerable keys of o. */
function firstKeys(o: object, n: number): string[] {
  const keys: string[] = [];
  for (const k in o) {
    if (!hasOwn.call(o, k)) continue;
    if (keys.length >= n) break;
    keys.push(k);
  }
  return keys;
}

function quote(s: string, max: number): string {
  return JSON.stringify(s.length > max ? s.slice(0, max) : s);
}

export interface PreviewOptions {
  /** ±Infinity as `1e309`/`-1e309`, which JSON parsers read back as Infinity, instead of null. */
  infinity?: boolean;
}

/** JSON text of value, at most `max` characters (a cut text ends in "…" within them). */
export function previewJson(value: unknown, max: number, opts: PreviewOptions = {}): string {
  let out = '';
  const stack: Frame[] = [];
  // Every member written costs at least 2 characters, so more keys than this can never show.
  const keyBudget = Math.ceil(max / 2) + 1;

  const emit = (v: unknown): void => {
    switch (typeof v) {
      case 'string':
        out += quote(v, max);
        return;
      case 'number':
        out += Number.isFinite(v) ? String(v) : opts.infinity && !Number.isNaN(v) ? (v > 0 ? '1e309' : '-1e309') : 'null';
        return;
      case 'bigint':
      case 'boolean':
        out += String(v);
        return;
      case 'object':
        break;
      default:
        out += 'null';
        return;
    }
    if (v === null) {
      out += 'null';
    } else if (v instanceof Uint8Array) {
      out += quote(`base64:${Buffer.from(v.buffer, v.byteOffset, Math.min(v.byteLength, max)).toString('base64')}`, max);
    } else if (v instanceof Date) {
      out += Number.isNaN(v.getTime()) ? 'null' : quote(v.toISOString(), max);
    } else if (Array.isArray(v)) {
      out += '[';
      stack.push({ array: true, v, i: 0 });
    } else {
      out += '{';
      stack.push({ array: false, v: v as Record<string, unknown>, keys: firstKeys(v, keyBudget), i: 0, written: 0 });
    }
  };

  emit(value);
  while (stack.length && out.length < max) {
    const f = stack[stack.length - 1];
    if (f.array) {
      if (f.i >= f.v.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (f.i > 0) out += ',';
      emit(f.v[f.i++]);
    } else {
      // Undefined members are left out, as JSON.stringify does.
      while (f.i < f.keys.length && (f.v[f.keys[f.i]] === undefined || typeof f.v[f.keys[f.i]] === 'function')) f.i++;
      if (f.i >= f.keys.length) {
        out += '}';
        stack.pop();
        continue;
      }
      const key = f.keys[f.i];
      out += `${f.written > 0 ? ',' : ''}${quote(key, max)}:`;
      f.i++;
      f.written++;
      emit(f.v[key]);
    }
  }
  if (out.length > max || stack.length) return `${out.slice(0, Math.max(0, max - 1))}…`;
  return out;
}

/**
 * A sender's value that a message quotes: at `at`, as `text`, told by its kind to a reader who may not see it
 * (errors/base.ts QuotedValue).
 */
export function quotedValue(at: number, text: string, value: unknown, field?: string): QuotedValue {
  return { at, text, kind: kindOf(value), ...(field === undefined ? {} : { field }) };
}

/** What a value is, told without the value: for readers who may not see it. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'an object';
    default:
      return 'nothing';
  }
}
