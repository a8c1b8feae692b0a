/** Number formats and labels shared by the log lines and the tables. */
import type { Consumer, Row } from './pipeline-knobs';

/**
 * The busiest threads in µs per reading, as `+<tid − pid>:<µs>`. +0 is the main thread; the others are
 * numbered in creation order (other processes' threads take ids in between): V8's four platform
 * workers (garbage collection, compilation) right after the start, the libuv pool's four later, the
 * anomaly worker last.
 */
export function threadShares(row: Row): string {
  const top = (row.consumerThreads ?? []).filter((t) => t.cpu > 0).slice(0, 8);
  return top.map((t) => `+${t.tid}:${fmtUs(t.cpu / row.readings)}`).join(' ');
}

export function fmtRate(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}
export function fmtMs(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n)) : '-';
}
export function fmtMb(n: number): string {
  return n > 0 ? String(Math.round(n / (1024 * 1024))) : '-';
}
/**
 * Bytes as MB for a verdict against `limitMb`: whole MB, or one decimal where whole MB would read as
 * the limit itself (150.4 against "≤ 150" is a FAIL, and "150 MB FAIL" left readers guessing).
 */
export function fmtMbAgainst(n: number, limitMb: number): string {
  const mb = n / (1024 * 1024);
  return n > 0 && Math.round(mb) === limitMb && mb !== limitMb ? mb.toFixed(1) : fmtMb(n);
}
export function fmtCores(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '-';
}
/** Seconds per reading as microseconds. */
export function fmtUs(secondsPerReading: number): string {
  return Number.isFinite(secondsPerReading) ? (secondsPerReading * 1e6).toFixed(1) : '-';
}

export const CONSUMER_LABEL: Record<Consumer, string> = {
  raw: 'raw MQTT.js (ceiling)',
  stock: 'stock Node-RED flow',
  upperstack: 'Upperstack (pack as shipped)',
  'upperstack-ingest': 'Upperstack, no anomaly (info)',
};

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
