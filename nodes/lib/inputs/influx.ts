/**
 * The InfluxDB write API, as Telegraf, the InfluxDB client libraries and the
 * `influx` 1.x CLI speak it: line protocol bodies on `POST /write` (v1) and
 * `POST /api/v2/write` (v2), 204 when written, InfluxDB-style JSON errors that
 * name the line.
 *
 * Mapping onto Readings (see nodes/lib/codec/lineprotocol.ts): the measurement
 * goes to `tags.measurement`; the device is the value of the device tag
 * (`device` unless configured otherwise, e.g. `host` for Telegraf), else the
 * measurement; the device tag itself is not kept among the tags. Readings are
 * keyed by (device, ts, field): two lines at the same time that differ only in
 * other tags write the same fields of the same device, and the later wins.
 */
import type { LineError, LineReading, Precision } from '../codec/lineprotocol';
import { LINE_TIME_MS, parseLineProtocol, TIME_RANGE } from '../codec/lineprotocol';
import { DecodeError, StringTooLongError, TooManyFieldsError, UpperstackError } from '../errors';
import { TooManyLinesError } from './errors';

/** Sent on /ping and every answer, as InfluxDB does; clients read it to pick the API version. */
export const INFLUX_VERSION = '1.8.10';

/** Precision names of the v1 (`n`, `u`, `ms`, `s`, `m`, `h`) and v2 (`ns`, `us`, `ms`, `s`) APIs. */
const PRECISIONS: Record<string, { parse: Precision; factor: number }> = {
  n: { parse: 'ns', factor: 1 },
  ns: { parse: 'ns', factor: 1 },
  u: { parse: 'us', factor: 1 },
  us: { parse: 'us', factor: 1 },
  'µ': { parse: 'us', factor: 1 },
  ms: { parse: 'ms', factor: 1 },
  s: { parse: 's', factor: 1 },
  m: { parse: 's', factor: 60 },
  h: { parse: 's', factor: 3600 },
};

export class InfluxParameterError extends UpperstackError {
  override readonly name = 'InfluxParameterError';
  constructor(parameter: string, message: string) {
    super('BAD_PARAMETER', message, { parameter });
  }
}

/** Minutes and hours are the v1 API's only: InfluxDB 2 refuses them, so a client written for it never sends them. */
const V1_ONLY = new Set(['m', 'h']);

/**
 * The precision parameter as the parser needs it; empty means nanoseconds. `api` is the route it came on:
 * `v2` (`/api/v2/write`) refuses `m` and `h`, as InfluxDB 2 does, instead of scaling the times by them.
 */
export function influxPrecision(value: string | undefined, api: 'v1' | 'v2' = 'v1'): { parse: Precision; factor: number } {
  if (value === undefined || value === '') return PRECISIONS.ns;
  const p = PRECISIONS[value];
  if (!p || (api === 'v2' && V1_ONLY.has(value))) {
    throw new InfluxParameterError('precision', `invalid precision "${value.slice(0, 20)}" (use ${api === 'v2' ? 'ns, us, ms or s' : 'n, u, ms, s, m or h'})`);
  }
  return p;
}

export interface LineFailure {
  /** 1-based line number in the body. */
  line: number;
  error: UpperstackError;
  text: string;
  /** The device the line names, when it can be read although the line is refused. */
  device?: string;
}

export interface ParsedLines {
  readings: LineReading[];
  /** The line number of each reading. */
  lines: number[];
  failures: LineFailure[];
}

/**
 * Parses every line on its own, as InfluxDB does: good lines are kept, each bad
 * one is reported with its line number. `deviceTag` names the device instead of
 * the `device` tag.
 */
export function parseInfluxLines(body: Buffer, precision: string | undefined, deviceTag = 'device'): ParsedLines {
  const p = influxPrecision(precision);
  const failures: LineFailure[] = [];
  const lines: number[] = [];
  // One pass: a bad line is reported with its number and the parser goes on with the next line.
  const onBadLine = (error: LineError, line: number, text: string) => {
    const device = deviceOfLine(text, deviceTag);
    failures.push(device === undefined ? { line, text, error } : { line, text, error, device });
  };
  let readings: LineReading[] = parseLineProtocol(body, p.parse, undefined, onBadLine, lines);
  if (p.factor !== 1) readings = scaleTimes(body, readings, lines, precision as string, p.factor, failures);
  for (const r of readings) {
    if (deviceTag !== 'device' && r.tags[deviceTag] !== undefined) {
      // The parser took a `device` tag as the device; with another device tag it stays a tag.
      if (r.device !== r.tags.measurement) r.tags.device = r.device;
      r.device = r.tags[deviceTag];
      delete r.tags[deviceTag];
    }
  }
  if (failures.length > 1) failures.sort((a, b) => a.line - b.line);
  return { readings, lines, failures };
}

/**
 * The device a refused line names, read from its series key (measurement and
 * tags, up to the first unescaped space) as the parser would name it: the
 * device tag, else the `device` tag, else the measurement. Undefined when the
 * series key cannot be read to its end, or names the device twice differently.
 */
