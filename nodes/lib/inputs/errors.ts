/** Errors of the HTTP and CoAP inputs, in the one hierarchy of nodes/lib/errors/. */
import { UpperstackError } from '../errors';

/** The body names another device than the path or the credentials (403 / 4.03); `claimed` in the details is the one it names. */
export class DeviceMismatchError extends UpperstackError {
  override readonly name = 'DeviceMismatchError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('DEVICE_MISMATCH', message, details);
  }
}

/**
 * A request body that stopped arriving (408): the client sent part of it and then nothing within the
 * input's body timeout. Nothing of it is kept.
 */
export class BodyTimeoutError extends UpperstackError {
  override readonly name = 'BodyTimeoutError';
  constructor(readonly timeoutMs: number, received: number) {
    super('REQUEST_TIMEOUT', `the request body did not arrive within ${timeoutMs / 1000} s (${received} bytes received); nothing was stored, send the request again`, { timeoutMs, received });
  }
}

/**
 * A POST to a write route with neither Content-Length nor Transfer-Encoding (411). Such a request has no body
 * (RFC 9112 §6.3): an old HTTP/1.0 stack that sends its body and closes would otherwise have it taken as empty,
 * or the body read as a next request that is not valid HTTP. Nothing of it is kept.
 */
export class LengthRequiredError extends UpperstackError {
  override readonly name = 'LengthRequiredError';
  constructor(path: string) {
    super('LENGTH_REQUIRED', `POST ${path.slice(0, 200)} needs a Content-Length header giving the size of the body (or, over HTTP/1.1, Transfer-Encoding: chunked); without either the request has no body, and nothing was stored`);
  }
}

/** Too many requests from one client (429 / 4.29); `retryAfterMs` says when to try again. */
export class RateLimitedError extends UpperstackError {
  override readonly name = 'RateLimitedError';
  constructor(message: string, readonly retryAfterMs: number) {
    super('RATE_LIMITED', message, { retryAfterMs });
  }
}

/**
 * A line protocol body of more points than one request may hold (413 on the InfluxDB routes, as
 * InfluxDB answers a body over its size limit): clients such as Telegraf split the batch and resend.
 */
export class TooManyLinesError extends UpperstackError {
  override readonly name = 'TooManyLinesError';
  constructor(readonly limit: number, count?: number) {
    const what = count === undefined ? `more than ${limit.toLocaleString('en-US')}` : count.toLocaleString('en-US');
    super('TOO_MANY_READINGS', `the body holds ${what} lines of line protocol; the limit is ${limit.toLocaleString('en-US')} lines per request: send smaller batches`, { limit, ...(count === undefined ? {} : { count }) });
  }
}
