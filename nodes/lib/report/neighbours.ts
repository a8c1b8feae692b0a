/**
 * The readings just outside a period: the last one before its start and the
 * first one at or after its end, per field. The interval that crosses a period
 * boundary belongs partly to each side; without these neighbours it would be
 * counted in no period (an integral of a month of hourly readings would miss
 * the hour across the boundary), and months would not add up to the whole.
 */
import type { FieldValue } from '../reading';
import type { TimeSeriesStore } from '../store/types';

export interface Neighbour {
  ts: number;
  value: FieldValue;
}

const PAGE = 10_000;
/** Look-back windows tried in turn: the nearest reading is found reading about as many rows as its spacing gives. */
const STEPS = [60_000, 3_600_000, 86_400_000];

/** Last value of each field in [at − lookbackMs, at), found in widening windows (the store reads forward only). */
export async function readingsBefore(store: TimeSeriesStore, device: string, fields: readonly string[], at: number, lookbackMs: number): Promise<Map<string, Neighbour>> {
  const found = new Map<string, Neighbour>();
  if (!(lookbackMs > 0)) return found;
  const windows = [...STEPS.filter((w) => w < lookbackMs), lookbackMs];
  for (const w of windows) {
    const missing = fields.filter((f) => !found.has(f));
    if (missing.length === 0) break;
    let cursor: string | undefined;
    do {
      const page = await store.readings({ device, from: at - w, to: at, fields: missing, limit: PAGE, cursor });
      for (const r of page.readings) {
        for (const f of missing) {
          const v = r.fields[f];
          if (v !== undefined) found.set(f, { ts: r.ts, value: v });
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }
  return found;
}

/** First value of each field in [at, at + lookaheadMs). */
export async function readingsFrom(store: TimeSeriesStore, device: string, fields: readonly string[], at: number, lookaheadMs: number): Promise<Map<string, Neighbour>> {
  const found = new Map<string, Neighbour>();
  if (!(lookaheadMs > 0)) return found;
  // One field per query: the first timestamp of a device may not carry every field.
  for (const f of fields) {
    const page = await store.readings({ device, from: at, to: at + lookaheadMs, fields: [f], limit: 1 });
    const r = page.readings[0];
    if (r && r.fields[f] !== undefined) found.set(f, { ts: r.ts, value: r.fields[f] });
  }
  return found;
}
