/**
 * Every error of Upperstack, from one place: the hierarchy (errors/base.ts) and
 * the errors grouped by what they are about (errors/input, limits, store,
 * runtime, access).
 */
export { shiftQuoted, UpperstackError, describeError, type ErrorCode, type QuotedValue } from './errors/base';
export { DecodeError, UnsupportedFormatError, InvalidReadingError, TimestampOutOfRangeError, SchemaViolationError, BadParameterError, BadMessageError, BadTopicError, BadDeviceIdError } from './errors/input';
export { PayloadTooLargeError, DepthExceededError, TooManyFieldsError, StringTooLongError, TooManyReadingsError, isLimitError, type LimitDetails, type LimitSource } from './errors/limits';
export { StoreUnavailableError, StoreFailedError, StoreRejectedError, RetentionRefusedError, JournalError } from './errors/store';
export { BackpressureError, ClusterBrokerUnreachableError, EngineStoppedError, StateSaveError, ConfigError, DetectorConfigError, RuleInvalidError, NotFoundError, ConflictError } from './errors/runtime';
export { UnauthorizedError, ForbiddenError, SignatureError } from './errors/access';
