/**
 * The query string of an API route, as the web framework parsed it, turned
 * into each parameter once as text. The framework reads `device=a&device=b`
 * and `device[]=a` as lists and keeps bytes that are not valid
 * percent-encoding literally (`device=%FF` would ask for the device "%FF");
 * taking the first value or the literal text would answer another question
 * than the one asked, so each is refused by name.
 */
import { BadParameterError } from '../errors';
import { queryEncodingError } from '../inputs/fast-path';
import type { QueryParams } from './params';

/** `url` is the request's path and query as sent (Express's `originalUrl`), `parsed` its parsed query. */
export function queryParams(parsed: Readonly<Record<string, unknown>>, url: string): QueryParams {
  const malformed = queryEncodingError(url);
  if (malformed) throw malformed;
  const q: QueryParams = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value === 'string') {
      q[name] = value;
    } else if (Array.isArray(value) && value.length > 1) {
      throw new BadParameterError(name, `"${name}" is given ${value.length} times; give it once (a parameter that takes several values takes them in one, separated by commas)`);
    } else {
      throw new BadParameterError(name, `"${name}" must be given once as ${name}=value, without brackets`);
    }
  }
  return q;
}

/** queryParams, and onlyParams for a route that takes `known`. */
export function routeParams(parsed: Readonly<Record<string, unknown>>, url: string, known: readonly string[], route: string): QueryParams {
  const q = queryParams(parsed, url);
  onlyParams(q, known, route);
  return q;
}

/** Refuses a parameter the route does not take: a misspelt or unsupported filter would otherwise filter nothing. */
export function onlyParams(q: QueryParams, known: readonly string[], route: string): void {
  for (const name of Object.keys(q)) {
    if (!known.includes(name)) throw new BadParameterError(name, `"${name}" is not a parameter of ${route}; it takes ${known.join(', ')}`);
  }
}
