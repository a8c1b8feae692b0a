/**
 * Billed quantities from a device's readings, in exact decimals. Readings are
 * fed oldest first; each value is taken as the decimal the device sent
 * (String(0.1) = "0.1"), so sums and integrals carry no binary rounding.
 *
 * The readings just outside the period bill what crosses its boundaries, so
 * that consecutive months add up to the whole:
 * - integral: the segment between the last reading before the start and the
 *   first inside is cut at the start, its value there interpolated linearly
 *   (likewise the segment from the last reading inside to the first at or after the end);
 * - delta: the opening read is the last reading before the start (the closing
 *   read of the month before), as a meter read at each bill; interpolating a
 *   counter would bill fractions of a unit no meter showed.
 */
import { Dec, plain } from './money';
import { TIME_UNITS, type Measure } from './tariff';

export interface MeterReading {
  ts: number;
  value: string;
}

export interface DeviceUsage {
  device: string;
  field: string;
  measure: Measure;
  /** integral: its time unit. */
  per: string;
  readings: number;
  first?: MeterReading;
  last?: MeterReading;
  /** Measured quantity before the meter's scale, as decimal text. */
  quantity: string;
}

export class UsageAccumulator {
  private count = 0;
  private sum = new Dec(0);
  /** Σ (v_i + v_{i+1}) · Δt in value·ms; halved and divided by the time unit once, at the end. */
  private area = new Dec(0);
  private firstTs = 0;
  private first?: InstanceType<typeof Dec>;
  private lastTs = 0;
  private last?: InstanceType<typeof Dec>;
  private opened?: { ts: number; v: Dec; from: number };

  constructor(
    readonly device: string,
    readonly field: string,
    readonly measure: Measure,
    readonly per: string = 'h',
  ) {}

  /** Values must come in ascending time; equal timestamps keep the first. */
  add(ts: number, value: number): void {
    if (!Number.isFinite(value)) return;
    if (this.last !== undefined && ts <= this.lastTs) return;
    const v = new Dec(String(value));
    if (this.last === undefined) {
      this.first = v;
      this.firstTs = ts;
      const o = this.opened;
      if (this.measure === 'integral' && o && o.ts < o.from && ts > o.from) this.area = this.area.plus(segmentPart(o.ts, o.v, ts, v, o.from, ts));
    } else if (this.measure === 'integral') {
      this.area = this.area.plus(this.last.plus(v).times(ts - this.lastTs));
    }
    if (this.measure === 'sum') this.sum = this.sum.plus(v);
    this.last = v;
    this.lastTs = ts;
    this.count++;
  }

  /** The last reading before the period's start `from`; before any add(). */
  opening(ts: number, value: number, from: number): void {
    if (!Number.isFinite(value) || ts >= from || this.last !== undefined) return;
    this.opened = { ts, v: new Dec(String(value)), from };
  }

  /** The first reading at or after the period's end `to`; after the last add(). */
  closing(ts: number, value: number, to: number): void {
    if (this.measure !== 'integral' || !Number.isFinite(value) || ts < to) return;
    const v = new Dec(String(value));
    if (this.last !== undefined) {
      if (this.lastTs < to) this.area = this.area.plus(segmentPart(this.lastTs, this.last, ts, v, this.lastTs, to));
    } else if (this.opened) {
      // No reading inside: the period lies within one segment.
      this.area = this.area.plus(segmentPart(this.opened.ts, this.opened.v, ts, v, this.opened.from, to));
    }
  }

  result(): DeviceUsage {
    let quantity = new Dec(0);
    if (this.measure === 'sum') quantity = this.sum;
    else if (this.measure === 'integral') quantity = this.area.div(2 * (TIME_UNITS[this.per] ?? TIME_UNITS.h));
    const open = this.measure === 'delta' && this.last !== undefined && this.opened ? { ts: this.opened.ts, v: this.opened.v } : this.first !== undefined ? { ts: this.firstTs, v: this.first } : undefined;
    if (this.measure === 'delta' && open && this.last !== undefined) quantity = this.last.minus(open.v);
    const out: DeviceUsage = { device: this.device, field: this.field, measure: this.measure, per: this.per, readings: this.count, quantity: plain(quantity) };
    if (open) out.first = { ts: open.ts, value: plain(open.v) };
    if (this.last !== undefined) out.last = { ts: this.lastTs, value: plain(this.last) };
    return out;
  }
}

/** Twice the area under the line from (t0, v0) to (t1, v1) between a and b (t0 ≤ a ≤ b ≤ t1), in value·ms as `area` keeps it. */
function segmentPart(t0: number, v0: Dec, t1: number, v1: Dec, a: number, b: number): Dec {
  const at = (t: number) => v0.plus(v1.minus(v0).times(t - t0).div(t1 - t0));
  return at(a).plus(at(b)).times(b - a);
}
