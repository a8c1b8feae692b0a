/** Runs a detector config over one recorded series, as the engine would see it live. */
import { AnomalyEngine } from './engine';
import type { DetectorConfig, Verdict } from './types';

export interface Point {
  ts: number;
  value: number;
}

export interface BacktestOptions {
  /** The alarm cut used for `isAnomaly`; scores do not depend on it. */
  threshold?: number;
  warmup?: number;
  /** Name and unit used in reasons. */
  field?: string;
  unit?: string;
}

export interface BacktestResult {
  /** One score per point, 0 while the detector warms up. */
  scores: number[];
  /** One verdict per point, null while the detector warms up. */
  verdicts: Array<Verdict | null>;
}

export function backtest(series: readonly Point[], detector?: DetectorConfig, opts: BacktestOptions = {}): BacktestResult {
  const field = opts.field ?? 'value';
  const engine = new AnomalyEngine({
    detector,
    threshold: opts.threshold,
    warmup: opts.warmup,
    units: opts.unit ? { [field]: opts.unit } : undefined,
    heartbeat: false,
    maxSeries: 1,
  });
  const scores = new Array<number>(series.length);
  const verdicts = new Array<Verdict | null>(series.length);
  for (let i = 0; i < series.length; i++) {
    const p = series[i];
    const v = engine.process({ device: 'series', ts: p.ts, fields: { [field]: p.value }, tags: {} }).anomaly[field] ?? null;
    verdicts[i] = v;
    scores[i] = v ? v.score : 0;
  }
  return { scores, verdicts };
}
