/** Errors of the limits on what one message may hold (size, depth, fields, string length, readings). */
import { UpperstackError } from './base';

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
    else if (details.line !== undefined) subject = `line ${details.line} has more than ${limit} ${what}`;
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

/**
 * A CoAP observation refused: the device, or the input as a whole, already has as many as it may keep. Each one is
 * memory the server holds until the observer cancels or is found gone, so they are bounded like any other input.
 */
export class TooManyObservationsError extends UpperstackError {
  override readonly name = 'TooManyObservationsError';
  constructor(details: { limit: number }) {
    super('TOO_MANY_OBSERVATIONS', `this CoAP input has ${num(details.limit)} observations, the most it may have: cancel one it no longer needs (GET with Observe 1 and its token), or register again later; an observer that went away is dropped once it leaves a confirmable notification unanswered`, details);
  }
}

/** True for the errors of a limit on what one message may hold. */
export function isLimitError(err: unknown): err is DepthExceededError | TooManyFieldsError | StringTooLongError | TooManyReadingsError | PayloadTooLargeError {
  return err instanceof DepthExceededError || err instanceof TooManyFieldsError || err instanceof StringTooLongError || err instanceof TooManyReadingsError || err instanceof PayloadTooLargeError;
}
