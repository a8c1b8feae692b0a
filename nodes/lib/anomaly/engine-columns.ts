/**
 * The anomaly engine's column-wise path: readings as columns of numbers, the
 * way the worker thread receives them (remote/protocol.ts), judged without a
 * Reading or a result object per reading. The judgement itself (series,
 * heartbeats, detectors) is the engine's, through ColumnJudge, so a batch
 * judged here gets the same verdicts as AnomalyEngine.process().
 */
import type { HeartbeatEvent } from './heartbeat';
import type { Outcome } from './types';

export interface SeriesRef {
  device: string;
  field: string;
}

/**
 * Readings column by column (see AnomalyEngine.processColumns). Names are
 * given once per batch in a table and then by index: the same few device and
 * field names recur on every reading.
 */
export interface ReadingColumns {
  n: number;
  /** Reading i is from deviceTable[device[i]]. */
  deviceTable: readonly string[];
  device: ArrayLike<number>;
  ts: ArrayLike<number>;
  /** Reading i has the next nf[i] entries. */
  nf: ArrayLike<number>;
  /** Entry k is field nameTable[name[k]] with value values[k], a finite number. */
  nameTable: readonly string[];
  name: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** Where processColumns puts what it judged. */
export interface ColumnSink {
  /**
   * Reading `reading` is about to be judged. The outcomes of the reading before are still as it left them: its
   * next reading of the same series sets the same outcome objects again (the detectors reuse theirs).
   */
  reading(reading: number): void;
  /** Field entry `entry` of reading `reading` is watched: its outcome (`detector` set), null while its series warms up. */
  field(reading: number, entry: number, o: Outcome | null, isAnomaly: boolean): void;
  /** Reading `reading` evicted series or brought its device back online (rare). */
  extras(reading: number, evicted: SeriesRef[], heartbeat: HeartbeatEvent | undefined): void;
}

/** What judging columns needs of the engine (AnomalyEngine implements it; `D` is its per-device record). */
export interface ColumnJudge<D> {
  readonly threshold: number;
  /** The device's record, created on its first reading. */
  device(name: string): D;
  /** A reading of `dev` arrives at `ts`: the online event when it had been reported offline. */
  arrive(dev: D, ts: number): HeartbeatEvent | undefined;
  /** One numeric field: its outcome, null while the series warms up, undefined when the field is not watched. */
  judge(dev: D, field: string, ts: number, v: number, evicted: SeriesRef[]): Outcome | null | undefined;
}

/** Judges every reading of `b` in order; `sink` gets each watched field's outcome as it is judged. */
export function judgeColumns<D>(engine: ColumnJudge<D>, b: ReadingColumns, sink: ColumnSink): void {
  const evicted: SeriesRef[] = [];
  const threshold = engine.threshold;
  let at = 0;
  for (let i = 0; i < b.n; i++) {
    const ts = b.ts[i];
    sink.reading(i);
    const dev = engine.device(b.deviceTable[b.device[i]]);
    const heartbeat = engine.arrive(dev, ts);
    for (const end = at + b.nf[i]; at < end; at++) {
      const o = engine.judge(dev, b.nameTable[b.name[at]], ts, b.values[at], evicted);
      if (o !== undefined) sink.field(i, at, o, o !== null && o.score >= threshold);
    }
    if (heartbeat || evicted.length) {
      sink.extras(i, evicted.splice(0), heartbeat);
    }
  }
}
