/**
 * Masking of sensitive fields. A reading schema (the validate node's) marks a
 * field sensitive with the keyword `x-upperstack-sensitive` on the field:
 *
 *   "fields": { "properties": {
 *     "lat": { "type": "number", "x-upperstack-sensitive": "round:2" },
 *     "owner": { "type": "string", "x-upperstack-sensitive": "mask" },
 *     "pin": { "x-upperstack-sensitive": true } } }
 *
 * - `true` or `"hide"`: left out of what is served;
 * - `"round:N"`: numbers rounded to N decimals (0 to 10; -1 to -6 round to
 *   tens ... millions), other values left out;
 * - `"mask"`: text keeps its last 4 characters, the rest become `*`; other
 *   values left out.
 *
 * Readings are stored as sent; the mask applies when they are served to a key
 * without the `read:sensitive` scope (admin keys see everything).
 */
import { ConfigError } from '../errors';
import type { FieldValue } from '../reading';

export const SENSITIVE_KEYWORD = 'x-upperstack-sensitive';

export type Mask = { kind: 'hide' } | { kind: 'round'; digits: number } | { kind: 'mask' };
export type FieldMasks = ReadonlyMap<string, Mask>;

const VISIBLE_TAIL = 4;

export function parseMask(value: unknown, field: string): Mask {
  if (value === true || value === 'hide') return { kind: 'hide' };
  if (value === 'mask') return { kind: 'mask' };
  const m = typeof value === 'string' ? /^round:(-?\d{1,2})$/.exec(value) : null;
  const digits = m ? Number(m[1]) : NaN;
  if (m && digits >= -6 && digits <= 10) return { kind: 'round', digits };
  throw new ConfigError(`field "${field}": "${SENSITIVE_KEYWORD}" must be true, "hide", "mask" or "round:N" (N from -6 to 10), got ${JSON.stringify(value)?.slice(0, 60)}`, { field });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The sensitive fields a reading schema declares: the keyword on a property of
 * `properties.fields.properties` (also inside `allOf` entries of the root or of
 * `fields`, one level, as schemas that extend the shipped one do). A wrong
 * value is a ConfigError naming the field.
 */
export function sensitiveFields(schema: unknown): Map<string, Mask> {
  const out = new Map<string, Mask>();
  if (!isObject(schema)) return out;
  const roots = [schema, ...(Array.isArray(schema.allOf) ? schema.allOf.filter(isObject) : [])];
  for (const root of roots) {
    const fields = isObject(root.properties) ? root.properties.fields : undefined;
    if (!isObject(fields)) continue;
    const levels = [fields, ...(Array.isArray(fields.allOf) ? fields.allOf.filter(isObject) : [])];
    for (const level of levels) {
      if (!isObject(level.properties)) continue;
      for (const [name, def] of Object.entries(level.properties)) {
        if (isObject(def) && def[SENSITIVE_KEYWORD] !== undefined && def[SENSITIVE_KEYWORD] !== false) out.set(name, parseMask(def[SENSITIVE_KEYWORD], name));
      }
    }
  }
  return out;
}

function round(n: number, digits: number): number {
  if (digits >= 0) {
    const f = 10 ** digits;
    return Math.round(n * f) / f;
  }
  const f = 10 ** -digits;
  return Math.round(n / f) * f;
}

/** The value as served, or undefined when it is left out. */
export function maskValue(value: FieldValue, mask: Mask): FieldValue | undefined {
  switch (mask.kind) {
    case 'hide':
      return undefined;
    case 'round':
      return typeof value === 'number' ? round(value, mask.digits) : undefined;
    case 'mask': {
      if (typeof value !== 'string') return undefined;
      const keep = Math.min(VISIBLE_TAIL, Math.floor(value.length / 2));
      return '*'.repeat(value.length - keep) + value.slice(value.length - keep);
    }
  }
}

/** The fields with every sensitive one masked (a new object; the one given is not changed). */
export function maskFields(fields: Record<string, FieldValue>, masks: FieldMasks): Record<string, FieldValue> {
  let out: Record<string, FieldValue> | undefined;
  for (const [name, mask] of masks) {
    if (!Object.prototype.hasOwnProperty.call(fields, name)) continue;
    out ??= { ...fields };
    const v = maskValue(fields[name], mask);
    if (v === undefined) delete out[name];
    else out[name] = v;
  }
  return out ?? fields;
}

/** An aggregate of a rounded field, rounded the same way (min, max, mean, last and sum alike). */
export function maskAggregate(value: number | boolean | string | null, mask: Mask): number | boolean | string | null {
  if (value === null) return null;
  const v = maskValue(value, mask);
  return v === undefined ? null : v;
}

/** Merges the masks of several schemas; for a field marked twice, the stricter mask wins. */
export function mergeMasks(all: Iterable<FieldMasks>): Map<string, Mask> {
  const rank = (m: Mask) => (m.kind === 'hide' ? 3 : m.kind === 'mask' ? 2 : 1);
  const out = new Map<string, Mask>();
  for (const masks of all) {
    for (const [name, m] of masks) {
      const had = out.get(name);
      if (!had || rank(m) > rank(had) || (had.kind === 'round' && m.kind === 'round' && m.digits < had.digits)) out.set(name, m);
    }
  }
  return out;
}
