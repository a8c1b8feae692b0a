/**
 * Scopes of API keys: what a key may do and which devices' data it sees.
 *
 * - `admin`: everything (the admin API: devices, keys, grants, replay, rule
 *   editing, the audit log) and every device's data, sensitive fields unmasked.
 *   The single API key of the settings (UPPERSTACK_API_KEY) is an admin key.
 * - `read`: the data of every device (query API, fetch, Grafana), sensitive
 *   fields masked.
 * - `read:tag=<name>:<value>`: the data of the devices whose registry tags have
 *   that value (e.g. `read:tag=customer:acme`); several such scopes add up.
 * - `read:sensitive`: fields the schema marks sensitive are served as sent,
 *   for the devices the key's other scopes let it see.
 */
import { BadParameterError } from '../errors';

export const ADMIN = 'admin';
export const READ = 'read';
export const READ_SENSITIVE = 'read:sensitive';
const TAG_SCOPE = /^read:tag=([A-Za-z0-9_.-]{1,64}):(.{1,256})$/s;
const MAX_SCOPES = 32;

export const SCOPES_HELP = 'admin, read, read:sensitive or read:tag=<name>:<value> (e.g. read:tag=customer:acme)';

/** What a caller of the HTTP API is allowed: its name in the audit log and its scopes. */
export interface Access {
  /** `admin` (the key of the settings) or `key:<id>`. */
  actor: string;
  scopes: readonly string[];
}

export interface TagScope {
  name: string;
  value: string;
}

function tagScope(scope: string): TagScope | undefined {
  const m = TAG_SCOPE.exec(scope);
  return m ? { name: m[1], value: m[2] } : undefined;
}

/** Validates the scopes of a new key; a refusal names the one that is wrong. */
export function checkScopes(input: unknown): string[] {
  if (!Array.isArray(input) || input.length === 0) throw new BadParameterError('scopes', `"scopes" must be a non-empty list of ${SCOPES_HELP}`);
  if (input.length > MAX_SCOPES) throw new BadParameterError('scopes', `at most ${MAX_SCOPES} scopes`);
  const out: string[] = [];
  for (const s of input) {
    if (typeof s !== 'string') throw new BadParameterError('scopes', `every scope must be a string: ${SCOPES_HELP}`);
    const scope = s.trim();
    if (scope !== ADMIN && scope !== READ && scope !== READ_SENSITIVE && !tagScope(scope)) {
      throw new BadParameterError('scopes', `"${scope.slice(0, 80)}" is not a scope: use ${SCOPES_HELP}`);
    }
    if (!out.includes(scope)) out.push(scope);
  }
  return out;
}

export function isAdmin(scopes: readonly string[]): boolean {
  return scopes.includes(ADMIN);
}

/** Sees every device (admin or read). */
export function readsAll(scopes: readonly string[]): boolean {
  return scopes.includes(ADMIN) || scopes.includes(READ);
}

/** Has some read scope at all (read routes answer 403 to a key without one). */
export function readsSome(scopes: readonly string[]): boolean {
  return readsAll(scopes) || scopes.some((s) => tagScope(s) !== undefined);
}

/** Sensitive fields served as sent (admin or read:sensitive). */
export function seesSensitive(scopes: readonly string[]): boolean {
  return scopes.includes(ADMIN) || scopes.includes(READ_SENSITIVE);
}

export function tagScopes(scopes: readonly string[]): TagScope[] {
  return scopes.map(tagScope).filter((t): t is TagScope => t !== undefined);
}

/**
 * Whether scopes let a key read a device whose registry tags are `tags`
 * (undefined: the device is not registered, so only admin and read see it).
 */
export function scopesSee(scopes: readonly string[], tags: Readonly<Record<string, string>> | undefined): boolean {
  if (readsAll(scopes)) return true;
  if (!tags) return false;
  return tagScopes(scopes).some((t) => tags[t.name] === t.value);
}
