/** Errors about what a sender sent or asked: payloads that do not decode, readings that do not fit, bad parameters. */
import { UpperstackError } from './base';

/**
 * Marks a refusal that the message alone decides on the input that received it, whatever that input's and the
 * flow's settings: an empty message (no format reads nothing), and over HTTP and CoAP a content type the route
 * does not read (they have no format setting to read it otherwise). A replay of it through that input would be
 * refused the same way, so its dead letter keeps no message to replay (`details.replayable` false).
 */
export function refusedAlike<E extends UpperstackError>(err: E): E {
  err.details.replayable = false;
  return err;
}

/** Whether an error, or its `{code, message, ...details}` form in msg.error, is marked by refusedAlike(). */
export function isRefusedAlike(error: unknown): boolean {
  if (error instanceof UpperstackError) return error.details.replayable === false;
  return typeof error === 'object' && error !== null && (error as { replayable?: unknown }).replayable === false;
}

/** A payload could not be decoded; `offset` (bytes) or `field` say where. */
export class DecodeError extends UpperstackError {
  override readonly name = 'DecodeError';
  constructor(message: string, details: { format: string; offset?: number; field?: string; line?: number } & Record<string, unknown>, options?: { cause?: unknown }) {
    super('DECODE_FAILED', message, details, options);
  }
}

/**
 * Data well-formed in its binary format (CBOR, MessagePack) whose text is not UTF-8: the format is known for
 * sure, so guessing a format reports this instead of "unknown format".
 */
export class TextEncodingError extends DecodeError {}

/**
 * CBOR well-formed but using tags that put one value in many places (value sharing, packed CBOR), refused as
 * a whole: the format is known for sure, so guessing a format reports this too.
 */
export class SharedValueError extends DecodeError {}

/**
 * CBOR well-formed but holding a simple value other than false, true, null and undefined (major type 7, values
 * 0-19 and 32-255, none of which RFC 8949 assigns), refused as a whole: the format is known for sure, as above.
 */
export class SimpleValueError extends DecodeError {}

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

/** A device id that cannot be one: malformed, or its check character is wrong (a mistyped id). */
export class BadDeviceIdError extends UpperstackError {
  override readonly name = 'BadDeviceIdError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('BAD_DEVICE_ID', message, details);
  }
}
