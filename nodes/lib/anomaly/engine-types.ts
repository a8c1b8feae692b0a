/** What the anomaly engine is configured with and what it gives back: options, per-reading results, stats, saved state. */
import type { SeriesRef } from './engine-columns';
import type { HeartbeatEvent, HeartbeatOptions } from './heartbeat';
import type { DetectorConfig, Verdict } from './types';

export interface AnomalyEngineOptions {
  /** Detector for every series; the default ensemble needs no tuning. */
  detector?: DetectorConfig;
  /** Score at which a verdict becomes an anomaly (0..1). */
  threshold?: number;
  /** Most series kept; the least recently seen is dropped to make room. */
  maxSeries?: number;
  /**
   * Most series one device may have (default 100): its further fields are not
   * watched, so one device sending ever new field names cannot evict the other
   * devices' learned series.
   */
  maxSeriesPerDevice?: number;
  /** Only these fields are watched; all numeric fields when absent. */
  fields?: string[];
  /** Units for reasons, by field name: {"temperature": "°C"}. */
  units?: Record<string, string>;
  /** Readings each series needs before verdicts, for detectors that set none. */
  warmup?: number;
  /** false turns heartbeat tracking off. */
  heartbeat?: HeartbeatOptions | false;
  /** Arrival time for heartbeats; Date.now unless a test or a replay says otherwise. */
  clock?: () => number;
}

export interface ReadingResult {
  device: string;
  ts: number;
  /** One entry per watched numeric field: its verdict, or null while that series warms up. */
  anomaly: Record<string, Verdict | null>;
  /** True when any field's verdict is an anomaly. */
  isAnomaly: boolean;
  /** Series dropped to stay within maxSeries while handling this reading. */
  evicted: SeriesRef[];
  /** Set when the device had been reported offline and is sending again. */
  heartbeat?: HeartbeatEvent;
}

export interface EngineStats {
  series: number;
  devices: number;
  offline: number;
  /** Series evicted since the engine started (or was restored). */
  evicted: number;
}

export interface SeriesState {
  device: string;
  field: string;
  state: unknown;
  /** Time of the newest reading judged (absent in state saved by earlier versions). */
  lastTs?: number;
}

export interface DeviceState {
  device: string;
  lastSeen: number;
  lastTs: number | null;
  gaps: number[];
  offline: boolean;
}

export interface EngineState {
  version: 1;
  options: Omit<AnomalyEngineOptions, 'clock'>;
  /** Least recently seen first. */
  series: SeriesState[];
  devices: DeviceState[];
}

/** What precedes a saved state's parts when it is written a part at a time. */
export interface StateHead {
  version: 1;
  options: Omit<AnomalyEngineOptions, 'clock'>;
  devices: number;
  series: number;
}

