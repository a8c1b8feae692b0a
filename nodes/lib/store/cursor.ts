/**
 * The `cursor` of a readings page: the timestamp the next page starts after,
 * opaque to the client. Every reading source (DuckDB, InfluxDB, VictoriaMetrics)
 * writes and reads the same form, so the query API's pages do not depend on
 * which one answers.
 */
import { BadParameterError } from '../errors';

export function encodeCursor(ts: number): string {
  return Buffer.from(String(ts), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const ts = Number(text);
  if (!/^-?\d{1,16}$/.test(text) || !Number.isSafeInteger(ts)) {
    throw new BadParameterError('cursor', `"cursor" must be the "next" value of a previous page, got "${cursor.slice(0, 40)}"`);
  }
  return ts;
}
