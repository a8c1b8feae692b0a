/**
 * The message contract: msg.payload is a Reading or an array of Readings.
 * normalizeReadings() turns whatever a device sent (after decoding) into that
 * shape, so every later node can rely on it.
 */
import { BadDeviceIdError, DepthExceededError, InvalidReadingError, StringTooLongError, TimestampOutOfRangeError, TooManyFieldsError } from './errors';
import { deviceIdProblem, isDeviceId } from './devices/record';
import { DEFAULT_LIMITS, tooManyFields, tooManyReadings, type Limits } from './limits';
import { countKeys, fieldConverter, Flattener, hasOwn, isPlainObject, LONE_SURROGATE, notUnicode, tagConverter } from './reading-flatten';
import { MAX_DATE_MS, checkTimeInRange, parseTimestamp, timeInRange, timeOutOfRange } from './reading-time';

export { parseTimestamp } from './reading-time';

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
  /** Depth, fields per reading, string length, readings per message; default DEFAULT_LIMITS. */
  limits?: Limits;
  /**
   * Numeric times are epoch milliseconds already, of either sign (line protocol gives them so):
   * not guessed as seconds or nanoseconds by their size, and times before 1970 kept.
   */
  epochMs?: boolean;
}

const TIME_KEYS = ['ts', 'timestamp', 'time'] as const;
const RESERVED = new Set<string>(['device', 'tags', 'fields', ...TIME_KEYS]);

/** A reading problem that rejects one item of a batch; anything else fails the whole message. */
export type ReadingProblem = InvalidReadingError | TimestampOutOfRangeError | TooManyFieldsError | StringTooLongError | DepthExceededError | BadDeviceIdError;

function isReadingProblem(err: unknown): err is ReadingProblem {
  return (
    err instanceof InvalidReadingError ||
    err instanceof TimestampOutOfRangeError ||
    err instanceof TooManyFieldsError ||
    err instanceof StringTooLongError ||
    err instanceof DepthExceededError ||
    err instanceof BadDeviceIdError
  );
}

