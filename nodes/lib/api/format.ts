/** Response bodies of the HTTP query API: JSON, CSV (RFC 4180) and errors. */
import { describeError, NotAcceptableError, UpperstackError } from '../errors';
import type { FieldValue } from '../reading';
import type { AggregateFn, AggregatePoint, ReadingsPage } from '../store/types';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const CSV_TYPE = 'text/csv; charset=utf-8';

const CSV_HEADER = 'ts,device,field,value';
// RFC 4180 ends records with CRLF.
const EOL = '\r\n';

/** Always UTC with milliseconds: 2026-01-02T03:04:05.678Z. */
export function isoTime(ts: number): string {
  return new Date(ts).toISOString();
}

// A spreadsheet opening the file runs a cell starting with one of these as a formula.
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell, for every CSV the product writes (readings, aggregates, reports, invoices, dead letters).
 * Text that a spreadsheet would run as a formula (a device's "=HYPERLINK(...)") gets a leading `'`, which
 * spreadsheets show as text; numbers are never touched, so -3.5 stays a number.
 */
export function csvCell(value: FieldValue | null): string {
  if (value === null) return '';
  const text = typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The bytes of a CSV file people open (a report's, an invoice's). Excel reads a CSV as the machine's legacy code
 * page unless it starts with a UTF-8 byte order mark, so "m³", "°C" or "Müller" come out garbled without one:
 * a file with any character outside ASCII gets the mark. A pure-ASCII file reads the same in every code page and
 * stays without it, byte for byte what it was, for the scripts that read it. The API's CSV answers are for
 * programs and never carry one.
 */
export function csvFile(text: string): Buffer {
  return Buffer.from(/[^\x00-\x7f]/.test(text) ? `\ufeff${text}` : text, 'utf8');
}

function csv(rows: string[]): string {
  return [CSV_HEADER, ...rows].join(EOL) + EOL;
}

export function readingsJson(device: string, page: ReadingsPage): string {
  const body: { device: string; readings: unknown[]; next?: string } = {
    device,
    readings: page.readings.map((r) => ({ ts: isoTime(r.ts), fields: r.fields, tags: r.tags })),
  };
  if (page.nextCursor !== undefined) body.next = page.nextCursor;
  return JSON.stringify(body);
}

/** One line per field value. CSV has no place for the next-page cursor: it goes in the Next-Cursor header. */
export function readingsCsv(device: string, page: ReadingsPage): string {
  const dev = csvCell(device);
  const rows: string[] = [];
  for (const r of page.readings) {
    const ts = isoTime(r.ts);
    for (const [field, value] of Object.entries(r.fields)) rows.push(`${ts},${dev},${csvCell(field)},${csvCell(value)}`);
  }
  return csv(rows);
}

export interface AggregateMeta {
  device: string;
  field: string;
  fn: AggregateFn;
  /** The bucket width exactly as the caller wrote it. */
  every: string;
  /** Which tier answered: raw rows or a roll-up (1m, 1h). */
  tier?: string;
}

export function aggregateJson(meta: AggregateMeta, points: AggregatePoint[]): string {
  return JSON.stringify({
    device: meta.device,
    field: meta.field,
    fn: meta.fn,
    every: meta.every,
    ...(meta.tier ? { tier: meta.tier } : {}),
    points: points.map((p) => ({ ts: isoTime(p.ts), value: p.value })),
  });
}

export function aggregateCsv(meta: AggregateMeta, points: AggregatePoint[]): string {
  const prefix = `,${csvCell(meta.device)},${csvCell(meta.field)},`;
  return csv(points.map((p) => `${isoTime(p.ts)}${prefix}${csvCell(p.value)}`));
}

/** `{"error":{"code","message","parameter"?,"accept"?}}`; other details of the error stay out of the body. */
export function errorJson(err: unknown): string {
  const { code, message, parameter, accept } = describeError(err);
  const error: { code: string; message: string; parameter?: string; accept?: unknown } = { code, message };
  if (err instanceof UpperstackError && typeof parameter === 'string') error.parameter = parameter;
  // A 406 lists the types the route serves.
  if (err instanceof NotAcceptableError) error.accept = accept;
  return JSON.stringify({ error });
}
