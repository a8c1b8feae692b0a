/**
 * Which reading tags become tags of the InfluxDB point, and under what names.
 * A reading's tags are what the device sent plus the registry's tags of the
 * device (copied onto it by the store node). The setting is a list separated
 * by commas or line breaks:
 *
 *   *                every tag not named otherwise, under its own name (the default)
 *   site             this tag, under its own name
 *   customer=client  this tag, written as `client`
 *   -secret          this tag is left out
 *
 * Without `*` only the tags listed are written. A tag named explicitly wins over
 * one of the same written name that `*` brings along.
 */
import { ConfigError } from '../errors';

export interface TagMap {
  /** Whether tags not listed are written under their own names. */
  rest: boolean;
  /** Listed tags: reading tag → written name. */
  rename: ReadonlyMap<string, string>;
  /** Tags never written. */
  drop: ReadonlySet<string>;
}

export const ALL_TAGS: TagMap = { rest: true, rename: new Map(), drop: new Set() };

/** Parses the setting; `reserved` are written names the mapping may not produce (the device tag). */
export function parseTagMap(text: unknown, where: string, reserved: readonly string[] = []): TagMap {
  const raw = typeof text === 'string' ? text : text === undefined || text === null ? '' : String(text);
  if (raw.length > 10_000) throw new ConfigError(`${where}: the tag mapping is longer than 10,000 characters`, { setting: 'tags' });
  const entries = raw.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) return ALL_TAGS;
  let rest = false;
  const rename = new Map<string, string>();
  const drop = new Set<string>();
  const targets = new Map<string, string>();
  const bad = (entry: string, why: string): never => {
    throw new ConfigError(`${where}: "${entry}" ${why} (entries are *, name, name=written name or -name)`, { setting: 'tags' });
  };
  for (const e of entries) {
    if (e === '*') {
      rest = true;
      continue;
    }
    if (e.startsWith('-')) {
      const name = e.slice(1).trim();
      if (!name) bad(e, 'names no tag');
      if (rename.has(name)) bad(e, 'leaves out a tag that is also listed');
      drop.add(name);
      continue;
    }
    const at = e.indexOf('=');
    const from = (at < 0 ? e : e.slice(0, at)).trim();
    const to = (at < 0 ? e : e.slice(at + 1)).trim();
    if (!from || !to) bad(e, 'needs a tag name on both sides of =');
    if (drop.has(from)) bad(e, 'lists a tag that is also left out');
    if (rename.has(from)) bad(e, 'lists a tag twice');
    if (/[\n\r]/.test(to) || /\\$/.test(to)) bad(e, 'cannot end with a backslash');
    if (reserved.includes(to)) bad(e, `would write a tag named "${to}", which the device id is written under`);
    const other = targets.get(to);
    if (other !== undefined) bad(e, `writes "${to}", as "${other}" does already`);
    targets.set(to, from);
    rename.set(from, to);
  }
  return rest && rename.size === 0 && drop.size === 0 ? ALL_TAGS : { rest, rename, drop };
}

/** The written name of a reading tag, or undefined when it is not written. */
export function mappedTag(map: TagMap, key: string): string | undefined {
  const to = map.rename.get(key);
  if (to !== undefined) return to;
  if (!map.rest || map.drop.has(key)) return undefined;
  return key;
}