function normalizeOne(item: unknown, opts: NormalizeOptions, path: string, limits: Limits): Reading {
  if (!isPlainObject(item)) {
    const got = Array.isArray(item) ? 'array' : item === null ? 'null' : typeof item;
    // The whole payload: valid data (JSON 42) that is not a reading, and a batch would have done too.
    if (!path) throw new InvalidReadingError(`the payload must be a reading object or an array of readings, got ${got}`, { path });
    throw new InvalidReadingError(`${path} must be an object, got ${got}`, { path });
  }
  const at = (k: string) => (path ? `${path}.${k}` : k);
  const own = item.device;
  // A device member the sender wrote wins over the topic's or path's; one that is no text names no device, and
  // taking the transport's instead would store readings a gateway meant for another device under the wrong one.
  if (own !== undefined && own !== null && (typeof own !== 'string' || own.length === 0)) {
    const instead = opts.device === undefined ? 'send it as text' : "send it as text, or leave it out for the topic's or path's device";
    throw new BadDeviceIdError(`${at('device')} must be a non-empty string (a device id), got ${described(own)}: ${instead}`, { path: at('device') });
  }
  const device = own ?? opts.device;
  if (typeof device !== 'string' || device.length === 0) {
    throw new InvalidReadingError(`${at('device')} is missing: name the device in the payload or in the topic/URL`, { path: at('device') });
  }
  if (device.length > limits.maxStringLength) throw new StringTooLongError({ limit: limits.maxStringLength, length: device.length, path: at('device') });
  if (LONE_SURROGATE.test(device)) throw notUnicode(at('device'));
  // A device the payload names keeps the rule the topic's or path's kept where the input took it: a name
  // like "other dev" could never be registered and secured. The transport's own device was judged there.
  if (device !== opts.device) {
    const problem = deviceIdProblem(device);
    if (problem !== undefined) throw new BadDeviceIdError(`${at('device')}: ${problem}`, { path: at('device') });
  }
  let timeKey: (typeof TIME_KEYS)[number] | undefined;
  let ts = opts.receivedAt;
  for (const k of TIME_KEYS) {
    const t = item[k];
    if (t === undefined || t === null) continue;
    const ms = opts.epochMs && Number.isInteger(t) ? (t as number) : parseTimestamp(t, at(k));
    if (timeKey === undefined) {
      timeKey = k;
      ts = ms;
    } else if (ms !== ts) {
      // Keeping one and dropping the other without a word would store the reading at a time the device may not mean.
      throw new InvalidReadingError(`${at(timeKey)} (${isoOrNumber(ts)}) and ${at(k)} (${isoOrNumber(ms)}) are two different times: a reading has one; send one of ts, timestamp and time, or the same time in each`, { path: at(k) });
    }
  }
  if (timeKey !== undefined) checkTimeInRange(ts, opts.receivedAt, at(timeKey));
  // The reading object is at depth 1, or 2 inside a batch.
  const depth = path ? 2 : 1;

  const fields = new Flattener(limits, 'fields', path, fieldConverter(limits));
  if (item.fields !== undefined && item.fields !== null) {
    if (!isPlainObject(item.fields)) throw new InvalidReadingError(`${at('fields')} must be an object`, { path: at('fields') });
    const f = item.fields;
    if (countKeys(f, limits.maxFields + 1) > limits.maxFields) throw tooManyFields(limits, { path: path || undefined, what: 'fields' });
    for (const k in f) if (hasOwn.call(f, k)) fields.add(k, f[k], `${at('fields')}.${k}`, depth + 1);
  }
  // Members besides the reserved ones are fields too, flattened when nested: nothing is dropped.
  for (const k in item) {
    if (!hasOwn.call(item, k) || RESERVED.has(k)) continue;
    fields.add(k, item[k], at(k), depth);
  }
  if (Object.keys(fields.out).length === 0) {
    throw new InvalidReadingError(`${path || 'payload'} has no fields: send at least one number, boolean or string value`, { path: at('fields') });
  }
  const tags = new Flattener(limits, 'tags', path, tagConverter(limits));
  if (item.tags !== undefined && item.tags !== null) {
    if (!isPlainObject(item.tags)) throw new InvalidReadingError(`${at('tags')} must be an object of strings`, { path: at('tags') });
    const t = item.tags;
    for (const k in t) if (hasOwn.call(t, k)) tags.add(k, t[k], `${at('tags')}.${k}`, depth + 1);
  }
  return { device, ts, fields: fields.out, tags: tags.out };
}

