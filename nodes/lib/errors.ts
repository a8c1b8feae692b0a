/**
 * The one error hierarchy of Upperstack. Every error has a stable `name` and
 * `code` that flows, dead-letter records and HTTP bodies can rely on, and a
 * message written for the person who has to fix the input or the config.
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
  | 'CONFLICT'
  | 'BAD_DEVICE_ID'
  | 'FORBIDDEN'
  | 'BAD_SIGNATURE'
  | 'STALE'
  | 'REPLAYED'
  | 'ENGINE_STOPPED'
  | 'STATE_SAVE_FAILED'
  | 'CLUSTER_BROKER_UNREACHABLE';

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

/** A payload could not be decoded; `offset` (bytes) or `field` say where. */
export class DecodeError extends UpperstackError {
  override readonly name = 'DecodeError';
  constructor(message: string, details: { format: string; offset?: number; field?: string; line?: number } & Record<string, unknown>, options?: { cause?: unknown }) {
    super('DECODE_FAILED', message, details, options);
  }
}

export class UnsupportedFormatError extends UpperstackError {
  override readonly name = 'UnsupportedFormatError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('UNSUPPORTED_FORMAT', message, details);
  }
}

/** Decoded data does not fit the Reading contract (no device, bad timestamp, no fields). */
export class InvalidReadingError extends UpperstackError {
  override readonly name = 'InvalidReadingError';
  constructor(message: string, details: { path?: string } & Record<string, unknown> = {}) {
    super('INVALID_READING', message, details);
  }
}

/** An epoch time as ISO 8601 when a Date holds it, else as the number. */
function isoOrNumber(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

/**
 * A reading's time is further past its arrival than the runtime takes (`aheadMs`, the
 * upperstack.maxAheadSeconds setting): a device clock that reads year 9999 is wrong, and its
 * readings stored there would sit past every query and retention. `bound` is the latest time taken.
 */
export class TimestampOutOfRangeError extends UpperstackError {
  override readonly name = 'TimestampOutOfRangeError';
  constructor(details: { path: string; ts: number; bound: number; aheadMs: number }) {
    const ahead = details.aheadMs % 3_600_000 === 0 ? `${details.aheadMs / 3_600_000} h` : `${details.aheadMs / 1000} s`;
    super(
      'TS_OUT_OF_RANGE',
      `${details.path} ${isoOrNumber(details.ts)} is too far in the future: the latest time taken is ${isoOrNumber(details.bound)} (${ahead} after the reading arrived); check the device's clock`,
      details,
    );
  }
}

/** A reading does not satisfy the JSON Schema. `path` is a JSON pointer. */
export class SchemaViolationError extends UpperstackError {
  override readonly name = 'SchemaViolationError';
  constructor(message: string, details: { path: string } & Record<string, unknown>) {
    super('SCHEMA_VIOLATION', message, details);
  }
}

/** An HTTP query parameter is missing or malformed. */
export class BadParameterError extends UpperstackError {
  override readonly name = 'BadParameterError';
  constructor(parameter: string, message: string, details: Record<string, unknown> = {}) {
    super('BAD_PARAMETER', message, { ...details, parameter });
  }
}

export class UnauthorizedError extends UpperstackError {
  override readonly name = 'UnauthorizedError';
  constructor(message = 'A valid API key is required: send "Authorization: Bearer <key>".') {
    super('UNAUTHORIZED', message);
  }
}

/** The store cannot be reached or written right now; the caller should spool and retry. */
export class StoreUnavailableError extends UpperstackError {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, {}, options);
  }
}

/** The store rejected the data itself (retrying will not help). */
export class StoreFailedError extends UpperstackError {
  override readonly name = 'StoreFailedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_FAILED', message, {}, options);
  }
}

/**
 * A sink refused one reading for what is in it (the batch around it was stored).
 * The code of the dead letter that records it.
 */