export function deviceOfLine(text: string, deviceTag = 'device'): string | undefined {
  // Raw (still escaped) parts split at unescaped commas; the series key ends at the first unescaped space.
  const parts: string[] = [];
  let from = text.length - text.trimStart().length;
  let ended = false;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === ',' || ch === ' ') {
      parts.push(text.slice(from, i));
      from = i + 1;
      if (ch === ' ') {
        ended = true;
        break;
      }
    }
  }
  const measurement = unescapeKey(parts[0] ?? '');
  if (!ended || measurement === '' || measurement.startsWith('#')) return undefined;
  const named: Record<string, string | undefined> = {};
  for (let k = 1; k < parts.length; k++) {
    const raw = parts[k];
    let eq = 0;
    while (eq < raw.length && raw[eq] !== '=') eq += raw[eq] === '\\' ? 2 : 1;
    if (eq === 0 || eq >= raw.length - 1) return undefined;
    const key = unescapeKey(raw.slice(0, eq));
    if (key !== deviceTag && key !== 'device') continue;
    const value = unescapeKey(raw.slice(eq + 1));
    // Two different values: which device the sender meant is unknowable.
    if (named[key] !== undefined && named[key] !== value) return undefined;
    named[key] = value;
  }
  return named[deviceTag] ?? named.device ?? measurement;
}

/** As the parser reads names: `\\` and a backslash before a comma, equals sign or space unescape; other backslashes stay. */
function unescapeKey(raw: string): string {
  return raw.includes('\\') ? raw.replace(/\\([\\,= ])/g, '$1') : raw;
}

/**
 * Minutes and hours are parsed as seconds and scaled here; a time the scale takes past what
 * line protocol carries (64-bit nanoseconds) is a bad line, as InfluxDB has it.
 */
function scaleTimes(body: Buffer, readings: LineReading[], lines: number[], unit: string, factor: number, failures: LineFailure[]): LineReading[] {
  const kept: LineReading[] = [];
  const keptLines: number[] = [];
  let text: string[] | undefined;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i];
    if (r.ts !== undefined) {
      r.ts *= factor;
      if (r.ts < LINE_TIME_MS.min || r.ts > LINE_TIME_MS.max) {
        text ??= body.toString('utf8').split('\n');
        const line = text[lines[i] - 1]?.replace(/\r$/, '') ?? '';
        const error = new DecodeError(`line protocol line ${lines[i]}: the timestamp in ${unit} is outside the time line protocol can carry (${TIME_RANGE})`, { format: 'lineprotocol', line: lines[i] });
        failures.push({ line: lines[i], text: line, error, device: r.device });
        continue;
      }
    }
    kept.push(r);
    keptLines.push(lines[i]);
  }
  lines.length = 0;
  lines.push(...keptLines);
  return kept;
}

const NEWLINE = 0x0a;
const QUOTE = 0x22;

/**
 * Whether a body holds more lines than `limit`, counted from its bytes before
 * anything is decoded. Blank and comment lines are not points and do not count.
 * A body with a double quote may hold line breaks inside string values: when
 * its lines are over the limit, the parser has the last word (it stops one past
 * the limit), so such a body is never refused for lines it does not have.
 */
export function countLinesOver(body: Buffer, limit: number): TooManyLinesError | undefined {
  let breaks = 0;
  for (let at = body.indexOf(NEWLINE); at !== -1 && breaks <= limit; at = body.indexOf(NEWLINE, at + 1)) breaks++;
  // Physical lines are at most one more than the line breaks.
  if (breaks < limit) return undefined;
  let points = 0;
  for (let start = 0; start < body.length; ) {
    let end = body.indexOf(NEWLINE, start);
    if (end === -1) end = body.length;
    let i = start;
    while (i < end && (body[i] === 0x20 || (body[i] >= 0x09 && body[i] <= 0x0d))) i++;
    if (i < end && body[i] !== 0x23) points++;
    start = end + 1;
  }
  if (points <= limit || body.includes(QUOTE)) return undefined;
  return new TooManyLinesError(limit, points);
}

/** InfluxDB 1.x error bodies: `{"error":"..."}` (with `line` where one line is at fault). */
export function v1Error(message: string, line?: number): string {
  return JSON.stringify(line === undefined ? { error: message } : { error: message, line });
}

/** InfluxDB 2.x error bodies: `{"code":"invalid","message":"..."}`. */
export function v2Error(code: string, message: string, line?: number): string {
  return JSON.stringify(line === undefined ? { code, message } : { code, message, line });
}

/** How InfluxDB words a body that has bad lines; `written` of them were kept. */
export function describeLineFailures(failures: readonly LineFailure[], written: number): string {
  const first = failures[0];
  const quoted = first.text.length > 60 ? `${first.text.slice(0, 60)}...` : first.text;
  // A line that parsed but holds a reading the input refuses (its schema) has no parse error to quote.
  const what = first.error instanceof DecodeError || first.error instanceof TooManyFieldsError || first.error instanceof StringTooLongError ? `unable to parse '${quoted}': ${first.error.message.replace(/^line protocol /, '')}` : `line ${first.line}: ${first.error.message}`;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more bad line${failures.length > 2 ? 's' : ''})` : '';
  return written > 0 ? `partial write: ${what}${more} dropped=${failures.length}` : `${what}${more}`;
}
