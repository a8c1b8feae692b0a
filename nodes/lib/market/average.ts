/**
 * The data market's free product: the mean of each numeric field of a device
 * over each minute (windows aligned to the clock, by the readings' own time).
 *
 * A window's mean is given once, when it closes (the device's first reading of
 * a later window, or the device falling silent), not after every reading: a
 * mean over the last minute recomputed at each reading would let anyone work
 * the individual readings back out of two neighbouring means, which is exactly
 * what the paid live stream sells.
 */
import type { Reading } from '../reading';

export interface WindowMean {
  device: string;
  /** Start of the window (epoch ms, UTC); the window is [ts, end). */
  ts: number;
  end: number;
  /** Mean of each numeric field over the window. */
  fields: Record<string, number>;
  /** How many readings each mean is made of. */
  n: Record<string, number>;
}

export interface AveragerOptions {
  /** Window length (default one minute). */
  windowMs?: number;
  /** Devices followed at once; the one silent longest is closed to make room (default 10,000). */
  maxDevices?: number;
  /** Numeric fields kept per device and window; more are left out of the mean (default 256). */
  maxFields?: number;
}

interface Open {
  start: number;
  sums: Map<string, { sum: number; n: number }>;
  /** Wall-clock time of the last reading, for closing windows of silent devices. */
  seenAt: number;
}

export class MinuteAverager {
  readonly windowMs: number;
  private readonly maxDevices: number;
  private readonly maxFields: number;
  private open = new Map<string, Open>();
  /** Readings older than the device's open window (late or out of order): in the live stream, not in a mean. */
  late = 0;

  constructor(opts: AveragerOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxDevices = opts.maxDevices ?? 10_000;
    this.maxFields = opts.maxFields ?? 256;
    if (!Number.isInteger(this.windowMs) || this.windowMs < 1000) throw new RangeError('the window must be a whole number of milliseconds, at least 1000');
  }

  /** Adds one reading; returns the means of the windows it closes (at most one). */
  add(r: Reading, seenAt: number): WindowMean[] {
    const start = Math.floor(r.ts / this.windowMs) * this.windowMs;
    const out: WindowMean[] = [];
    let w = this.open.get(r.device);
    if (w && start < w.start) {
      this.late++;
      return out;
    }
    if (w && start > w.start) {
      const mean = this.mean(r.device, w);
      if (mean) out.push(mean);
      w = undefined;
    }
    if (!w) {
      if (!this.open.has(r.device) && this.open.size >= this.maxDevices) out.push(...this.evictOne());
      w = { start, sums: new Map(), seenAt };
    }
    // Re-inserted so the map's order is "silent longest first".
    this.open.delete(r.device);
    this.open.set(r.device, w);
    w.seenAt = seenAt;
    for (const [name, v] of Object.entries(r.fields)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      let s = w.sums.get(name);
      if (!s) {
        if (w.sums.size >= this.maxFields) continue;
        s = { sum: 0, n: 0 };
        w.sums.set(name, s);
      }
      s.sum += v;
      s.n++;
    }
    return out;
  }

  /** Closes the windows of devices that sent nothing since `before` (wall clock). */
  closeSilent(before: number): WindowMean[] {
    const out: WindowMean[] = [];
    for (const [device, w] of this.open) {
      if (w.seenAt >= before) break;
      this.open.delete(device);
      const mean = this.mean(device, w);
      if (mean) out.push(mean);
    }
    return out;
  }

  get devices(): number {
    return this.open.size;
  }

  private evictOne(): WindowMean[] {
    const first = this.open.entries().next().value;
    if (!first) return [];
    this.open.delete(first[0]);
    const mean = this.mean(first[0], first[1]);
    return mean ? [mean] : [];
  }

  private mean(device: string, w: Open): WindowMean | undefined {
    if (w.sums.size === 0) return undefined;
    const fields: Record<string, number> = {};
    const n: Record<string, number> = {};
    for (const [name, s] of w.sums) {
      fields[name] = s.sum / s.n;
      n[name] = s.n;
    }
    return { device, ts: w.start, end: w.start + this.windowMs, fields, n };
  }
}

/** The market's topics for a device. */
export function marketTopics(device: string): { averages: string; live: string } {
  return { averages: `market/${device}/1m`, live: `market/${device}/live` };
}
