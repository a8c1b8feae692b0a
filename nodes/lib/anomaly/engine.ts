/**
 * The anomaly engine: one detector per series (device × field), a cap on the
 * number of series with least-recently-seen eviction, device heartbeats, and
 * state that can be saved and restored. This is what the Node-RED node holds.
 */
import { DetectorConfigError } from '../errors';
import type { Reading } from '../reading';
import { compileDetector, DEFAULT_DETECTOR, type DetectorFactory } from './config';
import { judgeColumns, type ColumnJudge, type ColumnSink, type ReadingColumns, type SeriesRef } from './engine-columns';
import { Cadence, offlineEvent, onlineEvent, type HeartbeatEvent } from './heartbeat';
import type { Detector, FieldContext, Outcome } from './types';
import type { AnomalyEngineOptions, DeviceState, EngineState, EngineStats, ReadingResult, SeriesState, StateHead } from './engine-types';
import { detectorKey, resolveOptions } from './engine-options';

export type { ColumnSink, ReadingColumns, SeriesRef } from './engine-columns';
export type { AnomalyEngineOptions, DeviceState, EngineState, EngineStats, ReadingResult, SeriesState, StateHead } from './engine-types';
export { DEFAULT_MAX_SERIES_PER_DEVICE } from './engine-options';

interface Series extends SeriesRef {
  detector: Detector;
  ctx: FieldContext;
  dev: DeviceRec;
  /** Time of the newest reading judged; NaN before the first. */
  lastTs: number;
  // Intrusive list, most recent at head: moving a series costs four pointer writes.
  prev: Series | null;
  next: Series | null;
}

/** An engine being restored a part at a time: every device, then every series, then done(). */
export interface EngineRestore {
  device(d: DeviceState): void;
  series(s: SeriesState): void;
  done(): AnomalyEngine;
}

interface DeviceRec {
  name: string;
  series: Map<string, Series>;
  lastSeen: number;
  lastTs: number;
  cadence: Cadence;
  offline: boolean;
}

export class AnomalyEngine implements ColumnJudge<DeviceRec> {
  private readonly make: DetectorFactory;
  /** Score at which a verdict is an anomaly. */
  readonly threshold: number;
  private readonly maxSeries: number;
  private readonly maxSeriesPerDevice: number;
  private readonly watch: Set<string> | null;
  private readonly units: Record<string, string>;
  private readonly heartbeat: { intervalMs?: number; missed: number } | null;
  private readonly clock: () => number;
  private readonly devices = new Map<string, DeviceRec>();
  private head: Series | null = null;
  private tail: Series | null = null;
  private count = 0;
  private evictedTotal = 0;
  /** Devices with `offline` set, kept as they change: stats() goes with every batch the worker judges. */
  private offlineDevices = 0;

  constructor(private readonly options: AnomalyEngineOptions = {}) {
    const r = resolveOptions(options);
    this.threshold = r.threshold;
    this.maxSeries = r.maxSeries;
    this.maxSeriesPerDevice = r.maxSeriesPerDevice;
    this.watch = r.watch;
    this.heartbeat = r.heartbeat;
    this.units = { ...(options.units ?? {}) };
    this.clock = options.clock ?? Date.now;
    // The engine reads each outcome before its series' next reading: the detectors may set one outcome again each time.
    this.make = compileDetector(options.detector ?? DEFAULT_DETECTOR, options.warmup, true);
  }

  /** Judges every watched numeric field of one reading, or of each reading of a batch. */
  process(reading: Reading): ReadingResult;
  process(readings: readonly Reading[]): ReadingResult[];
  process(input: Reading | readonly Reading[]): ReadingResult | ReadingResult[] {
    if (Array.isArray(input)) return input.map((r) => this.one(r));
    return this.one(input as Reading);
  }

