/**
 * What a device record may hold, checked: its id, tags and metadata (sizes and
 * characters), a whole record received from another cluster member, and the
 * view of a record shown to people (no secret, no key).
 */
import { BadDeviceIdError, BadParameterError } from '../errors';
import { RESERVED_NAME } from '../reading-flatten';
import { escapePointer } from '../schema/pointer';
import type { DeviceRecord, DeviceView, MetaValue } from './types';

/** Letters, digits and `. _ - : @`, 1 to 128 characters: safe as an MQTT topic level, a URL segment and a file name part. */
export const ID = /^[A-Za-z0-9._:@-]{1,128}$/;
/**
 * Why `id` cannot be a device id, in the registry's words, or undefined: the one rule for ids the
 * registry issues and for ids a device names itself by where no registry decides (anonymous HTTP).
 */
export function deviceIdProblem(id: string): string | undefined {
  return ID.test(id) ? undefined : `"${id.slice(0, 60)}" is not a device id: use 1 to 128 letters, digits, ".", "_", "-", ":" or "@"`;
}

/** deviceIdProblem() without its words, for the readings' hot path: whether `id` keeps the rule. */
export function isDeviceId(id: string): boolean {
  return ID.test(id);
}

const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_TAGS = 32;
const MAX_TAG_VALUE = 256;
const MAX_META = 64;
const MAX_META_TEXT = 1024;

export function deviceView(d: DeviceRecord): DeviceView {
  const v: DeviceView = {
    id: d.id,
    enabled: d.enabled,
    signing: d.signing,
    tags: { ...d.tags },
    meta: { ...d.meta },
    createdAt: new Date(d.createdAt).toISOString(),
    updatedAt: new Date(d.updatedAt).toISOString(),
  };
  if (d.rotatedAt !== undefined) v.rotatedAt = new Date(d.rotatedAt).toISOString();
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkTags(tags: unknown, parameter = 'tags'): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (!isObject(tags)) throw new BadParameterError(parameter, `"${parameter}" must be an object of strings, e.g. {"site":"north","customer":"acme"}`);
  const out: Record<string, string> = {};
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw new BadParameterError(parameter, `at most ${MAX_TAGS} tags`);
  for (const [k, v] of entries) {
    if (!TAG_KEY.test(k)) throw new BadParameterError(parameter, `tag name "${k.slice(0, 64)}" must be 1 to 64 letters, digits, "_", "." or "-"`);
    // Copied onto readings, which refuse it: refused here rather than lost.
    if (k === RESERVED_NAME) throw new BadParameterError(parameter, `tag name "${RESERVED_NAME}" cannot name a tag (JavaScript reserves it): rename it`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new BadParameterError(parameter, `tag "${k}" must be a string`);
    // Written as text, 1e309 (Infinity) would be kept as the tag "Infinity", which the device never sent.
    if (typeof v === 'number' && !Number.isFinite(v)) throw new BadParameterError(parameter, `tag "${k}" must be a string or a finite number, got ${v}`, { pointer: `/${parameter}/${escapePointer(k)}` });
    const text = String(v);
    if (text.length > MAX_TAG_VALUE) throw new BadParameterError(parameter, `tag "${k}" is longer than ${MAX_TAG_VALUE} characters`);
    out[k] = text;
  }
  return out;
}

export function checkMeta(meta: unknown): Record<string, MetaValue> {
  if (meta === undefined || meta === null) return {};
  if (!isObject(meta)) throw new BadParameterError('meta', '"meta" must be an object of strings, numbers and booleans');
  const entries = Object.entries(meta);
  if (entries.length > MAX_META) throw new BadParameterError('meta', `at most ${MAX_META} metadata entries`);
  const out: Record<string, MetaValue> = {};
  for (const [k, v] of entries) {
    if (!TAG_KEY.test(k)) throw new BadParameterError('meta', `metadata name "${k.slice(0, 64)}" must be 1 to 64 letters, digits, "_", "." or "-"`);
    if (k === RESERVED_NAME) throw new BadParameterError('meta', `metadata name "${RESERVED_NAME}" cannot be used (JavaScript reserves it): rename it`);
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    else if (typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'string' && v.length <= MAX_META_TEXT) out[k] = v;
    else throw new BadParameterError('meta', `metadata "${k}" must be a string (at most ${MAX_META_TEXT} characters), a finite number or a boolean`);
  }
  return out;
}

/** A device record received from elsewhere (another cluster member), checked field by field; throws when it is not one. */
export function checkDeviceRecord(id: string, v: unknown): DeviceRecord {
  if (!isObject(v)) throw new BadParameterError('device', 'a device record is an object');
  if (v.id !== id || !ID.test(id)) throw new BadDeviceIdError(`a device record's id must be its key ("${id.slice(0, 60)}")`, { id: id.slice(0, 128) });
  if (typeof v.enabled !== 'boolean' || typeof v.signing !== 'boolean') throw new BadParameterError('device', '"enabled" and "signing" are true or false');
  if (typeof v.secretHash !== 'string' || !v.secretHash.startsWith('scrypt$') || v.secretHash.length > 256) throw new BadParameterError('device', '"secretHash" is a scrypt hash');
  if (v.signingKey !== undefined && (typeof v.signingKey !== 'string' || v.signingKey.length > 512)) throw new BadParameterError('device', '"signingKey" is a sealed key');
  const times = [v.createdAt, v.updatedAt, ...(v.rotatedAt === undefined ? [] : [v.rotatedAt])];
  if (!times.every((t) => typeof t === 'number' && Number.isFinite(t))) throw new BadParameterError('device', 'the times of a device record are epoch milliseconds');
  const r: DeviceRecord = {
    id,
    enabled: v.enabled,
    secretHash: v.secretHash,
    signing: v.signing,
    tags: checkTags(v.tags),
    meta: checkMeta(v.meta),
    createdAt: v.createdAt as number,
    updatedAt: v.updatedAt as number,
  };
  if (typeof v.signingKey === 'string') r.signingKey = v.signingKey;
  if (typeof v.rotatedAt === 'number') r.rotatedAt = v.rotatedAt;
  return r;
}
