/**
 * The scalars of a reading's fields and tags: nested objects and arrays walked
 * without recursion into dotted names, each value checked (finite numbers,
 * string length, valid Unicode) and the limits checked while walking.
 */
import { DepthExceededError, InvalidReadingError, StringTooLongError } from './errors';
import { tooManyFields, type Limits } from './limits';
import type { FieldValue } from './reading';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
}

export const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The one name no field or tag may have: an object member of that name is its prototype to most
 * JavaScript code, so stores, query answers and flows would each keep or lose it their own way.
 * Decoders keep it as an own member (see put), so that this refuses it for every format.
 */
export const RESERVED_NAME = '__proto__';

export function reservedName(path: string, what: 'field' | 'tag'): InvalidReadingError {
  return new InvalidReadingError(`${path}: "${RESERVED_NAME}" cannot name a ${what} (JavaScript reserves it): rename it`, { path });
}

/** obj[key] = value, also for "__proto__", which an assignment would take as the prototype. */
export function put<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * Collects the scalars of one reading (fields, or tags) under their names,
 * flattening nested objects and arrays to dotted names (`n.a`, `list.0`) without
 * recursion, so depth and width are checked while walking.
 */
export class Flattener<T extends FieldValue> {
  readonly out: Record<string, T> = {};
  private count = 0;
  constructor(
    private readonly limits: Limits,
    private readonly what: 'fields' | 'tags',
    /** Names the reading in messages: '' for a single one, '[3]' in a batch. */
    private readonly reading: string,
    private readonly convert: (v: unknown, path: string) => T | undefined,
  ) {}

  /** Adds value under name; `depth` is the nesting level of the object that holds it (the reading is 1 or 2). */
  add(name: string, value: unknown, path: string, depth: number): void {
    if (typeof value === 'object' && value !== null && (Array.isArray(value) || isPlainObject(value))) {
      this.walk(name, value, path, depth + 1);
      return;
    }
    const v = this.convert(value, path);
    if (v === undefined) return;
    if (name === RESERVED_NAME) throw reservedName(path, this.what === 'fields' ? 'field' : 'tag');
    if (hasOwn.call(this.out, name)) {
      throw new InvalidReadingError(`${path} would be stored as ${this.what === 'fields' ? 'field' : 'tag'} "${name}", which the reading already has: two values cannot have the same name`, { path });
    }
    if (++this.count > this.limits.maxFields) {
      throw tooManyFields(this.limits, { path: this.reading || undefined, what: this.what });
    }
    put(this.out, name, v);
  }

  private walk(name: string, root: object, path: string, depth: number): void {
    const { limits } = this;
    const stack: Array<{ v: object; keys: string[] | undefined; i: number; name: string; path: string; depth: number }> = [];
    const enter = (v: object, n: string, p: string, d: number) => {
      if (d > limits.maxDepth) throw new DepthExceededError({ limit: limits.maxDepth, path: p });
      const width = Array.isArray(v) ? v.length : countKeys(v, limits.maxFields + 1);
      if (width > limits.maxFields) throw tooManyFields(limits, { path: this.reading || undefined, what: this.what });
      stack.push({ v, keys: Array.isArray(v) ? undefined : Object.keys(v), i: 0, name: n, path: p, depth: d });
    };
    enter(root, name, path, depth);
    while (stack.length) {
      const f = stack[stack.length - 1];
      let key: string;
      let child: unknown;
      if (f.keys === undefined) {
        const arr = f.v as unknown[];
        if (f.i >= arr.length) {
          stack.pop();
          continue;
        }
        key = String(f.i);
        child = arr[f.i++];
      } else {
        if (f.i >= f.keys.length) {
          stack.pop();
          continue;
        }
        key = f.keys[f.i++];
        child = (f.v as Record<string, unknown>)[key];
      }
      const childName = `${f.name}.${key}`;
      const childPath = `${f.path}.${key}`;
      if (typeof child === 'object' && child !== null && (Array.isArray(child) || isPlainObject(child))) enter(child, childName, childPath, f.depth + 1);
      else this.add(childName, child, childPath, f.depth);
    }
  }
}

/** Own enumerable keys of o, counting no further than stop. */
export function countKeys(o: object, stop: number): number {
  let n = 0;
  for (const k in o) {
    if (hasOwn.call(o, k) && ++n >= stop) break;
  }
  return n;
}

// JSON text may escape half of a surrogate pair ("\ud800"): a valid JS string, but no Unicode
// text a store can keep. Without the g flag, test() keeps no state between calls.
export const LONE_SURROGATE = /\p{Cs}/u;

export function notUnicode(path: string): InvalidReadingError {
  return new InvalidReadingError(`${path} holds half of a UTF-16 surrogate pair (e.g. "\\ud800" without its partner), which is not valid Unicode text`, { path });
}

export function fieldConverter(limits: Limits): (v: unknown, path: string) => FieldValue | undefined {
  return (v, path) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new InvalidReadingError(`${path} is ${v}; only finite numbers can be stored`, { path });
      return v;
    }
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) throw new StringTooLongError({ limit: limits.maxStringLength, length: v.length, path });
      if (LONE_SURROGATE.test(v)) throw notUnicode(path);
      return v;
    }
    if (typeof v === 'boolean') return v;
    if (typeof v === 'bigint') return Number(v);
    if (v === null || v === undefined) return undefined;
    throw new InvalidReadingError(`${path} must be a number, boolean or string, got ${v instanceof Uint8Array ? 'binary data' : v instanceof Date ? 'a date' : typeof v}`, { path });
  };
}

export function tagConverter(limits: Limits): (v: unknown, path: string) => string | undefined {
  return (v, path) => {
    if (v === null || v === undefined) return undefined;
    if (typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol') throw new InvalidReadingError(`${path} must be a string, number or boolean`, { path });
    const text = String(v);
    if (text.length > limits.maxStringLength) throw new StringTooLongError({ limit: limits.maxStringLength, length: text.length, path });
    if (LONE_SURROGATE.test(text)) throw notUnicode(path);
    return text;
  };
}