  private one(r: Reading): ReadingResult {
    const dev = this.device(r.device);
    const result: ReadingResult = { device: r.device, ts: r.ts, anomaly: {}, isAnomaly: false, evicted: [] };
    const heartbeat = this.arrive(dev, r.ts);
    if (heartbeat) result.heartbeat = heartbeat;
    for (const field in r.fields) {
      const v = r.fields[field];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const o = this.judge(dev, field, r.ts, v, result.evicted);
      if (o === undefined) continue;
      if (!o) {
        result.anomaly[field] = null;
        continue;
      }
      const isAnomaly = o.score >= this.threshold;
      if (isAnomaly) result.isAnomaly = true;
      result.anomaly[field] = {
        score: o.score,
        isAnomaly,
        detector: o.detector!,
        expected: o.expected,
        band: [o.low, o.high],
        reason: o.reason,
        // Last, as remote/protocol.ts puts it: verdicts from both paths are one object shape and the same JSON.
        field,
      };
    }
    return result;
  }

  /**
   * Judges readings given column-wise, as the worker thread receives them
   * (engine-columns.ts): the same judgement as process(), without a Reading
   * or a result object per reading.
   */
  processColumns(b: ReadingColumns, sink: ColumnSink): void {
    judgeColumns<DeviceRec>(this, b, sink);
  }

  /**
   * A reading of `dev` arrives: its cadence and arrival time; the online event when it had been reported offline.
   * Public for engine-columns.ts only, like device() and judge().
   */
  arrive(dev: DeviceRec, ts: number): HeartbeatEvent | undefined {
    const now = this.clock();
    let event: HeartbeatEvent | undefined;
    if (dev.offline && this.heartbeat) {
      event = onlineEvent(dev.name, dev.lastSeen, now, this.expectedEvery(dev) ?? 0);
      this.setOffline(dev, false);
    }
    if (!Number.isNaN(dev.lastTs)) dev.cadence.add(ts - dev.lastTs);
    dev.lastTs = ts;
    dev.lastSeen = now;
    return event;
  }

  /** One numeric field: its detector's outcome (its `detector` set), null while the series warms up, undefined when the field is not watched. */
  judge(dev: DeviceRec, field: string, ts: number, v: number, evicted: SeriesRef[]): Outcome | null | undefined {
    if (this.watch && !this.watch.has(field)) return undefined;
    const s = this.series(dev, field, evicted);
    if (!s) return undefined;
    // A reading no newer than the last one judged (a batch sent again after a lost answer, a late copy) was judged
    // already or comes after the detector moved on: learning it again counts it twice, and doubled spells alarm.
    if (ts <= s.lastTs) return undefined;
    s.lastTs = ts;
    // -0 is the reading 0: a saved state (JSON) cannot tell them apart, so a restored detector must not either.
    const o = s.detector.update(ts, v + 0, s.ctx);
    // Outcomes are the detector's own, set afresh each reading: naming the detector in place costs no copy.
    if (o && o.detector === undefined) o.detector = s.detector.type;
    return o;
  }

  /** The device's record, created on its first reading. */
  device(name: string): DeviceRec {
    let dev = this.devices.get(name);
    if (!dev) {
      dev = { name, series: new Map(), lastSeen: 0, lastTs: NaN, cadence: new Cadence(), offline: false };
      this.devices.set(name, dev);
    }
    return dev;
  }

  /** The series of `field` on `dev`, made when new; undefined when the device already has as many series as it may. */
  private series(dev: DeviceRec, field: string, evicted: SeriesRef[], state?: unknown, lastTs = NaN): Series | undefined {
    let s = dev.series.get(field);
    if (s) {
      if (s !== this.head) {
        this.unlink(s);
        this.pushHead(s);
      }
      return s;
    }
    // Checked before anything is allocated or evicted.
    if (dev.series.size >= this.maxSeriesPerDevice) return undefined;
    while (this.count >= this.maxSeries && this.tail) evicted.push(this.evict(this.tail, dev));
    s = {
      device: dev.name,
      field,
      detector: this.make(state),
      ctx: { field, unit: this.units[field] },
      dev,
      lastTs,
      prev: null,
      next: null,
    };
    dev.series.set(field, s);
    this.pushHead(s);
    this.count++;
    return s;
  }

