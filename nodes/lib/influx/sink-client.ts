/** InfluxQL identifier quoting, the InfluxDB client library (loaded on first use) and what the sink (sink.ts) reads from its errors. */
import type { HttpError } from '@influxdata/influxdb-client';

export function quoteIdent(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

let clientModule: typeof import('@influxdata/influxdb-client') | undefined;
/** The InfluxDB client library, loaded with the first InfluxDB sink: a runtime without one does not hold it (~1 MB of heap). */
export function influxClient(): typeof import('@influxdata/influxdb-client') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (clientModule ??= require('@influxdata/influxdb-client') as typeof import('@influxdata/influxdb-client'));
}

/** An error the client library answered with an HTTP status (the library is loaded by then). */
export function isHttpError(err: unknown): err is HttpError {
  return clientModule !== undefined && err instanceof clientModule.HttpError;
}

export function serverMessage(err: HttpError): string {
  const json = err.json as { error?: unknown; message?: unknown } | undefined;
  const text = typeof json?.error === 'string' ? json.error : typeof json?.message === 'string' ? json.message : (err.body ?? err.message);
  return String(text).trim().slice(0, 2000);
}

/** The client library's idle timeout on a request (the request is left open by the library). */
export function isTimeout(err: unknown): boolean {
  return clientModule !== undefined && err instanceof clientModule.RequestTimedOutError;
}
