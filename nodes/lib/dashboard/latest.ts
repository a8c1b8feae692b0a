/**
 * What a dashboard shows of the readings flowing past: the latest value of each
 * field per device (one table row per device) and the points of each charted
 * field since the last look. Both are bounded: a flood of new device names or
 * fields cannot grow memory past the limits.
 */
import type { FieldValue, Reading } from '../reading';
import { maskValue, type FieldMasks } from '../security/masking';

export interface LatestOptions {
  /** Devices kept; past this the device seen least recently is forgotten. Default 1000. */
  maxDevices?: number;
  /** Field columns of the table in this order; empty: every field seen, by name, at most `maxColumns`. */
  columns?: readonly string[];
  /** Columns when `columns` is empty. Default 12. */
  maxColumns?: number;
}

/** A table row: the device, when it last reported (ISO 8601), then one key per field. */
export type LatestRow = { device: string; time: string } & Record<string, FieldValue>;

interface DeviceState {
  device: string;
  ts: number;
  fields: Map<string, FieldValue>;
  /** Neighbours in the order devices were last heard from (an intrusive list: moving one allocates nothing). */
  newer: DeviceState | undefined;
  older: DeviceState | undefined;
}

/** Fields a device may keep in the table; readings wider than this keep the first ones seen. */
const MAX_FIELDS_PER_DEVICE = 100;

const hasOwn = Object.prototype.hasOwnProperty;

export class LatestValues {
  private readonly devices = new Map<string, DeviceState>();
  /** The device heard from most recently and the one heard from least recently. */
  private newest: DeviceState | undefined;
  private oldest: DeviceState | undefined;
  private readonly seen = new Set<string>();
  private readonly maxDevices: number;
  private readonly maxColumns: number;
  private changed = false;

  constructor(private readonly opts: LatestOptions = {}) {
    this.maxDevices = opts.maxDevices ?? 1000;
    this.maxColumns = opts.maxColumns ?? 12;
  }

  /**
   * Called for every message after the store: it allocates nothing per reading
   * once a device and its fields are known (no entry arrays, no map re-insertion).
   */
  add(readings: readonly Reading[]): void {
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      let d = this.devices.get(r.device);
      if (d) this.touch(d);
      else {
        if (this.devices.size >= this.maxDevices && this.oldest) this.forget(this.oldest);
        d = { device: r.device, ts: r.ts, fields: new Map(), newer: undefined, older: undefined };
        this.devices.set(r.device, d);
        this.link(d);
      }
      if (r.ts >= d.ts) d.ts = r.ts;
      const fields = r.fields;
      for (const name in fields) {
        if (!hasOwn.call(fields, name)) continue;
        // A late reading never overwrites a newer value of the same field.
        if (r.ts < d.ts && d.fields.has(name)) continue;
        if (!d.fields.has(name) && d.fields.size >= MAX_FIELDS_PER_DEVICE) continue;
        d.fields.set(name, fields[name]);
        if (this.seen.size < MAX_FIELDS_PER_DEVICE * 10) this.seen.add(name);
      }
      this.changed = true;
    }
  }

  /** Puts a new device at the newest end. */
  private link(d: DeviceState): void {
    d.older = this.newest;
    d.newer = undefined;
    if (this.newest) this.newest.newer = d;
    this.newest = d;
    if (!this.oldest) this.oldest = d;
  }

  private unlink(d: DeviceState): void {
    if (d.newer) d.newer.older = d.older;
    else this.newest = d.older;
    if (d.older) d.older.newer = d.newer;
    else this.oldest = d.newer;
    d.newer = d.older = undefined;
  }

  /** Moves a device heard from again to the newest end. */
  private touch(d: DeviceState): void {
    if (this.newest === d) return;
    this.unlink(d);
    this.link(d);
  }

  private forget(d: DeviceState): void {
    this.unlink(d);
    this.devices.delete(d.device);
  }

  /** True once after readings arrived: whether rows() has something new to show. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  columns(): string[] {
    if (this.opts.columns?.length) return [...this.opts.columns];
    return [...this.seen].sort().slice(0, this.maxColumns);
  }

  /**
   * One row per device, sorted by device; a field the device never sent is left out of its row.
   * `masks`: sensitive fields as a reader without read:sensitive is served them (a hidden field's column goes).
   */
  rows(masks?: FieldMasks): LatestRow[] {
    const cols = this.columns().filter((c) => masks?.get(c)?.kind !== 'hide');
    const out: LatestRow[] = [];
    for (const [device, d] of this.devices) {
      const row = { device, time: new Date(d.ts).toISOString() } as LatestRow;
      for (const c of cols) {
        const sent = d.fields.get(c);
        const mask = masks?.get(c);
        const v = sent !== undefined && mask ? maskValue(sent, mask) : sent;
        if (v !== undefined) row[c] = typeof v === 'number' ? round(v) : v;
      }
      out.push(row);
    }
    return out.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  }

  get size(): number {
    return this.devices.size;
  }
}

/** Four significant decimals are plenty on a screen; the store keeps the exact value. */
function round(v: number): number {
  return Number.isInteger(v) ? v : Math.round(v * 10_000) / 10_000;
}

/** A chart point: one value of one device at one time. */
export interface ChartPoint {
  device: string;
  ts: number;
  value: number;
}

/** The points of one field since the last take: a ring of the latest `max`, in columns (no object per point). */
class PointRing {
  readonly device: string[] = [];
  readonly ts: Float64Array;
  readonly value: Float64Array;
  /** Where the next point goes, and how many are held. */
  next = 0;
  count = 0;

  constructor(readonly max: number) {
    this.ts = new Float64Array(max);
    this.value = new Float64Array(max);
  }

  push(device: string, ts: number, value: number): void {
    const i = this.next;
    this.device[i] = device;
    this.ts[i] = ts;
    this.value[i] = value;
    this.next = i + 1 === this.max ? 0 : i + 1;
    if (this.count < this.max) this.count++;
  }

  /** The points held, oldest added first, then emptied. */
  take(): ChartPoint[] {
    const out: ChartPoint[] = new Array(this.count);
    let i = (this.next - this.count + this.max) % this.max;
    for (let k = 0; k < this.count; k++) {
      out[k] = { device: this.device[i], ts: this.ts[i], value: this.value[i] };
      i = i + 1 === this.max ? 0 : i + 1;
    }
    this.count = 0;
    this.next = 0;
    // Device names are kept until overwritten: at most `max` strings per field.
    return out;
  }
}

/** Points per field since the last take(); numbers (and booleans as 0/1) only. */
export class ChartPoints {
  private readonly rings: PointRing[];

  /** @param maxPoints points kept per field between two takes; the oldest go first. */
  constructor(
    readonly fields: readonly string[],
    maxPoints = 5000,
  ) {
    const max = Math.max(1, Math.floor(maxPoints));
    this.rings = fields.map(() => new PointRing(max));
  }

  add(readings: readonly Reading[]): void {
    const fields = this.fields;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      for (let f = 0; f < fields.length; f++) {
        const v = r.fields[fields[f]];
        const value = typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined;
        if (value === undefined || !Number.isFinite(value)) continue;
        this.rings[f].push(r.device, r.ts, value);
      }
    }
  }

  /** The points of each field (in `fields` order) since the last call, oldest first. */
  take(): ChartPoint[][] {
    return this.rings.map((ring) => ring.take().sort((a, b) => a.ts - b.ts));
  }
}
