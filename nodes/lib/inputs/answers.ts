/**
 * What an HTTP input answers, by route. /ingest and /insert speak Upperstack's
 * JSON (`{"accepted","deadLettered"}`, errors as `{"error":{"code","message",...}}`);
 * the InfluxDB routes speak InfluxDB's, so its clients understand them: v1
 * `{"error":"..."}`, v2 `{"code","message"}`, 204 on success.
 */
import { describeError, type UpperstackError } from '../errors';
import { noReadingValid, type InputFailure, type InputOutcome, type InputRoute } from './request';
import { describeLineFailures, v1Error, v2Error } from './influx';

export interface HttpAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const JSON_ERRORS_LISTED = 20;

/** The answer to a request of one reading that was accepted: the same object each time (not to be changed). */
export const ACCEPTED_ONE: HttpAnswer = Object.freeze({ status: 202, body: '{"accepted":1,"deadLettered":0}' });

const REFUSAL_STATUS = { malformed: 400, forbidden: 403, unsupported: 415 } as const;

/** `{code, message, path|line|offset|index}` of one failure, for answers. */
export function failureJson(f: InputFailure): Record<string, unknown> {
  const e = describeError(f.error);
  const out: Record<string, unknown> = { code: e.code, message: e.message };
  for (const k of ['path', 'line', 'column', 'offset', 'contentType'] as const) if (e[k] !== undefined) out[k] = e[k];
  if (f.index !== undefined) out.index = f.index;
  if (f.line !== undefined) out.line = f.line;
  return out;
}

/** The answer once the request is journaled. */
export function answerOutcome(route: InputRoute, outcome: InputOutcome): HttpAnswer {
  const { readings, failures, refusal } = outcome;
  if (route === 'influx-v1' || route === 'influx-v2') {
    if (failures.length === 0) return { status: 204, body: '' };
    // Every line dropped counts, those that did not parse and those the schema refused.
    const lineFailures = failures[0].line === undefined ? [] : failures.map((f) => ({ line: f.line ?? 0, text: typeof f.payload === 'string' ? f.payload : '', error: f.error }));
    let message: string;
    if (lineFailures.length) message = describeLineFailures(lineFailures, readings.length);
    else message = `${readings.length ? 'partial write: ' : ''}${failures[0].error.message}${readings.length ? ` dropped=${failures.length}` : ''}`;
    const line = failures[0].line;
    return { status: 400, body: route === 'influx-v1' ? v1Error(message, line) : v2Error('invalid', message, line) };
  }
  if (refusal) {
    const error = failureJson(failures[0]);
    delete error.index;
    return { status: REFUSAL_STATUS[refusal], body: JSON.stringify({ error }) };
  }
  if (noReadingValid(outcome)) {
    const first = failures[0];
    return {
      status: 422,
      body: JSON.stringify({
        error: { code: first.error.code, message: `no reading is valid: ${first.error.message}`, violations: failures.slice(0, JSON_ERRORS_LISTED).map(failureJson) },
        accepted: 0,
        deadLettered: failures.length,
      }),
    };
  }
  // The common answers, spelled as JSON.stringify would, without the object.
  if (failures.length === 0) return readings.length === 1 ? ACCEPTED_ONE : { status: 202, body: `{"accepted":${readings.length},"deadLettered":0}` };
  const body: Record<string, unknown> = { accepted: readings.length, deadLettered: failures.length };
  if (failures.length) body.errors = failures.slice(0, JSON_ERRORS_LISTED).map(failureJson);
  return { status: 202, body: JSON.stringify(body) };
}

/** InfluxDB 2's error codes by status (its `errors.go`); a client may branch on the code. */
const V2_CODES: Readonly<Record<number, string>> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not found', 405: 'method not allowed', 413: 'request too large', 415: 'unsupported media type', 429: 'too many requests', 503: 'unavailable' };

/** An answer before anything was journaled (401, 413, 415 encoding, 429, 503, bad parameters). */
export function answerError(route: InputRoute, status: number, err: UpperstackError | { code: string; message: string }, retryAfterMs?: number): HttpAnswer {
  const headers: Record<string, string> = {};
  if (retryAfterMs !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  if (status === 401) headers['WWW-Authenticate'] = route === 'influx-v2' ? 'Token' : 'Basic realm="upperstack devices"';
  const { code, message } = 'toJSON' in err ? describeError(err) : err;
  if (route === 'influx-v1') return { status, headers, body: v1Error(status === 401 ? `authorization failed: ${message}` : message) };
  if (route === 'influx-v2') {
    return { status, headers, body: v2Error(V2_CODES[status] ?? 'invalid', message) };
  }
  const error: Record<string, unknown> = { code, message };
  if ('details' in err) {
    for (const k of ['parameter', 'size', 'limit', 'contentEncoding'] as const) if (err.details[k] !== undefined) error[k] = err.details[k];
  }
  if (retryAfterMs !== undefined) error.retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return { status, headers, body: JSON.stringify({ error }) };
}
