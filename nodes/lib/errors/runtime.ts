/** Errors of the running pipeline and its configuration: back-pressure, engines, settings, rules, things asked for. */
import { UpperstackError } from './base';

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
 * An MQTT client was ended (its owner closed) before the broker let it in: what waited for its first
 * connection ends with this rather than waiting for ever. An owner may say it in its own terms (a cluster member's).
 */
export class MqttClientEndedError extends UpperstackError {
  override readonly name = 'MqttClientEndedError';
  constructor() {
    super('MQTT_CLIENT_ENDED', 'the MQTT client was ended before the broker let it in', {});
  }
}

/**
 * A cluster member's client was ended (the node closed) before the broker let it in: what waited on the
 * connection (a start, a message held for it) ends with this rather than waiting for ever.
 */
export class ClusterMemberStoppedError extends UpperstackError {
  override readonly name = 'ClusterMemberStoppedError';
  constructor() {
    super('CLUSTER_MEMBER_STOPPED', 'the cluster member stopped before the cluster broker let it in', {});
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

/** A route that is there answers other methods than the request's; `allow` lists them (the `Allow` header). */
export class MethodNotAllowedError extends UpperstackError {
  override readonly name = 'MethodNotAllowedError';
  constructor(message: string, allow: string[]) {
    super('METHOD_NOT_ALLOWED', message, { allow });
  }
}

/** The request's Accept header takes none of the types a route serves; `accept` lists them. */
export class NotAcceptableError extends UpperstackError {
  override readonly name = 'NotAcceptableError';
  constructor(message: string, accept: readonly string[]) {
    super('NOT_ACCEPTABLE', message, { accept: [...accept] });
  }
}

/** The request clashes with what exists (a rule id taken, an alert that cannot be acknowledged now). */
export class ConflictError extends UpperstackError {
  override readonly name = 'ConflictError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CONFLICT', message, details);
  }
}
