/**
 * The message contract: msg.payload is a Reading or an array of Readings.
 * normalizeReadings() turns whatever a device sent (after decoding) into that
 * shape, so every later node can rely on it.
 */
import { InvalidReadingError } from './errors';

export type FieldValue = number | boolean | string;

export interface Reading {
  device: string;
  /** Epoch milliseconds, UTC. */
  ts: number;
  fields: Record<string, FieldValue>;
  tags: Record<string, string>;
}

export interface NormalizeOptions {
  /** Device named by the transport (topic, URL); a device inside the payload wins. */
  device?: string;
  /** Used when a reading carries no timestamp. */
  receivedAt: number;
}

const TIME_KEYS = ['ts', 'timestamp', 'time'] as const;
const RESERVED = new Set<string>(['device', 'tags', 'fields', ...TIME_KEYS]);

// Epoch seconds below this are taken as seconds (until year 2286 in ms terms, 1e11 s
// is year 5138), epoch values above as milliseconds; above 1e14 as micro/nanoseconds.
const SECONDS_LIMIT = 1e11;

/** Parses ISO 8601 or epoch s / ms / µs / ns into epoch milliseconds. */
export function parseTimestamp(value: unknown, path = 'ts'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new InvalidReadingError(`${path} must be a non-negative epoch time, got ${value}`, { path });
    if (value < SECONDS_LIMIT) return Math.round(value * 1000);
    if (value < 1e14) return Math.round(value);
    if (value < 1e17) return Math.round(value / 1000);
    return Math.round(value / 1e6);
  }
  if (typeof value === 'bigint') return parseTimestamp(Number(value), path);
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) return parseTimestamp(Number(trimmed), path);
    // Only accept full ISO 8601 date-times; Date.parse alone is too lenient.
    const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(trimmed);
    if (iso) {
      // Without an offset the time is UTC, as in the query API, never the server's zone.
      const ms = Date.parse(iso[1] && !iso[4] ? `${trimmed.replace(' ', 'T')}Z` : trimmed);
      if (!Number.isNaN(ms)) return ms;
    }
    throw new InvalidReadingError(`${path} "${value.slice(0, 40)}" is not ISO 8601 or epoch time`, { path });
  }
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
  throw new InvalidReadingError(`${path} must be ISO 8601 text or epoch number, got ${typeof value}`, { path });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
}

function toFieldValue(v: unknown, path: string): FieldValue | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidReadingError(`${path} is ${v}; only finite numbers can be stored`, { path });
    return v;
  }
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === null || v === undefined) return undefined;
  throw new InvalidReadingError(`${path} must be a number, boolean or string, got ${Array.isArray(v) ? 'array' : typeof v}`, { path });
}

function toTags(v: unknown, path: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) throw new InvalidReadingError(`${path} must be an object of strings`, { path });
  const tags: Record<string, string> = {};
  for (const [k, tv] of Object.entries(v)) {
    if (tv === null || tv === undefined) continue;
    if (typeof tv === 'object') throw new InvalidReadingError(`${path}.${k} must be a string, number or boolean`, { path: `${path}.${k}` });
    tags[k] = String(tv);
  }
  return tags;
}

function normalizeOne(item: unknown, opts: NormalizeOptions, path: string): Reading {
  if (!isPlainObject(item)) {
    throw new InvalidReadingError(`${path || 'payload'} must be an object, got ${Array.isArray(item) ? 'array' : item === null ? 'null' : typeof item}`, { path });
  }
  const at = (k: string) => (path ? `${path}.${k}` : k);
  const device = item.device ?? opts.device;
  if (typeof device !== 'string' || device.length === 0) {
    throw new InvalidReadingError(`${at('device')} is missing: name the device in the payload or in the topic/URL`, { path: at('device') });
  }
  const timeKey = TIME_KEYS.find((k) => item[k] !== undefined && item[k] !== null);
  const ts = timeKey ? parseTimestamp(item[timeKey], at(timeKey)) : opts.receivedAt;

  const fields: Record<string, FieldValue> = {};
  if (item.fields !== undefined) {
    if (!isPlainObject(item.fields)) throw new InvalidReadingError(`${at('fields')} must be an object`, { path: at('fields') });
    for (const [k, v] of Object.entries(item.fields)) {
      const fv = toFieldValue(v, `${at('fields')}.${k}`);
      if (fv !== undefined) fields[k] = fv;
    }
  } else {
    for (const [k, v] of Object.entries(item)) {
      if (RESERVED.has(k)) continue;
      // A flat object may carry nested metadata; only scalars become fields.
      if (isPlainObject(v) || Array.isArray(v)) continue;
      const fv = toFieldValue(v, at(k));
      if (fv !== undefined) fields[k] = fv;
    }
  }
  if (Object.keys(fields).length === 0) {
    throw new InvalidReadingError(`${path || 'payload'} has no fields: send at least one number, boolean or string value`, { path: at('fields') });
  }
  return { device, ts, fields, tags: toTags(item.tags, at('tags')) };
}

export interface NormalizeResult {
  readings: Reading[];
  /** Items of a batch that did not fit the contract; the rest of the batch goes on. */
  rejected: Array<{ index: number; item: unknown; error: InvalidReadingError }>;
}

/**
 * Accepts a flat object, `{ts, fields, tags}`, a Reading, or an array of any of
 * them. A bad item of a batch is rejected on its own; the others still pass.
 */
export function normalizeReadings(input: unknown, opts: NormalizeOptions): NormalizeResult {
  const items = Array.isArray(input) ? input : [input];
  const readings: Reading[] = [];
  const rejected: NormalizeResult['rejected'] = [];
  items.forEach((item, index) => {
    try {
      readings.push(normalizeOne(item, opts, Array.isArray(input) ? `[${index}]` : ''));
    } catch (err) {
      if (err instanceof InvalidReadingError) rejected.push({ index, item, error: err });
      else throw err;
    }
  });
  return { readings, rejected };
}

/** True when v already has the exact Reading shape (cheap check on the hot path). */
export function isReading(v: unknown): v is Reading {
  return (
    isPlainObject(v) &&
    typeof v.device === 'string' &&
    typeof v.ts === 'number' &&
    isPlainObject(v.fields) &&
    isPlainObject(v.tags)
  );
}

/** Readings of a payload that is already a Reading or an array of them. */
export function asReadings(payload: unknown): Reading[] {
  if (Array.isArray(payload)) return payload as Reading[];
  return [payload as Reading];
}