  private evict(s: Series, current: DeviceRec): SeriesRef {
    this.unlink(s);
    this.count--;
    this.evictedTotal++;
    s.dev.series.delete(s.field);
    // A device with no series left is forgotten too, heartbeat included, unless it is the one being handled.
    if (s.dev.series.size === 0 && s.dev !== current) this.dropDevice(s.dev);
    return { device: s.device, field: s.field };
  }

  private pushHead(s: Series): void {
    s.prev = null;
    s.next = this.head;
    if (this.head) this.head.prev = s;
    this.head = s;
    if (!this.tail) this.tail = s;
  }

  private unlink(s: Series): void {
    if (s.prev) s.prev.next = s.next;
    else this.head = s.next;
    if (s.next) s.next.prev = s.prev;
    else this.tail = s.prev;
    s.prev = s.next = null;
  }

  private setOffline(dev: DeviceRec, offline: boolean): void {
    if (dev.offline === offline) return;
    dev.offline = offline;
    this.offlineDevices += offline ? 1 : -1;
  }

  private dropDevice(dev: DeviceRec): void {
    this.devices.delete(dev.name);
    if (dev.offline) this.offlineDevices--;
  }

  private expectedEvery(dev: DeviceRec): number | undefined {
    return this.heartbeat?.intervalMs ?? dev.cadence.typical();
  }

  /**
   * Devices that have just gone silent for `missed` expected intervals. Each
   * is reported once; it is reported again only after it has sent data.
   */
  checkHeartbeats(now: number = this.clock()): HeartbeatEvent[] {
    const events: HeartbeatEvent[] = [];
    if (!this.heartbeat) return events;
    for (const dev of this.devices.values()) {
      if (dev.offline) continue;
      const every = this.expectedEvery(dev);
      if (every === undefined) continue;
      if (now - dev.lastSeen >= this.heartbeat.missed * every) {
        this.setOffline(dev, true);
        events.push(offlineEvent(dev.name, dev.lastSeen, now, every));
      }
    }
    return events;
  }

  stats(): EngineStats {
    return { series: this.count, devices: this.devices.size, offline: this.offlineDevices, evicted: this.evictedTotal };
  }

  /** Plain JSON (no typed arrays, NaN or Infinity), safe for Node-RED context stores. */
  toJSON(): EngineState {
    return this.exportDevices(() => true);
  }

  /** What a saved state says before its parts: the options and how many devices and series follow. */
  stateHead(): StateHead {
    const { clock: _clock, ...options } = this.options;
    return { version: 1, options, devices: this.devices.size, series: this.count };
  }

  /**
   * The saved devices, one at a time, in the order restoring() takes them: with toJSON() a state of
   * thousands of series is one object and one text at once; a part at a time it is written out
   * while only one part exists (state-file.ts).
   */
  *deviceStates(keep: (device: string) => boolean = () => true): Generator<DeviceState> {
    for (const d of this.devices.values()) {
      if (keep(d.name)) yield { device: d.name, lastSeen: d.lastSeen, lastTs: Number.isNaN(d.lastTs) ? null : d.lastTs, gaps: d.cadence.toJSON(), offline: d.offline };
    }
  }

  /** The saved series, one at a time, least recently seen first (so restoring them leaves the same order). */
  *seriesStates(keep: (device: string) => boolean = () => true): Generator<SeriesState> {
    for (let s = this.tail; s; s = s.prev) {
      if (!keep(s.device)) continue;
      const saved: SeriesState = { device: s.device, field: s.field, state: s.detector.toJSON() };
      if (!Number.isNaN(s.lastTs)) saved.lastTs = s.lastTs;
      yield saved;
    }
  }

  /** Every device the engine holds (series or heartbeat). */
  deviceNames(): string[] {
    return [...this.devices.keys()];
  }

