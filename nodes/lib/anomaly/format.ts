/**
 * Words and numbers for reasons. A reason is read by the person on call, so
 * durations come out as "1-hour" or "5 minutes" and values with their unit.
 */
import { DetectorConfigError } from '../errors';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "90s", "5m", "1.5h", "1d", "2w" or a number of milliseconds. */
export function parseDuration(value: string | number, name: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return value;
    throw new DetectorConfigError(`${name} must be a positive duration, got ${value}`, { parameter: name });
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$/i.exec(value);
  if (!m) {
    throw new DetectorConfigError(`${name} "${value}" is not a duration: write e.g. "30s", "5m", "1h", "1d" or "1w"`, { parameter: name });
  }
  const ms = Number(m[1]) * UNIT_MS[m[2].toLowerCase()];
  if (ms <= 0) throw new DetectorConfigError(`${name} must be longer than zero`, { parameter: name });
  return ms;
}

const WORDS: Array<[number, string]> = [
  [604_800_000, 'week'],
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

function split(ms: number): [number, string] {
  for (const [size, word] of WORDS) {
    // A unit is used once the span reaches it, except that 36 hours reads better than 1.5 days.
    const n = ms / size;
    if (n >= 1 && (Number.isInteger(Math.round(n * 10) / 10) || n >= 2)) return [Math.round(n * 10) / 10, word];
  }
  return [Math.max(1, Math.round(ms / 1000)), 'second'];
}

function roundCount(n: number): string {
  return n >= 10 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
}

/** "5 minutes", "1 hour", "2.5 days". */
export function durationWords(ms: number): string {
  const [n, word] = split(ms);
  return `${roundCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** Adjective form: "1-hour", "24-hour", "30-minute". */
export function durationAdjective(ms: number): string {
  const [n, word] = split(ms);
  return `${roundCount(n)}-${word}`;
}

/** Enough digits to tell values apart at the scale people read them. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v));
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(3).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** "91.2 °C", "45 %" is written "45%". */
export function withUnit(v: number, unit: string | undefined): string {
  const n = formatNumber(v);
  if (!unit) return n;
  return unit === '%' ? `${n}%` : `${n} ${unit}`;
}
