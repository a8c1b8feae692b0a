/**
 * What a dashboard shows of the readings flowing past: the latest value of each
 * field per device (one table row per device) and the points of each charted
 * field since the last look. Both are bounded: a flood of new device names or
 * fields cannot grow memory past the limits.
 */
import type { FieldValue, Reading } from '../reading';

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
  ts: number;
  fields: Map<string, FieldValue>;
}

/** Fields a device may keep in the table; readings wider than this keep the first ones seen. */
const MAX_FIELDS_PER_DEVICE = 100;

export class LatestValues {
  private readonly devices = new Map<string, DeviceState>();
  private readonly seen = new Set<string>();
  private readonly maxDevices: number;
  private readonly maxColumns: number;
  private changed = false;

  constructor(private readonly opts: LatestOptions = {}) {
    this.maxDevices = opts.maxDevices ?? 1000;
    this.maxColumns = opts.maxColumns ?? 12;
  }

  add(readings: readonly Reading[]): void {
    for (const r of readings) {
      let d = this.devices.get(r.device);
      if (d) {
        // Re-inserted so the map's order is least recently seen first.
        this.devices.delete(r.device);
      } else {
        d = { ts: r.ts, fields: new Map() };
        if (this.devices.size >= this.maxDevices) this.devices.delete(this.devices.keys().next().value as string);
      }
      this.devices.set(r.device, d);
      if (r.ts >= d.ts) d.ts = r.ts;
      for (const [name, value] of Object.entries(r.fields)) {
        // A late reading never overwrites a newer value of the same field.
        if (r.ts < d.ts && d.fields.has(name)) continue;
        if (!d.fields.has(name) && d.fields.size >= MAX_FIELDS_PER_DEVICE) continue;
        d.fields.set(name, value);
        if (this.seen.size < MAX_FIELDS_PER_DEVICE * 10) this.seen.add(name);
      }
      this.changed = true;
    }
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

  /** One row per device, sorted by device; a field the device never sent is left out of its row. */
  rows(): LatestRow[] {
    const cols = this.columns();
    const out: LatestRow[] = [];
    for (const [device, d] of this.devices) {
      const row = { device, time: new Date(d.ts).toISOString() } as LatestRow;
      for (const c of cols) {
        const v = d.fields.get(c);
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

/** Points per field since the last take(); numbers (and booleans as 0/1) only. */
export class ChartPoints {
  private readonly pending = new Map<string, ChartPoint[]>();

  /** @param maxPoints points kept per field between two takes; the oldest go first. */
  constructor(
    readonly fields: readonly string[],
    private readonly maxPoints = 5000,
  ) {
    for (const f of fields) this.pending.set(f, []);
  }

  add(readings: readonly Reading[]): void {
    for (const r of readings) {
      for (const f of this.fields) {
        const v = r.fields[f];
        const value = typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined;
        if (value === undefined || !Number.isFinite(value)) continue;
        const list = this.pending.get(f)!;
        // The oldest go in chunks, not one shift() per point: a full list would move every point, per reading.
        if (list.length >= 2 * this.maxPoints) list.splice(0, list.length - this.maxPoints + 1);
        list.push({ device: r.device, ts: r.ts, value });
      }
    }
  }

  /** The points of each field (in `fields` order) since the last call, oldest first. */
  take(): ChartPoint[][] {
    return this.fields.map((f) => {
      const all = this.pending.get(f)!;
      this.pending.set(f, []);
      const list = all.length > this.maxPoints ? all.slice(all.length - this.maxPoints) : all;
      return list.sort((a, b) => a.ts - b.ts);
    });
  }
}