  /** The state of the devices `keep` accepts (their series and heartbeat), for another engine's importDevices(). */
  exportDevices(keep: (device: string) => boolean): EngineState {
    const { devices: _d, series: _s, ...head } = this.stateHead();
    return { ...head, series: [...this.seriesStates(keep)], devices: [...this.deviceStates(keep)] };
  }

  /**
   * Takes over devices exported by another engine (exportDevices): what this
   * engine held for them is replaced. Series learned under other detector
   * settings are left out (they would be misread); the devices' heartbeat is kept.
   */
  importDevices(state: EngineState): void {
    if (!state || state.version !== 1 || !Array.isArray(state.series) || !Array.isArray(state.devices)) {
      throw new DetectorConfigError('anomaly state to take over is not in a known format (version 1)', { parameter: 'state' });
    }
    const ids = new Set<string>([...state.devices.map((d) => d.device), ...state.series.map((s) => s.device)]);
    this.forgetDevices((id) => ids.has(id));
    for (const d of state.devices) {
      const dev = this.device(d.device);
      dev.lastSeen = d.lastSeen;
      dev.lastTs = d.lastTs ?? NaN;
      dev.cadence = new Cadence(d.gaps);
      this.setOffline(dev, Boolean(d.offline));
    }
    if (detectorKey(this.options) !== detectorKey(state.options ?? {})) return;
    const sink: SeriesRef[] = [];
    for (const s of state.series) this.series(this.device(s.device), s.field, sink, s.state, savedTs(s));
    this.evictedTotal += sink.length;
  }

  /** Drops the devices `drop` accepts, series and heartbeat. Returns how many devices. */
  forgetDevices(drop: (device: string) => boolean): number {
    let n = 0;
    for (const dev of [...this.devices.values()]) {
      if (!drop(dev.name)) continue;
      for (const s of dev.series.values()) {
        this.unlink(s);
        this.count--;
      }
      this.dropDevice(dev);
      n++;
    }
    return n;
  }

  /**
   * Continues from saved state. With `options`, the saved series are kept only
   * if the detector settings are unchanged: state learned by another detector
   * would be misread, so a changed config starts the series afresh.
   */
  static fromJSON(state: EngineState, options?: AnomalyEngineOptions): AnomalyEngine {
    if (!state || state.version !== 1 || !Array.isArray(state.series) || !Array.isArray(state.devices)) {
      throw new DetectorConfigError('saved anomaly state is not in a known format (version 1)', { parameter: 'state' });
    }
    const r = AnomalyEngine.restoring(state.options, options);
    for (const d of state.devices) r.device(d);
    for (const s of state.series) r.series(s);
    return r.done();
  }

  /**
   * An engine restored a part at a time, devices first, then series in the saved order: for state
   * read line by line (state-file.ts) without the whole of it in memory. Series learned under other
   * detector settings than `options` are left out (they would be misread); devices are kept.
   */
  static restoring(saved: Omit<AnomalyEngineOptions, 'clock'>, options?: AnomalyEngineOptions): EngineRestore {
    const engine = new AnomalyEngine(options ?? saved);
    const same = !options || detectorKey(options) === detectorKey(saved ?? {});
    const sink: SeriesRef[] = [];
    return {
      device(d) {
        const dev = engine.device(d.device);
        dev.lastSeen = d.lastSeen;
        dev.lastTs = d.lastTs ?? NaN;
        dev.cadence = new Cadence(d.gaps);
        engine.setOffline(dev, Boolean(d.offline));
      },
      series(s) {
        if (!same) return;
        engine.series(engine.device(s.device), s.field, sink, s.state, savedTs(s));
        sink.length = 0;
      },
      done() {
        // A restore that had to evict (a lower cap than when saved) is not an eviction the user's readings caused.
        engine.evictedTotal = 0;
        return engine;
      },
    };
  }
}

/** A saved series' newest reading time; NaN when the state is older than it or the value is not a time. */
function savedTs(s: SeriesState): number {
  return typeof s.lastTs === 'number' && Number.isFinite(s.lastTs) ? s.lastTs : NaN;
}
