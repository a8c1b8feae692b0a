/**
 * Every error of Upperstack, from one place: the hierarchy (base.ts) and the
 * errors grouped by what they are about (input, limits, store, runtime,
 * access).
 */
export { shiftQuoted, UpperstackError, describeError, type ErrorCode, type QuotedValue } from './base';
export { refusedAlike, isRefusedAlike, DecodeError, TextEncodingError, SharedValueError, SimpleValueError, UnsupportedFormatError, InvalidReadingError, TimestampOutOfRangeError, SchemaViolationError, BadParameterError, BadMessageError, BadTopicError, BadDeviceIdError } from './input';
export { PayloadTooLargeError, DepthExceededError, TooManyFieldsError, StringTooLongError, TooManyReadingsError, TooManyObservationsError, isLimitError, type LimitDetails, type LimitSource } from './limits';
export { StoreUnavailableError, StoreFailedError, StoreRejectedError, RetentionRefusedError, JournalError } from './store';
export { BackpressureError, ClusterBrokerUnreachableError, ClusterMemberStoppedError, MqttClientEndedError, EngineStoppedError, StateSaveError, ConfigError, DetectorConfigError, RuleInvalidError, NotFoundError, MethodNotAllowedError, NotAcceptableError, ConflictError } from './runtime';
export { UnauthorizedError, ForbiddenError, SignatureError } from './access';
