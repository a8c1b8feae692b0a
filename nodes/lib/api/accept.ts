/**
 * Content negotiation of the routes that serve more than one type (RFC 9110 §12.5.1): each type offered gets
 * the weight of the most specific media range of `Accept` that matches it (`text/csv;charset=utf-8` before
 * `text/csv` before `text/*` before `*\/*`), `q=0` meaning "not this one"; the heaviest is served. A tie goes
 * to the more specific range, then to the range the client listed first, then to the first type offered
 * (the default). No `Accept`, or one with no media range that reads, takes the default: a header that does
 * not parse is disregarded, as RFC 9110 lets a server do, where a readable one that takes none of the types
 * is refused (406) rather than answered in a type it ruled out.
 */
import { NotAcceptableError } from '../errors';

export interface Offer {
  /** `type/subtype`, lower case. */
  type: string;
  /** The parameters the served type has (lower-case names and values): a range naming another value does not match. */
  params: Readonly<Record<string, string>>;
}

/** Longer than any browser or client library sends; past it the header is disregarded unread. */
export const MAX_ACCEPT_LENGTH = 4096;
export const MAX_MEDIA_RANGES = 64;

interface Range {
  type: string;
  subtype: string;
  params: Record<string, string>;
  q: number;
  index: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** `s` cut at the commas outside quoted strings; undefined past MAX_MEDIA_RANGES. */
function elements(s: string): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      if (out.length >= MAX_MEDIA_RANGES) return undefined;
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (out.length >= MAX_MEDIA_RANGES) return undefined;
  out.push(s.slice(start));
  return out;
}

/** One media range with its weight; undefined when it does not read (it is then left out). */
function range(text: string, index: number): Range | undefined {
  const parts = text.split(';');
  const m = /^\s*([^/\s]+)\/([^/\s]+)\s*$/.exec(parts[0] ?? '');
  if (!m) return undefined;
  const type = m[1].toLowerCase();
  const subtype = m[2].toLowerCase();
  if (!TOKEN.test(type) || !TOKEN.test(subtype) || (type === '*' && subtype !== '*')) return undefined;
  const params: Record<string, string> = {};
  let q = 1;
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq < 0) return undefined;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (!TOKEN.test(name)) return undefined;
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (name === 'q') {
      if (!QVALUE.test(value)) return undefined;
      q = Number(value);
    } else params[name] = value.toLowerCase();
  }
  return { type, subtype, params, q, index };
}

/** How specifically `r` names `offer`: -1 when it does not match it. */
function specificity(r: Range, offer: Offer): number {
  const [type, subtype] = offer.type.split('/');
  if (r.type === '*') return 0;
  if (r.type !== type) return -1;
  if (r.subtype === '*') return 1;
  if (r.subtype !== subtype) return -1;
  for (const [name, value] of Object.entries(r.params)) if (offer.params[name] !== value) return -1;
  return 2 + Object.keys(r.params).length;
}

/**
 * The offer `accept` takes (the first offer, the default, when there is no header or none of it reads);
 * throws NotAcceptableError, listing the offered types, when it takes none.
 */
export function negotiate<T extends Offer>(accept: string | undefined, offers: readonly [T, ...T[]]): T {
  if (accept === undefined || accept.length > MAX_ACCEPT_LENGTH) return offers[0];
  const parts = elements(accept);
  if (!parts) return offers[0];
  const ranges = parts.map((p, i) => range(p, i)).filter((r): r is Range => r !== undefined);
  if (ranges.length === 0) return offers[0];
  let best: { offer: T; q: number; spec: number; index: number } | undefined;
  for (const offer of offers) {
    let match: Range | undefined;
    let spec = -1;
    for (const r of ranges) {
      const s = specificity(r, offer);
      if (s > spec) {
        spec = s;
        match = r;
      }
    }
    if (!match || match.q === 0) continue;
    const better = !best || match.q > best.q || (match.q === best.q && (spec > best.spec || (spec === best.spec && match.index < best.index)));
    if (better) best = { offer, q: match.q, spec, index: match.index };
  }
  if (best) return best.offer;
  const types = offers.map((o) => o.type);
  throw new NotAcceptableError(`the Accept header takes none of the types served here: ${types[0]} (the default)${types.slice(1).map((t) => `, ${t}`).join('')}`, types);
}
