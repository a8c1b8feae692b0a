/**
 * What the anomaly node puts on a reading: the verdict of its most anomalous
 * field (and all of them when there are several), and the copies output 2 gets.
 */
import type { HeartbeatEvent, ReadingResult } from '../lib/anomaly';
import type { Verdict } from '../lib/anomaly/types';
import type { Reading } from '../lib/reading';
import { cloneReadingsPayload } from '../lib/reading-clone';

/** A reading on output 1 or 2: the verdict of its most anomalous field, and all of them when there are several. */
export interface AnnotatedReading extends Reading {
  anomaly: Verdict | null;
  anomalies?: Record<string, Verdict | null>;
  heartbeat?: HeartbeatEvent;
}

/** The reading with the verdict of its highest-scoring field (anomalies first; null while every field warms up), and all of them when there are several. */
export function annotate(reading: Reading, result: ReadingResult): AnnotatedReading {
  const out = reading as AnnotatedReading;
  let worst: Verdict | null = null;
  let fields = 0;
  for (const f in result.anomaly) {
    fields++;
    const v = result.anomaly[f];
    if (!v) continue;
    if (!worst || (v.isAnomaly && !worst.isAnomaly) || (v.isAnomaly === worst.isAnomaly && v.score > worst.score)) worst = v;
  }
  // The engine's own verdict, which names its field: one of those in `anomalies`, not a copy.
  out.anomaly = worst;
  if (fields > 1) out.anomalies = result.anomaly;
  if (result.heartbeat) out.heartbeat = result.heartbeat;
  return out;
}

/** A reading of its own for output 2, sharing no object with the one given. */
export function copyOf(r: Reading): Reading {
  return (cloneReadingsPayload(r) as Reading | undefined) ?? structuredClone(r);
}
