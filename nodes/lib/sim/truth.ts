/** The ground-truth file: what was injected, where and when, with the run's settings to reproduce it. */
import type { Anomaly } from './anomalies';

export interface TruthDocument {
  generator: 'upperstack simulate';
  seed: number;
  devices: number;
  start: string;
  end: string;
  /** Windows as ISO 8601 times; `fromMs`/`toMs` the same in epoch ms. */
  anomalies: Array<Omit<Anomaly, 'from' | 'to'> & { from: string; to: string; fromMs: number; toMs: number }>;
}

export function truthDocument(run: { seed: number; devices: number; start: number; end: number }, anomalies: readonly Anomaly[]): TruthDocument {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    generator: 'upperstack simulate',
    seed: run.seed,
    devices: run.devices,
    start: iso(run.start),
    end: iso(run.end),
    anomalies: anomalies.map((a) => ({ ...a, from: iso(a.from), to: iso(a.to), fromMs: a.from, toMs: a.to })),
  };
}
