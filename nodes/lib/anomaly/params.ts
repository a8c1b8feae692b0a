/** Reading detector parameters with defaults and errors a user can act on. */
import { DetectorConfigError } from '../errors';
import { parseDuration } from './format';
import type { Duration } from './types';

interface Bounds {
  min?: number;
  max?: number;
  /** Excludes min itself (e.g. a smoothing weight of 0 learns nothing). */
  above?: number;
  integer?: boolean;
}

export function num(detector: string, name: string, value: unknown, fallback: number, b: Bounds = {}): number {
  if (value === undefined || value === null) return fallback;
  const where = `${detector}.${name}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new DetectorConfigError(`${where} must be a number, got ${JSON.stringify(value)}`, { parameter: where });
  }
  if (b.integer && !Number.isInteger(value)) throw new DetectorConfigError(`${where} must be a whole number, got ${value}`, { parameter: where });
  if (b.min !== undefined && value < b.min) throw new DetectorConfigError(`${where} must be at least ${b.min}, got ${value}`, { parameter: where });
  if (b.above !== undefined && value <= b.above) throw new DetectorConfigError(`${where} must be more than ${b.above}, got ${value}`, { parameter: where });
  if (b.max !== undefined && value > b.max) throw new DetectorConfigError(`${where} must be at most ${b.max}, got ${value}`, { parameter: where });
  return value;
}

export function duration(detector: string, name: string, value: Duration | undefined, fallback: Duration): number {
  return parseDuration(value ?? fallback, `${detector}.${name}`);
}

export function bool(detector: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    throw new DetectorConfigError(`${detector}.${name} must be true or false, got ${JSON.stringify(value)}`, { parameter: `${detector}.${name}` });
  }
  return value;
}

/** Rejects keys a detector does not know: a typo must not silently fall back to a default. */
export function known(detector: string, cfg: object, keys: readonly string[]): void {
  for (const k of Object.keys(cfg)) {
    if (k !== 'type' && k !== 'warmup' && !keys.includes(k)) {
      throw new DetectorConfigError(`${detector} has no parameter "${k}"; it takes ${['warmup', ...keys].join(', ')}`, { parameter: `${detector}.${k}` });
    }
  }
}
