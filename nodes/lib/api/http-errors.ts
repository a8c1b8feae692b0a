/**
 * What an HTTP client is told when something fails: a status and the body
 * `{"error":{"code","message",...}}`. Anything thrown (an Upperstack error, a
 * body-parser failure, a bug) maps to one of these; internal failures get a
 * generic message so no stack trace or install path reaches the client.
 */
import {
  BadDeviceIdError,
  BadMessageError,
  BadParameterError,
  ConflictError,
  DecodeError,
  DetectorConfigError,
  ForbiddenError,
  InvalidReadingError,
  MethodNotAllowedError,
  NotAcceptableError,
  NotFoundError,
  PayloadTooLargeError,
  RuleInvalidError,
  SchemaViolationError,
  SignatureError,
  StoreUnavailableError,
  UnauthorizedError,
  UnsupportedFormatError,
  UpperstackError,
} from '../errors';

/** Codes used only on the HTTP surface (the lib's own codes are in ErrorCode). */
export const HTTP_CODES = {
  notFound: 'NOT_FOUND',
  methodNotAllowed: 'METHOD_NOT_ALLOWED',
  malformedBody: 'MALFORMED_BODY',
  unsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  payloadTooLarge: 'PAYLOAD_TOO_LARGE',
  tooManyRequests: 'TOO_MANY_REQUESTS',
  loginFailed: 'LOGIN_FAILED',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  notDeployed: 'NOT_DEPLOYED',
  unavailable: 'UNAVAILABLE',
  internal: 'INTERNAL',
} as const;

export const INTERNAL_MESSAGE = 'internal error; the server log has the details';

export interface HttpError {
  status: number;
  code: string;
  message: string;
  /** Extra machine-readable facts (parameter, limit...), merged into the error object. */
  details: Record<string, unknown>;
  /** True when the cause is a bug or an outage the operator should see in the log. */
  internal: boolean;
}

// Text for statuses that carry no message of their own.
const STATUS_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: HTTP_CODES.unauthorized,
  403: HTTP_CODES.forbidden,
  404: HTTP_CODES.notFound,
  405: HTTP_CODES.methodNotAllowed,
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: HTTP_CODES.payloadTooLarge,
  415: HTTP_CODES.unsupportedMediaType,
  429: HTTP_CODES.tooManyRequests,
  503: HTTP_CODES.unavailable,
};

export function codeForStatus(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? HTTP_CODES.internal : 'BAD_REQUEST');
}

/** The status an Upperstack error deserves on the HTTP surface. */
export function statusOfError(err: UpperstackError): number {
  if (
    err instanceof BadParameterError ||
    err instanceof DetectorConfigError ||
    err instanceof DecodeError ||
    err instanceof InvalidReadingError ||
    err instanceof SchemaViolationError ||
    err instanceof RuleInvalidError ||
    err instanceof BadDeviceIdError ||
    err instanceof BadMessageError
  ) {
    return 400;
  }
  if (err instanceof UnsupportedFormatError) return 415;
  if (err instanceof UnauthorizedError || err instanceof SignatureError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof NotAcceptableError) return 406;
  if (err instanceof ConflictError) return 409;
  if (err.code === 'RATE_LIMITED') return 429;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof StoreUnavailableError) return 503;
  return 500;
}

interface ParserError {
  type?: unknown;
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  limit?: unknown;
  length?: unknown;
  charset?: unknown;
  encoding?: unknown;
  message?: unknown;
}

function fromParser(e: ParserError): HttpError | undefined {
  const details: Record<string, unknown> = {};
  switch (e.type) {
    case 'entity.parse.failed':
      return { status: 400, code: HTTP_CODES.malformedBody, message: `the body is not valid JSON: ${String(e.message)}`, details: { parameter: 'body' }, internal: false };
    case 'entity.too.large':
      if (typeof e.limit === 'number') details.limit = e.limit;
      if (typeof e.length === 'number') details.size = e.length;
      return {
        status: 413,
        code: HTTP_CODES.payloadTooLarge,
        message: typeof e.limit === 'number' ? `the body is larger than the limit of ${e.limit} bytes` : 'the body is too large',
        details,
        internal: false,
      };
    case 'parameters.too.many':
      return { status: 413, code: HTTP_CODES.payloadTooLarge, message: 'the form has too many parameters', details, internal: false };
    case 'charset.unsupported':
      return { status: 415, code: HTTP_CODES.unsupportedMediaType, message: `unsupported charset ${JSON.stringify(String(e.charset ?? '')).slice(0, 40)}; send UTF-8`, details, internal: false };
    case 'encoding.unsupported':
      return { status: 415, code: HTTP_CODES.unsupportedMediaType, message: `unsupported content encoding ${JSON.stringify(String(e.encoding ?? '')).slice(0, 40)}; send identity, gzip or deflate`, details, internal: false };
    case 'request.aborted':
      return { status: 400, code: 'REQUEST_ABORTED', message: 'the client closed the request before its body arrived', details, internal: false };
    case 'request.size.invalid':
      return { status: 400, code: HTTP_CODES.malformedBody, message: 'the body is shorter or longer than its Content-Length', details, internal: false };
    default:
      return undefined;
  }
}

/** Maps anything thrown to what the client sees. */
export function httpErrorOf(err: unknown): HttpError {
  if (err instanceof UpperstackError) {
    // Their messages are written for the person calling (see nodes/lib/errors/), so they are passed on.
    const status = statusOfError(err);
    return { status, code: err.code, message: err.message, details: { ...err.details }, internal: status >= 500 };
  }
  if (typeof err === 'object' && err !== null) {
    const e = err as ParserError;
    const parsed = fromParser(e);
    if (parsed) return parsed;
    const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
    // Express could not percent-decode a route parameter (`/ingest/%ff`): its message quotes the part.
    if (status === 400 && err instanceof URIError) {
      const what = String(e.message ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 160);
      return { status, code: 'BAD_PATH', message: `the path cannot be decoded (${what}): percent-encode it as UTF-8, %XX with two hex digits`, details: {}, internal: false };
    }
    // http-errors marks the 4xx whose message is meant for the client as exposable.
    if (status >= 400 && status < 500 && e.expose === true && typeof e.message === 'string') {
      return { status, code: codeForStatus(status), message: e.message, details: {}, internal: false };
    }
    if (status >= 400 && status < 500) return { status, code: codeForStatus(status), message: `request refused (${status})`, details: {}, internal: false };
  }
  return { status: 500, code: HTTP_CODES.internal, message: INTERNAL_MESSAGE, details: {}, internal: true };
}

/** `{"error":{"code","message",...details}}`; code and message win over details of the same name. */
export function errorBody(code: string, message: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({ error: { ...details, code, message } });
}
