/** Errors of the HTTP and CoAP inputs, in the one hierarchy of nodes/lib/errors.ts. */
import { UpperstackError } from '../errors';

/** The body names another device than the path or the credentials (403 / 4.03). */
export class DeviceMismatchError extends UpperstackError {
  override readonly name = 'DeviceMismatchError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('DEVICE_MISMATCH', message, details);
  }
}

/** Too many requests from one client (429 / 4.29); `retryAfterMs` says when to try again. */
export class RateLimitedError extends UpperstackError {
  override readonly name = 'RateLimitedError';
  constructor(message: string, readonly retryAfterMs: number) {
    super('RATE_LIMITED', message, { retryAfterMs });
  }
}
