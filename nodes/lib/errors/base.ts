/**
 * The one error hierarchy of Upperstack. Every error has a stable `name` and
 * `code` that flows, dead-letter records and HTTP bodies can rely on, and a
 * message written for the person who has to fix the input or the config.
 * The errors themselves are grouped by what they are about beside this file;
 * index.ts gathers them all.
 */
export type ErrorCode =
  | 'DECODE_FAILED'
  | 'UNSUPPORTED_FORMAT'
  | 'INVALID_READING'
  | 'TS_OUT_OF_RANGE'
  | 'SCHEMA_VIOLATION'
  | 'BAD_PARAMETER'
  | 'UNAUTHORIZED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_FAILED'
  | 'JOURNAL_FAILED'
  | 'BACKPRESSURE'
  | 'CONFIG_INVALID'
  | 'BAD_MESSAGE'
  | 'BAD_TOPIC'
  | 'PAYLOAD_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'LENGTH_REQUIRED'
  | 'DEPTH_EXCEEDED'
  | 'TOO_MANY_FIELDS'
  | 'STRING_TOO_LONG'
  | 'TOO_MANY_READINGS'
  | 'STORE_REJECTED'
  | 'BEYOND_RETENTION'
  | 'DETECTOR_CONFIG'
  | 'DEVICE_MISMATCH'
  | 'RATE_LIMITED'
  | 'RULE_INVALID'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_ACCEPTABLE'
  | 'CONFLICT'
  | 'BAD_DEVICE_ID'
  | 'FORBIDDEN'
  | 'BAD_SIGNATURE'
  | 'STALE'
  | 'REPLAYED'
  | 'ENGINE_STOPPED'
  | 'STATE_SAVE_FAILED'
  | 'CLUSTER_BROKER_UNREACHABLE'
  | 'CLUSTER_MEMBER_STOPPED'
  | 'MQTT_CLIENT_ENDED'
  | 'TOO_MANY_OBSERVATIONS';

/**
 * A value of the sender's that an error's message quotes: where (`at`, an index into the message) and as what
 * text, the field it was when known, and its `kind` ("a string"), which a reader who may not see the value (an
 * API key without read:sensitive) is given in its place. Errors put them in `details.quoted`.
 */
export interface QuotedValue {
  at: number;
  text: string;
  kind: string;
  field?: string;
}

/**
 * `details.quoted` of an error whose message another error's now follows `by` characters further on (a wrapper
 * that prefixes it): the places must move with the text, or the values they point at are not where they say.
 */
export function shiftQuoted(details: Record<string, unknown>, by: number): Record<string, unknown> {
  if (!Array.isArray(details.quoted) || by === 0) return details;
  const quoted = (details.quoted as unknown[]).map((q) => (typeof q === 'object' && q !== null && Number.isSafeInteger((q as QuotedValue).at) ? { ...q, at: (q as QuotedValue).at + by } : q));
  return { ...details, quoted };
}

export class UpperstackError extends Error {
  override readonly name: string = 'UpperstackError';
  readonly code: ErrorCode;
  /** Extra machine-readable facts (offset, path, parameter...). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** The shape used in msg.error, dead-letter records and HTTP error bodies. */
  toJSON(): { name: string; code: ErrorCode; message: string } & Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details };
  }
}

/** Turns anything thrown into the `{code, message, ...}` shape for msg.error and dead letters. */
export function describeError(err: unknown): { name: string; code: string; message: string } & Record<string, unknown> {
  if (err instanceof UpperstackError) return err.toJSON();
  if (err instanceof Error) return { name: err.name, code: 'INTERNAL', message: err.message };
  return { name: 'Error', code: 'INTERNAL', message: String(err) };
}
