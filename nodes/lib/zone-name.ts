/**
 * A time zone's short name at an instant, as operators read it next to a time: EST/EDT, PST/PDT, CET/CEST,
 * GMT/BST, AEST/AEDT; "GMT+5:30" where no abbreviation is common.
 *
 * No one locale has them all: CLDR gives each English locale the abbreviations used where it is spoken
 * ("en-US" has EST but writes Berlin as "GMT+1"; "en-GB" has CET and BST but writes New York as "GMT-5").
 * Each locale below is asked in turn and the first that has a name for the zone gives it; a zone none of
 * them names keeps the offset, which is unambiguous (India's "IST" is also Ireland's and Israel's).
 */

const LOCALES = ['en-US', 'en-CA', 'en-GB', 'en-AU', 'en-ZA'];
/** A name that is only the offset: "GMT-5", "GMT+5:30", "UTC+1" (ICU may write the minus as U+2212). */
const OFFSET_ONLY = /^(?:GMT|UTC)[+\-\u2212]/;

const formatters = new Map<string, { offset: Intl.DateTimeFormat; names: Intl.DateTimeFormat[] }>();
// Offsets change at most every 15 minutes (zone rules use whole quarter hours), so one lookup serves a quarter.
const QUARTER = 900_000;
const cache = new Map<string, { quarter: number; offset: number; name: string }>();

function formattersFor(timeZone: string): { offset: Intl.DateTimeFormat; names: Intl.DateTimeFormat[] } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = {
      offset: new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      names: LOCALES.map((locale) => new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'short' })),
    };
    formatters.set(timeZone, f);
  }
  return f;
}

function nameIn(f: Intl.DateTimeFormat, ts: number): string {
  return f.formatToParts(ts).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/**
 * The zone's UTC offset (ms) and short name at `ts` (epoch ms), one lookup a quarter hour; throws a RangeError
 * for an unknown zone, as Intl does.
 */
export function zoneAt(ts: number, timeZone: string): { offset: number; name: string } {
  const quarter = Math.floor(ts / QUARTER);
  const hit = cache.get(timeZone);
  if (hit && hit.quarter === quarter) return hit;
  const f = formattersFor(timeZone);
  const at = quarter * QUARTER;
  const p: Record<string, string> = {};
  for (const part of f.offset.formatToParts(at)) p[part.type] = part.value;
  const offset = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute)) - at;
  let name = '';
  for (const n of f.names) {
    name = nameIn(n, at);
    if (name && !OFFSET_ONLY.test(name)) break;
  }
  if (OFFSET_ONLY.test(name)) name = name.replace('\u2212', '-');
  const entry = { quarter, offset, name };
  cache.set(timeZone, entry);
  return entry;
}

/** The zone's short name at `ts` (epoch ms). */
export function zoneAbbreviation(ts: number, timeZone: string): string {
  return zoneAt(ts, timeZone).name;
}
