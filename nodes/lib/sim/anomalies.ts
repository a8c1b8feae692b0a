/**
 * Injected anomalies and their ground truth. Anomalies start at random (a
 * Poisson process over the whole fleet, in simulated time) on a random device
 * and field; each is labelled with its kind and window, so that a detector's
 * output can be scored against what really happened.
 *
 * - spike: one reading far off (±6–10 × the field's scale);
 * - shift: a level shift of ±3–6 × scale for the window;
 * - drift: an offset growing linearly to ±4–8 × scale over the window;
 * - stuck: the sensor repeats its last value for the window;
 * - dropout: the device sends nothing for the window (field "*").
 */
import { FIELDS, type DeviceState, type FieldValue } from './profiles';
import type { Random } from './random';

export type AnomalyKind = 'spike' | 'shift' | 'drift' | 'stuck' | 'dropout';
export const ANOMALY_KINDS: readonly AnomalyKind[] = ['spike', 'shift', 'drift', 'stuck', 'dropout'];

/** One labelled anomaly, as written to the ground-truth file. */
export interface Anomaly {
  device: string;
  /** The field it affects; "*" for a dropout. */
  field: string;
  kind: AnomalyKind;
  /** Epoch ms of the first affected reading (or of the window for a dropout). */
  from: number;
  /** Epoch ms of the last affected reading (the window's end for a dropout). */
  to: number;
  /** The offset added (spike, shift) or reached (drift), in the field's unit. */
  magnitude?: number;
}

interface Active {
  kind: AnomalyKind;
  field: string;
  start: number;
  end: number;
  magnitude: number;
  stuck?: FieldValue;
  /** The label, once a reading (or a suppressed one) was affected. */
  label?: Anomaly;
}

const MIN = 60_000;

export class AnomalyInjector {
  private readonly active = new Map<DeviceState, Active>();
  private readonly labels: Anomaly[] = [];

  constructor(
    private readonly rng: Random,
    /** Expected anomalies per simulated hour over the whole fleet. */
    private readonly perHour: number,
    private readonly kinds: readonly AnomalyKind[],
    private readonly onLabel: (a: Anomaly) => void = () => undefined,
  ) {}

  /** Starts the anomalies due in (now - dtMs, now] on devices picked from `devices`. */
  tick(devices: readonly DeviceState[], now: number, dtMs: number): void {
    if (this.perHour <= 0 || this.kinds.length === 0 || devices.length === 0) return;
    // Poisson arrivals, drawn one interval at a time (dt is short, so the loop is too).
    let expected = (this.perHour * dtMs) / 3_600_000;
    while (expected > 0) {
      const p = Math.min(expected, 1);
      expected -= 1;
      if (this.rng.next() >= p) continue;
      const d = devices[this.rng.int(devices.length)];
      if (this.active.has(d)) continue;
      this.start(d, now);
    }
  }

  private start(d: DeviceState, now: number): void {
    const fields = Object.entries(FIELDS[d.profile]).filter(([, f]) => f.anomalies);
    let kinds = this.kinds;
    if (fields.length === 0) kinds = kinds.filter((k) => k === 'dropout' || k === 'stuck');
    if (kinds.length === 0) return;
    const kind = this.rng.pick(kinds);
    const candidates = kind === 'stuck' ? Object.entries(FIELDS[d.profile]).filter(([n]) => n !== 'battery' && n !== 'energy') : fields;
    const [field, spec] = kind === 'dropout' ? ['*', { scale: 1 }] : this.rng.pick(candidates);
    const sign = this.rng.next() < 0.5 ? -1 : 1;
    const magnitude =
      kind === 'spike' ? sign * this.rng.range(6, 10) * spec.scale : kind === 'shift' ? sign * this.rng.range(3, 6) * spec.scale : kind === 'drift' ? sign * this.rng.range(4, 8) * spec.scale : 0;
    const length = kind === 'spike' ? 0 : this.rng.range(kind === 'dropout' ? 2 : 5, kind === 'drift' ? 30 : 15) * MIN;
    this.active.set(d, { kind, field, start: now, end: now + length, magnitude: Math.round(magnitude * 100) / 100 });
  }

  /**
   * Applies the device's active anomaly to a reading about to be sent. Returns
   * false when the reading must not be sent (dropout).
   */
  apply(d: DeviceState, ts: number, fields: Record<string, FieldValue>): boolean {
    const a = this.active.get(d);
    if (!a) return true;
    if (ts > a.end && a.kind !== 'spike') {
      this.active.delete(d);
      return true;
    }
    if (a.kind === 'dropout') {
      this.mark(d, a, ts, a.end);
      return false;
    }
    const v = fields[a.field];
    if (v === undefined) return true;
    switch (a.kind) {
      case 'spike':
        fields[a.field] = round(v as number + a.magnitude);
        this.mark(d, a, ts, ts);
        this.active.delete(d);
        break;
      case 'shift':
        fields[a.field] = round(v as number + a.magnitude);
        this.mark(d, a, ts, ts);
        break;
      case 'drift': {
        const share = a.end > a.start ? Math.min(1, (ts - a.start) / (a.end - a.start)) : 1;
        fields[a.field] = round(v as number + a.magnitude * share);
        this.mark(d, a, ts, ts);
        break;
      }
      case 'stuck':
        if (a.stuck === undefined) a.stuck = v;
        fields[a.field] = a.stuck;
        this.mark(d, a, ts, ts);
        break;
    }
    return true;
  }

  /** Labels an anomaly at its first effect and stretches its window with each later one. */
  private mark(d: DeviceState, a: Active, ts: number, to: number): void {
    if (!a.label) {
      a.label = { device: d.id, field: a.field, kind: a.kind, from: ts, to, ...(a.kind === 'stuck' || a.kind === 'dropout' ? {} : { magnitude: a.magnitude }) };
      this.labels.push(a.label);
      this.onLabel(a.label);
    } else {
      a.label.to = Math.max(a.label.to, to);
    }
  }

  /** Every anomaly that affected at least one reading, oldest first. */
  truth(): readonly Anomaly[] {
    return this.labels;
  }

  /** Clips windows still open at the end of the run. */
  finish(end: number): void {
    for (const a of this.active.values()) if (a.label && a.label.to > end) a.label.to = end;
    this.active.clear();
  }
}

const round = (v: number) => Math.round(v * 100) / 100;
