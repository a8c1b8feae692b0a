/**
 * Reading what was sent back through the query API, as a user checks that it arrived: the store writes
 * after the inputs acknowledge, so the count is read again until it is reached.
 */
import { eventually, type Runtime } from './runtime';

/** A stored reading as the query API answers it. */
export interface StoredReading {
  device: string;
  ts: string;
  fields: Record<string, unknown>;
  tags?: Record<string, string>;
}

export interface ReadBackOptions {
  /** Readings asked for in one query (the API answers 10,000 at most); 10,000 unless given. */
  limit?: number;
  /** Time ranges (`to=…`, `from=…`), each read once per device: a device with more readings than one answer holds. */
  ranges?: readonly string[];
  /** How long to keep reading; 30 s unless given. */
  ms?: number;
}

/** One answer of the query API for a device: its readings, at most `limit`, within `range` if given. */
export async function storedReadings(rt: Pick<Runtime, 'get'>, device: string, { limit = 10_000, range }: { limit?: number; range?: string } = {}): Promise<StoredReading[]> {
  const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=${limit}${range ? `&${range}` : ''}`);
  return ((await res.json()) as { readings: StoredReading[] }).readings;
}

/**
 * Reads the devices' readings back until together they are `expected` (exactly, or `{ atLeast }`), and returns
 * that count; fails naming `what` and the count last read.
 */
export async function readBack(rt: Pick<Runtime, 'get'>, devices: readonly string[], expected: number | { atLeast: number }, what: string, opts: ReadBackOptions = {}): Promise<number> {
  const { limit, ms = 30_000 } = opts;
  const ranges: ReadonlyArray<string | undefined> = opts.ranges ?? [undefined];
  const reached = typeof expected === 'number' ? (n: number) => n === expected : (n: number) => n >= expected.atLeast;
  let last = 0;
  try {
    return await eventually(async () => {
      let n = 0;
      for (const device of devices) for (const range of ranges) n += (await storedReadings(rt, device, { limit, range })).length;
      last = n;
      return reached(n) ? n : undefined;
    }, ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message} (last read: ${last})`, { cause: err });
  }
}
