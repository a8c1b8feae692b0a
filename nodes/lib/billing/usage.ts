/**
 * Billed quantities from a device's readings, in exact decimals. Readings are
 * fed oldest first; each value is taken as the decimal the device sent
 * (String(0.1) = "0.1"), so sums and integrals carry no binary rounding.
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
    } else if (this.measure === 'integral') {
      this.area = this.area.plus(this.last.plus(v).times(ts - this.lastTs));
    }
    if (this.measure === 'sum') this.sum = this.sum.plus(v);
    this.last = v;
    this.lastTs = ts;
    this.count++;
  }

  result(): DeviceUsage {
    let quantity = new Dec(0);
    if (this.measure === 'sum') quantity = this.sum;
    else if (this.measure === 'integral') quantity = this.area.div(2 * (TIME_UNITS[this.per] ?? TIME_UNITS.h));
    else if (this.first !== undefined && this.last !== undefined) quantity = this.last.minus(this.first);
    const out: DeviceUsage = { device: this.device, field: this.field, measure: this.measure, per: this.per, readings: this.count, quantity: plain(quantity) };
    if (this.first !== undefined) out.first = { ts: this.firstTs, value: plain(this.first) };
    if (this.last !== undefined) out.last = { ts: this.lastTs, value: plain(this.last) };
    return out;
  }
}