export class StoreRejectedError extends UpperstackError {
  override readonly name = 'StoreRejectedError';
  constructor(sink: string, device: string, reason: string) {
    // The first paragraph: databases append advice (DuckDB's "Possible solutions") that is noise in a dead letter.
    const why = reason.split(/\n\s*\n/)[0].trim().slice(0, 2000);
    super('STORE_REJECTED', `the ${sink} store refused this reading of device "${device.slice(0, 128)}": ${why}`, { sink, device });
  }
}

/**
 * A sink refuses readings of a write for their age alone: they are older than
 * it keeps (its retention). Nothing of the write was stored. The sink names
 * every reading it refuses for that (`indexes` into the write), so the writer
 * dead-letters them together and writes the rest, instead of isolating them
 * one by one. `cutoff` (epoch ms) is the boundary the sink applies.
 */
export class RetentionRefusedError extends UpperstackError {
  override readonly name = 'RetentionRefusedError';
  readonly indexes: readonly number[];
  readonly cutoff: number;
  /** Why, for every refused reading: completes "… at <time> is older than …". */
  readonly why: string;
  constructor(sink: string, indexes: number[], cutoff: number, why: string) {
    super('BEYOND_RETENTION', `the ${sink} store refused ${indexes.length} reading(s) older than it keeps (cutoff ${new Date(cutoff).toISOString()}): ${why}`, { sink, cutoff, count: indexes.length });
    this.indexes = indexes;
    this.cutoff = cutoff;
    this.why = why;
  }

  /** The dead letter's reason for one of the refused readings. */
  reasonFor(device: string, ts: number): string {
    const at = Number.isFinite(ts) ? new Date(ts).toISOString() : String(ts);
    return `the ${String(this.details.sink)} store refused this reading of device "${device.slice(0, 128)}" at ${at}: it is older than the store keeps (cutoff ${new Date(this.cutoff).toISOString()}); ${this.why}`;
  }
}

export class JournalError extends UpperstackError {
  override readonly name = 'JournalError';
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('JOURNAL_FAILED', message, details, options);
  }
}

/**
 * An input cannot take more right now: too much is unsettled, its journal is at
 * its disk budget, or the journal cannot be written. Nothing was kept; the
 * sender should retry after `retryAfterMs` (HTTP 503 with Retry-After, CoAP 5.03 with Max-Age).
 */
export class BackpressureError extends UpperstackError {
  override readonly name = 'BackpressureError';
  constructor(message: string, details: { reason: 'backlog' | 'disk' | 'journal' | 'closed'; retryAfterMs: number } & Record<string, unknown>, options?: { cause?: unknown }) {
    super('BACKPRESSURE', message, details, options);
  }

  get retryAfterMs(): number {
    return this.details.retryAfterMs as number;
  }
}

/**
 * The cluster broker did not answer a step (`step`: subscribe, publish, probe...) within `waitMs`: it is down or
 * cut off. The step is given up rather than waited on for ever, so a take-over is tried again and a close ends.
 */
export class ClusterBrokerUnreachableError extends UpperstackError {
  override readonly name = 'ClusterBrokerUnreachableError';
  constructor(step: string, waitMs: number) {
    super('CLUSTER_BROKER_UNREACHABLE', `the cluster broker did not answer (${step}) within ${waitMs / 1000} s`, { step, waitMs });
  }
}

/**
 * An engine running beside the pipeline (the anomaly worker thread) stopped
 * while it held this message; it is restarted, and the message was not judged.
 */
export class EngineStoppedError extends UpperstackError {
  override readonly name = 'EngineStoppedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ENGINE_STOPPED', message, {}, options);
  }
}

/**
 * The anomaly node could not write what it learned to its state file (`file`):
 * the disk is full or read-only, say. The engine keeps running on what it has
 * and the next save tries again; a crash before then loses what was learned since the last good save.
 */
