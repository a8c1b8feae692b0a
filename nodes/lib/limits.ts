/**
 * What one message may hold. A hostile or broken device must not be able to make
 * the pipeline allocate without bound or walk data recursively, so every limit is
 * checked before the allocation it guards: the byte size before decoding, depth,
 * widths and string lengths by scanning the bytes before a decoder builds values,
 * and again while decoded data is turned into Readings.
 */
import { ConfigError, TooManyFieldsError, TooManyReadingsError, type LimitDetails, type LimitSource } from './errors';

export interface Limits {
  /** Payload size in bytes. */
  maxBytes: number;
  /** How deeply objects and arrays may nest (a flat reading is 1, a batch of them 2). */
  maxDepth: number;
  /** Fields of one reading, after nested objects are flattened. */
  maxFields: number;
  /** Characters of one string value (field or tag). */
  maxStringLength: number;
  /** Readings in one message. */
  maxReadings: number;
  /** Where these limits come from; absent: the fixed defaults. */
  origin?: LimitOrigin;
}

/**
 * Where limits come from, so an error over one tells its reader what can be done: a node's settings can be
 * raised in the editor, while the HTTP and CoAP inputs' limits per request are fixed, so only the sender can act.
 */
export type LimitOrigin = { kind: 'node'; node: string; labels: Partial<Record<LimitKey, string>> } | { kind: 'request' };

export type LimitKey = Exclude<keyof Limits, 'origin'>;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxBytes: 1_048_576,
  maxDepth: 32,
  maxFields: 1000,
  maxStringLength: 65_536,
  maxReadings: 10_000,
});

/** Allowed range of each setting; the upper bounds keep a typo from disabling a limit. */
export const LIMIT_RANGES: Readonly<Record<LimitKey, { min: number; max: number }>> = Object.freeze({
  maxBytes: { min: 1, max: 256 * 1024 * 1024 },
  maxDepth: { min: 2, max: 1000 },
  maxFields: { min: 1, max: 1_000_000 },
  maxStringLength: { min: 1, max: 64 * 1024 * 1024 },
  maxReadings: { min: 1, max: 10_000_000 },
});

/**
 * Members a reading object may have besides its fields (device, ts, timestamp,
 * time, tags, fields): scanners that see raw objects allow this many more.
 */
export const RESERVED_MEMBERS = 6;

/**
 * Fills absent settings with the defaults. A value out of range is a ConfigError
 * naming it; with `onInvalid` it is reported there and the default is used instead.
 */
export function resolveLimits(partial: Partial<Record<LimitKey, unknown>> = {}, onInvalid?: (err: ConfigError) => void): Limits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as LimitKey[]) {
    const raw = partial[key];
    if (raw === undefined || raw === null || raw === '') continue;
    const v = Number(raw);
    const { min, max } = LIMIT_RANGES[key];
    if (!Number.isInteger(v) || v < min || v > max) {
      const err = new ConfigError(`${key} must be a whole number from ${min} to ${max}, got ${typeof raw === 'string' || typeof raw === 'number' ? JSON.stringify(raw) : typeof raw}; using ${DEFAULT_LIMITS[key]}`, { setting: key });
      if (!onInvalid) throw err;
      onInvalid(err);
      continue;
    }
    out[key] = v;
  }
  return out;
}

/** A limit setting from a saved node config as a number, or the default when it is absent (for config migrations). */
export function settingOr(v: unknown, fallback: number): number {
  return v === undefined || v === null || v === '' ? fallback : Number(v);
}

/** The limits of the HTTP and CoAP inputs: the defaults, fixed per request. */
export const REQUEST_LIMITS: Readonly<Limits> = Object.freeze({ ...DEFAULT_LIMITS, origin: { kind: 'request' as const } });

/** What an error over `key` of these limits tells its reader to do, from where the limits come. */
export function limitSource(limits: Limits, key: LimitKey): LimitSource {
  const o = limits.origin;
  if (o?.kind === 'request') return { per: 'request' };
  const label = o?.labels[key];
  return o && label ? { setting: `the ${o.node}'s ${label}` } : {};
}

/** Where a limit error was found: LimitDetails but the limit, which the factories take from the limits. */
type LimitPlace = Omit<LimitDetails, 'limit'> & { count?: number };

/** Too many fields for these limits, with the remedy their origin allows (one rule for every decoder and check). */
export function tooManyFields(limits: Limits, place: LimitPlace & { what?: 'fields' | 'tags' }): TooManyFieldsError {
  return new TooManyFieldsError({ limit: limits.maxFields, ...place }, limitSource(limits, 'maxFields'));
}

/** Too many readings for these limits, with the remedy their origin allows. */
export function tooManyReadings(limits: Limits, place: LimitPlace): TooManyReadingsError {
  return new TooManyReadingsError({ limit: limits.maxReadings, ...place }, limitSource(limits, 'maxReadings'));
}
