/** The error a request/response input answers with when its intake cannot take more now. */
import { BackpressureError } from '../errors';
import type { RefusalReason } from './intake-options';
import { holdingSinks } from '../store/holding';

export interface RefusalContext {
  /** The input's name. */
  name: string;
  reason: RefusalReason;
  retryAfterMs: number;
  /** Unsettled readings and messages, with their pause marks (readings mark 0: none). */
  readings: () => number;
  backlog: () => number;
  highWater: number;
  highWaterReadings: number;
  budgetBytes: number;
  cause?: Error;
  /** The journal could not be opened at all (reason 'journal'): nothing is taken, not only nothing more. */
  unopened?: boolean;
}

export function refusalError(c: RefusalContext): BackpressureError {
  const { reason, retryAfterMs, cause } = c;
  const secs = Math.ceil(retryAfterMs / 1000);
  if (reason === 'journal' && c.unopened) {
    return new BackpressureError(`${c.name} takes nothing: its journal cannot be opened (${cause?.message ?? 'unknown error'}); retry in ${secs} s`, { reason, retryAfterMs }, cause ? { cause } : undefined);
  }
  const why =
    reason === 'backlog'
      ? (c.highWaterReadings > 0 && c.readings() >= c.highWaterReadings
          ? `${c.readings()} readings are waiting to be stored (pause mark ${c.highWaterReadings} readings)`
          : `${c.backlog()} messages are waiting to be stored (pause mark ${c.highWater})`) + heldBy()
      : reason === 'disk'
        ? `its journal has reached its disk budget of ${formatBytes(c.budgetBytes)}`
        : reason === 'journal'
          ? `its journal cannot be written (${cause?.message ?? 'unknown error'})`
          : 'it is stopping';
  return new BackpressureError(`${c.name} cannot take more now: ${why}; retry in ${secs} s`, { reason, retryAfterMs }, cause ? { cause } : undefined);
}

/** Why the backlog does not drain, when a store's sink holds its writes: its spool is at its disk budget. */
function heldBy(): string {
  const sinks = holdingSinks();
  if (!sinks.length) return '';
  return `, because ${sinks.map((s) => `${s.label} holds its writes (its spool has reached its disk budget of ${formatBytes(s.budgetBytes)})`).join(' and ')}`;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${+(n / (1024 * 1024 * 1024)).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