export class StateSaveError extends UpperstackError {
  override readonly name = 'StateSaveError';
  constructor(message: string, details: { file: string } & Record<string, unknown>, options?: { cause?: unknown }) {
    super('STATE_SAVE_FAILED', message, details, options);
  }
}

export class ConfigError extends UpperstackError {
  override readonly name = 'ConfigError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CONFIG_INVALID', message, details);
  }
}

/**
 * A message (or request) asks a node for what it does not do, such as a command it does not know. `property`
 * names where the ask is ("payload"), `allowed` what the node takes. About one message, never about the
 * node's settings: those are ConfigError.
 */
export class BadMessageError extends UpperstackError {
  override readonly name = 'BadMessageError';
  constructor(message: string, details: { property: string; allowed?: readonly string[] } & Record<string, unknown>) {
    super('BAD_MESSAGE', message, details);
  }
}

export class BadTopicError extends UpperstackError {
  override readonly name = 'BadTopicError';
  constructor(message: string, details: { topic: string } & Record<string, unknown>) {
    super('BAD_TOPIC', message, details);
  }
}

export class PayloadTooLargeError extends UpperstackError {
  override readonly name = 'PayloadTooLargeError';
  /**
   * `size` undefined when the whole size is not known (a stream cut off at the limit, a
   * compressed body that would inflate past it): then `message` says what is known instead.
   */
  constructor(size: number | undefined, limit: number, message?: string, details: Record<string, unknown> = {}) {
    super('PAYLOAD_TOO_LARGE', message ?? `payload is ${size} bytes, more than the limit of ${limit} bytes`, size === undefined ? { limit, ...details } : { size, limit, ...details });
  }
}

/** Where a limit was hit: a byte offset (and line) in the payload or a path in decoded data, plus the limit itself. */
export interface LimitDetails extends Record<string, unknown> {
  limit: number;
  format?: string;
  offset?: number;
  line?: number;
  path?: string;
}

/** Where a limit comes from, for the remedy an error names (limits.ts limitSource builds it). */
export interface LimitSource {
  /** The setting that sets the limit, as its node's editor names it: "the decode node's Fields limit". */
  setting?: string;
  /** Set when the limit holds per request (HTTP, CoAP) and no setting can raise it. */
  per?: 'request';
}

function where(d: LimitDetails): string {
  if (d.path) return ` at ${d.path}`;
  if (d.line !== undefined) return ` on line ${d.line}`;
  if (d.offset !== undefined) return ` at byte ${d.offset}`;
  return '';
}

function num(x: number): string {
  return x.toLocaleString('en-US');
}

/**
 * Containers nested deeper than the limit. Checked before decoding (and while
 * walking decoded data), so such a payload never reaches a recursive walker.
 */
export class DepthExceededError extends UpperstackError {
  override readonly name = 'DepthExceededError';
  constructor(details: LimitDetails) {
    super('DEPTH_EXCEEDED', `the payload nests objects or arrays more than ${num(details.limit)} levels deep${where(details)}; flatten it or raise the depth limit of the decode node`, details);
  }
}

/** One reading (or one object or array of the payload) holds more values than a reading may have fields. */
export class TooManyFieldsError extends UpperstackError {
  override readonly name = 'TooManyFieldsError';
  constructor(details: LimitDetails & { count?: number; what?: 'fields' | 'tags' }, source: LimitSource = {}) {
    const limit = num(details.limit);
    const what = details.what ?? 'fields';
    let subject: string;
    if (details.path !== undefined) subject = `the reading at ${details.path} has more than ${limit} ${what}`;
    else if (details.line !== undefined) subject = `line ${details.line} has more than ${limit} fields`;
    else if (details.offset !== undefined) subject = `the object or array at byte ${details.offset} has more than ${limit} members`;
    else subject = `the reading has ${details.count === undefined ? `more than ${limit}` : num(details.count)} ${what}`;
    const raise = source.setting ? ` or raise ${source.setting}` : '';
    super('TOO_MANY_FIELDS', `${subject}; a reading may have at most ${limit} ${what}: split the data into several readings${raise}`, details);
  }
}

