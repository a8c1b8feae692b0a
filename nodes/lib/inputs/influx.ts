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
import type { LineReading, Precision } from '../codec/lineprotocol';
import { parseLineProtocol } from '../codec/lineprotocol';
import { DecodeError, UpperstackError } from '../errors';

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

/** The precision parameter as the parser needs it; empty means nanoseconds. */
export function influxPrecision(value: string | undefined): { parse: Precision; factor: number } {
  if (value === undefined || value === '') return PRECISIONS.ns;
  const p = PRECISIONS[value];
  if (!p) throw new InfluxParameterError('precision', `invalid precision "${value.slice(0, 20)}" (use n, u, ms, s, m or h)`);
  return p;
}

export interface LineFailure {
  /** 1-based line number in the body. */
  line: number;
  error: DecodeError;
  text: string;
}

export interface ParsedLines {
  readings: LineReading[];
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
  // One pass: a bad line is reported with its number and the parser goes on with the next line.
  const readings: LineReading[] = parseLineProtocol(body, p.parse, undefined, (error, line, text) => failures.push({ line, text, error }));
  for (const r of readings) {
    if (p.factor !== 1 && r.ts !== undefined) r.ts *= p.factor;
    if (deviceTag !== 'device' && r.tags[deviceTag] !== undefined) {
      // The parser took a `device` tag as the device; with another device tag it stays a tag.
      if (r.device !== r.tags.measurement) r.tags.device = r.device;
      r.device = r.tags[deviceTag];
      delete r.tags[deviceTag];
    }
  }
  return { readings, failures };
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
  const what = `unable to parse '${quoted}': ${first.error.message.replace(/^line protocol /, '')}`;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more bad line${failures.length > 2 ? 's' : ''})` : '';
  return written > 0 ? `partial write: ${what}${more} dropped=${failures.length}` : `${what}${more}`;
}
