/**
 * The readings mark of the HTTP and CoAP inputs: unsettled readings at which
 * they answer 503 / 5.03 with a retry time (they take requests again at half).
 * Each journaled request counts the readings it holds (and the items it
 * dead-letters), so 100-reading batches pause at what the runtime holds in
 * flight, not at 5,000 requests of them (half a million readings).
 */
export const DEFAULT_INPUT_HIGH_WATER_READINGS = 50_000;

/** The mark from the editor or a hand-written flow; unset: the default, or 0 when the request mark is 0 (backpressure off). */
export function inputReadingsMark(v: unknown, highWater?: unknown): number {
  if (v === undefined || v === null || v === '') return Number(highWater) === 0 && highWater !== '' && highWater !== null && highWater !== undefined ? 0 : DEFAULT_INPUT_HIGH_WATER_READINGS;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_INPUT_HIGH_WATER_READINGS;
}