/** A string value is longer than the limit (in characters). */
export class StringTooLongError extends UpperstackError {
  override readonly name = 'StringTooLongError';
  constructor(details: LimitDetails & { length?: number }) {
    const len = details.length === undefined ? `more than ${num(details.limit)}` : num(details.length);
    const subject = details.path ? details.path : `a string${where(details)}`;
    super('STRING_TOO_LONG', `${subject} is ${len} characters long; the limit is ${num(details.limit)}`, details);
  }
}

/** A message carries more readings than the limit. */
export class TooManyReadingsError extends UpperstackError {
  override readonly name = 'TooManyReadingsError';
  constructor(details: LimitDetails & { count?: number }, source: LimitSource = {}) {
    const what = details.count === undefined ? `more than ${num(details.limit)}` : num(details.count);
    const unit = source.per ?? 'message';
    const remedy = source.setting ? `send smaller batches or raise ${source.setting}` : `split the ${unit} into smaller ones`;
    super('TOO_MANY_READINGS', `the ${unit} holds ${what} readings; the limit is ${num(details.limit)} per ${unit}: ${remedy}`, details);
  }
}

/** True for the errors of a limit on what one message may hold. */
export function isLimitError(err: unknown): err is DepthExceededError | TooManyFieldsError | StringTooLongError | TooManyReadingsError | PayloadTooLargeError {
  return err instanceof DepthExceededError || err instanceof TooManyFieldsError || err instanceof StringTooLongError || err instanceof TooManyReadingsError || err instanceof PayloadTooLargeError;
}

export class DetectorConfigError extends UpperstackError {
  override readonly name = 'DetectorConfigError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('DETECTOR_CONFIG', message, details);
  }
}

/** An alert rule does not fit schemas/rule.schema.json or makes no sense; `pointer` is the JSON pointer of the offending value. */
export class RuleInvalidError extends UpperstackError {
  override readonly name = 'RuleInvalidError';
  constructor(message: string, details: { pointer: string } & Record<string, unknown>) {
    super('RULE_INVALID', message, details);
  }
}

/** A named thing (rule, alert) does not exist. */
export class NotFoundError extends UpperstackError {
  override readonly name = 'NotFoundError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('NOT_FOUND', message, details);
  }
}

/** The request clashes with what exists (a rule id taken, an alert that cannot be acknowledged now). */
export class ConflictError extends UpperstackError {
  override readonly name = 'ConflictError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CONFLICT', message, details);
  }
}

/** A device id that cannot be one: malformed, or its check character is wrong (a mistyped id). */
export class BadDeviceIdError extends UpperstackError {
  override readonly name = 'BadDeviceIdError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('BAD_DEVICE_ID', message, details);
  }
}

/** The caller is known but may not do this (a device writing as another, a key without the scope). */
export class ForbiddenError extends UpperstackError {
  override readonly name = 'ForbiddenError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('FORBIDDEN', message, details);
  }
}

/**
 * A signed message that does not verify: `BAD_SIGNATURE` (wrong or missing signature), `STALE` (its time is
 * more than the allowed skew from ours) or `REPLAYED` (its nonce was seen before).
 */
export class SignatureError extends UpperstackError {
  override readonly name = 'SignatureError';
  constructor(code: 'BAD_SIGNATURE' | 'STALE' | 'REPLAYED', message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

/** Turns anything thrown into the `{code, message, ...}` shape for msg.error and dead letters. */
export function describeError(err: unknown): { name: string; code: string; message: string } & Record<string, unknown> {
  if (err instanceof UpperstackError) return err.toJSON();
  if (err instanceof Error) return { name: err.name, code: 'INTERNAL', message: err.message };
  return { name: 'Error', code: 'INTERNAL', message: String(err) };
}
