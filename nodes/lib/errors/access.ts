/** Errors about who may do what: keys, scopes, signatures. */
import { UpperstackError } from './base';

export class UnauthorizedError extends UpperstackError {
  override readonly name = 'UnauthorizedError';
  constructor(message = 'A valid API key is required: send "Authorization: Bearer <key>".') {
    super('UNAUTHORIZED', message);
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