/** A value that is not a device name, as an error message names it. */
function described(v: unknown): string {
  if (v === '') return 'an empty string';
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v)}`;
  if (typeof v === 'boolean') return `the boolean ${String(v)}`;
  return Array.isArray(v) ? 'an array' : `a${typeof v === 'object' ? 'n object' : ` ${typeof v}`}`;
}

function isoOrNumber(ms: number): string {
  return Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : String(ms);
}

/** A device name already found to keep the device id rule: most batches name one device throughout. */
let checkedDevice = '';

/**
 * A scalar field value as stored; null: nothing to store (null or absent);
 * undefined: not for the flat path (nested, non-finite, too long, not Unicode).
 */
function flatField(v: unknown, maxLength: number): FieldValue | null | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') return v.length <= maxLength && !LONE_SURROGATE.test(v) ? v : undefined;
  if (typeof v === 'boolean') return v;
  return v === null || v === undefined ? null : undefined;
}

/** The last date there is, in epoch nanoseconds (parseTimestamp's largest unit). */
const LAST_NS = MAX_DATE_MS * 1e6;

/**
 * The common reading, a flat object of scalars (and optionally flat `fields`
 * and `tags` objects) within the limits, built in one pass: no flattener, no
 * path strings, nothing besides the Reading itself. Whatever this does not
 * take (nesting, a duplicate or reserved-looking name, a value or limit the
 * general path must judge) returns undefined and goes through normalizeOne(),
 * which builds the same Reading or throws the precise error.
 */
function normalizeFlat(item: Record<string, unknown>, fallbackDevice: string | undefined, receivedAt: number, limits: Limits, epochMs: boolean): Reading | undefined {
  const device = item.device ?? fallbackDevice;
  if (typeof device !== 'string' || device.length === 0 || device.length > limits.maxStringLength) return undefined;
  if (device !== checkedDevice) {
    // An id that keeps the device id rule is plain ASCII: no lone surrogate either. A payload's device that does
    // not keep it is the general path's to refuse; the transport's own was judged where the input took it.
    if (isDeviceId(device)) checkedDevice = device;
    else if (device !== fallbackDevice || LONE_SURROGATE.test(device)) return undefined;
  }
  let t = item.ts;
  // More than one time member: whether they agree is the general path's to judge.
  if (t !== undefined && t !== null) {
    if ((item.timestamp !== undefined && item.timestamp !== null) || (item.time !== undefined && item.time !== null)) return undefined;
  } else {
    t = item.timestamp;
    if (t === undefined || t === null) t = item.time;
    else if (item.time !== undefined && item.time !== null) return undefined;
  }
  let ts: number;
  if (t === undefined || t === null) ts = receivedAt;
  // Past the last date (as nanoseconds) parseTimestamp throws: the general path makes that this item's error alone.
  else if (epochMs && Number.isInteger(t)) ts = t as number;
  else if (typeof t === 'number' && t >= -LAST_NS && t <= LAST_NS) ts = parseTimestamp(t);
  else return undefined;
  // Too far ahead: the general path makes that this item's error alone.
  if (!timeInRange(ts, receivedAt)) return undefined;
  const { maxFields, maxStringLength } = limits;
  const fields: Record<string, FieldValue> = {};
  let count = 0;
  const f = item.fields;
  if (f !== undefined && f !== null) {
    if (!isPlainObject(f)) return undefined;
    let members = 0;
    for (const k in f) {
      if (!hasOwn.call(f, k)) continue;
      // The general path counts every member of `fields` against the limit, null ones included.
      if (++members > maxFields || k === '__proto__') return undefined;
      const v = flatField(f[k], maxStringLength);
      if (v === undefined) return undefined;
      if (v === null) continue;
      count++;
      fields[k] = v;
    }
  }
  for (const k in item) {
    if (!hasOwn.call(item, k)) continue;
    if (k === 'device' || k === 'ts' || k === 'fields' || k === 'tags' || k === 'timestamp' || k === 'time') continue;
    const v = flatField(item[k], maxStringLength);
    if (v === undefined || k === '__proto__') return undefined;
    if (v === null) continue;
    if (++count > maxFields || (f !== undefined && f !== null && hasOwn.call(fields, k))) return undefined;
    fields[k] = v;
  }
  if (count === 0) return undefined;
  const tags: Record<string, string> = {};
  const g = item.tags;
  if (g !== undefined && g !== null) {
    if (!isPlainObject(g)) return undefined;
    let n = 0;
    for (const k in g) {
      if (!hasOwn.call(g, k)) continue;
      const v = g[k];
      let text: string;
      if (typeof v === 'string') text = v;
      else if (typeof v === 'number' || typeof v === 'boolean') text = String(v);
      else if (v === null || v === undefined) continue;
      else return undefined;
      if (++n > maxFields || k === '__proto__' || text.length > maxStringLength || LONE_SURROGATE.test(text)) return undefined;
      tags[k] = text;
    }
  }
  return { device, ts, fields, tags };
}

/**
 * One item as normalizeReadings() takes it, by the general path only (nested
 * values flattened, every problem a precise error); `path` names it in errors
 * (`[3]` in a batch). Exported so tests can hold the flat path to it.
 */
export function normalizeReading(item: unknown, opts: NormalizeOptions, path = ''): Reading {
  return normalizeOne(item, opts, path, opts.limits ?? DEFAULT_LIMITS);
}

export interface NormalizeResult {
  readings: Reading[];
  /** Items of a batch that did not fit the contract or broke a per-reading limit; the rest of the batch goes on. */
  rejected: Array<{ index: number; item: unknown; error: ReadingProblem }>;
}

/**
 * Accepts a flat object, `{ts, fields, tags}`, a Reading, or an array of any of
 * them. Nested objects and arrays become dotted field names (`{"n":{"a":2}}` is
 * field `n.a`, `{"l":[1,2]}` fields `l.0` and `l.1`). A bad item of a batch is
 * rejected on its own; the others still pass. More items than
 * limits.maxReadings fail the whole message.
 */
export function normalizeReadings(input: unknown, opts: NormalizeOptions): NormalizeResult {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const batch = Array.isArray(input);
  const count = batch ? (input as unknown[]).length : 1;
  if (count > limits.maxReadings) throw tooManyReadings(limits, { count });
  // One reading per message is the common case: no list for the input, and a result list of
  // exactly one (a list grown by push() starts with room for 17).
  if (!batch && isPlainObject(input)) {
    const flat = normalizeFlat(input, opts.device, opts.receivedAt, limits, opts.epochMs === true);
    if (flat !== undefined) return { readings: [flat], rejected: [] };
  }
  const items = batch ? (input as unknown[]) : [input];
  const epochMs = opts.epochMs === true;
  const readings: Reading[] = [];
  const rejected: NormalizeResult['rejected'] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const flat = isPlainObject(item) ? normalizeFlat(item, opts.device, opts.receivedAt, limits, epochMs) : undefined;
    if (flat !== undefined) {
      readings.push(flat);
      continue;
    }
    try {
      readings.push(normalizeOne(item, opts, batch ? `[${index}]` : '', limits));
    } catch (err) {
      if (isReadingProblem(err)) rejected.push({ index, item, error: err });
      else throw err;
    }
  }
  return { readings, rejected };
}

/**
 * The per-reading limits on a Reading that is already in contract shape (fields
 * per reading, string length of fields and tags) and, in the same walk of its
 * fields, a NaN or ±Infinity field (a ratio over zero in a flow's own Function
 * node), refused with the code the inputs use; undefined when it keeps them.
 * Counts stop at the limit, so a huge reading costs no more than a legal one.
 */
export function checkReadingLimits(r: Reading, limits: Limits, path = ''): TooManyFieldsError | StringTooLongError | InvalidReadingError | undefined {
  // Paths are spelled out only for an error: this runs for every reading of every batch.
  let count = 0;
  let nonFinite: string | undefined;
  for (const k in r.fields) {
    if (!hasOwn.call(r.fields, k)) continue;
    if (++count > limits.maxFields) return tooManyFields(limits, { path: path || undefined });
    const v = r.fields[k];
    if (typeof v === 'string' && v.length > limits.maxStringLength) return new StringTooLongError({ limit: limits.maxStringLength, length: v.length, path: pathTo(path, `fields.${k}`) });
    // Named once the limits are known to hold: they are reported first.
    if (typeof v === 'number' && nonFinite === undefined && !Number.isFinite(v)) nonFinite = k;
  }
  count = 0;
  for (const k in r.tags) {
    if (!hasOwn.call(r.tags, k)) continue;
    if (++count > limits.maxFields) return tooManyFields(limits, { path: path || undefined, what: 'tags' });
    const v = r.tags[k];
    if (typeof v === 'string' && v.length > limits.maxStringLength) return new StringTooLongError({ limit: limits.maxStringLength, length: v.length, path: pathTo(path, `tags.${k}`) });
  }
  if (nonFinite !== undefined) {
    const at = pathTo(path, `fields.${nonFinite}`);
    return new InvalidReadingError(`${at} is ${r.fields[nonFinite] as number}; only finite numbers can be stored`, { path: at });
  }
  return undefined;
}

/**
 * The time of a Reading a flow built itself (a Function or Change node, not an input's decoder): one
 * that is not a finite number, or further past `receivedAt` than the inputs take, is refused with the
 * codes the inputs use, so a schema of a user's own that lets any number through still never stores
 * it. Its fields are judged with the limits (checkReadingLimits). Undefined when the time is good.
 */
export function checkReadingTime(r: Reading, receivedAt: number, path = ''): InvalidReadingError | TimestampOutOfRangeError | undefined {
  if (!Number.isFinite(r.ts)) return new InvalidReadingError(`${pathTo(path, 'ts')} is ${r.ts}: a reading's time must be a finite epoch millisecond`, { path: pathTo(path, 'ts') });
  return timeOutOfRange(r.ts, receivedAt, pathTo(path, 'ts'));
}

function pathTo(path: string, k: string): string {
  return path ? `${path}.${k}` : k;
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
