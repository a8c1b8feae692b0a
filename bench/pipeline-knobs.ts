/** The pipeline benchmark's knobs (environment), constants, BENCH_ONLY filter and the rows it collects. */
import { join } from 'node:path';
import type { ThreadCpu } from './common';

export const env = process.env;
/**
 * Readings per measured phase: BENCH_READINGS, default 400,000. A phase's rate is its readings over the time from
 * the first publish to the moment the last one is counted, so it carries a fixed tail: the last readings' way into
 * the store, the count's poll, and how the phase's first second goes. With 100,000 readings (before 2026-12-01) a
 * 10-reading batch phase of ours lasted 0.8–1.2 s, of which 0.1–0.5 s was more than its steady rate accounts for,
 * and the same build read 86,000–130,000 readings/s on the mosquitto batch row from run to run; with 400,000 it read
 * 140,000–150,000 (docs/performance.md, "Phases long enough for the steady state").
 */
export const READINGS = Number(env.BENCH_READINGS) || 400_000;
/**
 * Messages each consumer (ours, the stock flow, the raw subscriber alike, in the same messages from the
 * same publishers) gets before its measured phase: BENCH_WARM_MESSAGES, default 10,000, i.e. 10,000
 * readings before a single-reading phase and 100,000 before a 10-reading batch phase. A young runtime's
 * JIT is still compiling its hot paths on V8's helper threads: with the 5,000 readings used before
 * 2026-12-01 (500 messages of 10) ~190 of our runtime's TurboFan compilations, ~115 of the stock flow's
 * and ~60 of the raw subscriber's still landed in the batch phase. Counted in messages because a
 * message's path (the broker, MQTT parsing, a flow's per-message hops) warms per message; 100,000
 * readings before single-reading phases too bought none of the three any CPU per reading and cost
 * the stock flow some (its larger store). A fixed count, not a share of BENCH_READINGS: how warm a
 * runtime is depends on how much it has run, not on how long the phase after it is.
 */
export const WARM_MESSAGES = Number(env.BENCH_WARM_MESSAGES) || 10_000;
/** Readings of the warm-up for messages of `batch` readings; BENCH_WARM_READINGS sets it in readings for every shape instead. */
export function warmReadings(batch: number): number {
  return Number(env.BENCH_WARM_READINGS) || WARM_MESSAGES * batch;
}
/**
 * NODE_OPTIONS given to every consumer process alike (our runtime, after BENCH_RUNTIME_NODE_OPTIONS; the
 * stock flow; the raw subscriber): a diagnostic preload (e.g. one that turns on --trace-opt) sees all three.
 */
export const CONSUMER_NODE_OPTIONS = env.BENCH_CONSUMER_NODE_OPTIONS ?? '';
export const PUBLISHERS = Number(env.BENCH_PUBLISHERS) || 2;
export const CLIENTS = Number(env.BENCH_CLIENTS) || 2;
export const INFLIGHT = Number(env.BENCH_INFLIGHT) || 100;
export const ROUNDS = Number(env.BENCH_ROUNDS) || 3;
export const BATCH_ROUNDS = Number(env.BENCH_BATCH_ROUNDS) || 1;
export const INGEST_ROUNDS = Number(env.BENCH_INGEST_ROUNDS) || 1;
export const LATENCY_RATE = Number(env.BENCH_LATENCY_RATE) || 10_000;
export const LATENCY_SECONDS = Number(env.BENCH_LATENCY_SECONDS) || 15;
export const IDLE_SECONDS = Number(env.BENCH_IDLE_SECONDS) || 15;
export const PHASE_TIMEOUT_MS = (Number(env.BENCH_PHASE_TIMEOUT_S) || 60) * 1000;
/**
 * Readings of the sustained phase (BENCH_SUSTAINED_READINGS, default 6,000,000): 10-reading batches into the pack
 * as shipped on the embedded broker, as fast as acknowledged, about a minute on this machine. The other phases end
 * within seconds, before the runtime's memory has settled; this one shows what a burst held for longer keeps
 * resident (docs/performance.md, "Longer batch phases: the ratio holds, the peak does not"). Informational: no
 * target row of issue 15 is measured on it.
 */
export const SUSTAINED_READINGS = Number(env.BENCH_SUSTAINED_READINGS) || 6_000_000;
export const ONLY = new Set((env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean));
export const PROBE_EVERY_MS = 10;
/** The latency probe's poll interval (BENCH_POLL_MS, default 25 ms): a diagnostic knob, to see what the polling costs a consumer. */
export const POLL_MS = Number(env.BENCH_POLL_MS) || 25;
export const ROOT = join(__dirname, '..', '..');

// BENCH_ONLY filters per dimension: a dimension none of whose values is listed keeps all of them.
export const GROUPS: Record<string, string[]> = {
  part: ['pipeline', 'latency', 'sustained', 'idle', 'floor', 'anomaly', 'alerts', 'inputs', 'hostile', 'influx'],
  broker: ['embedded', 'mosquitto'],
  shape: ['single', 'batch'],
  consumer: ['upperstack', 'raw', 'stock', 'upperstack-ingest'],
};
// BENCH_ANOMALY=0 leaves out the anomaly engine's table (BENCH_ONLY=anomaly runs only that).
export const ANOMALY = env.BENCH_ANOMALY !== '0' && want('anomaly');
// BENCH_INGEST_ROW=0 leaves out the informational row with the anomaly node disabled.
export const INGEST_ROW = env.BENCH_INGEST_ROW !== '0';
// BENCH_ALERTS=0 leaves out the alert rule engine's table (BENCH_ONLY=alerts runs only it).
export const ALERTS = env.BENCH_ALERTS !== '0' && want('alerts');
// BENCH_HOSTILE=0 leaves out the hostile-mix row (BENCH_ONLY=hostile runs only it).
export const HOSTILE = env.BENCH_HOSTILE !== '0' && want('hostile');
export function want(value: string): boolean {
  if (ONLY.size === 0) return true;
  const g = Object.values(GROUPS).find((gr) => gr.includes(value));
  if (!g || !g.some((v) => ONLY.has(v))) return true;
  return ONLY.has(value);
}

/** upperstack: the flow pack as shipped; upperstack-ingest: the same with its anomaly node disabled (informational). */
export type Consumer = 'upperstack' | 'raw' | 'stock' | 'upperstack-ingest';

/** One measured phase: one consumer, one round. */
export interface Row {
  broker: 'embedded' | 'mosquitto';
  batch: number;
  consumer: Consumer;
  round: number;
  /** Probe latencies (ms) of this phase. */
  latencies: number[];
  readings: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
  samples: number;
  /** Seconds from the first publish to the last PUBACK (publishers see no back-pressure past this). */
  ackSeconds: number;
  /** Peak RSS of the consumer process (bytes): the larger of VmHWM (since the process started) and VmRSS sampled every 100 ms. */
  peakRss: number;
  /** Largest VmRSS sampled during this phase alone. */
  phaseRss: number;
  /** Largest VmRSS sampled in the phase's first seconds (common.ts EARLY_RSS_MS). */
  earlyRss: number;
  consumerCores: number;
  brokerCores: number;
  /** Cores used by all publisher processes together. */
  loadCores: number;
  /** CPU seconds of the consumer process, of a broker process of its own (0 when the consumer hosts it), and of the publishers. */
  consumerCpu: number;
  /** CPU seconds of the consumer's main thread alone (the anomaly worker thread and helper threads left out). */
  consumerMainCpu: number;
  /**
   * The raw subscriber's CPU (µs) per reading over the phase's first half and its second (only in the
   * round's log line): a process still getting faster shows a dearer first half.
   */
  halves?: [number, number];
  /** The consumer's threads by CPU while measured, busiest first (only in the round's log line). */
  consumerThreads?: ThreadCpu[];
  /**
   * CPU seconds the consumer still used after the last reading was stored, until it went quiet (the
   * anomaly worker's queue: it judges after the store). Not in consumerCpu; only in the round's log line.
   */
  consumerAfterCpu?: number;
  brokerCpu: number;
  loadCpu: number;
  note: string;
}

export const rows: Row[] = [];
/** Phases at a fixed publish rate (the latency row). */
export const latencyRows: Row[] = [];
/** The sustained phase (SUSTAINED_READINGS). */
export const sustainedRows: Row[] = [];
export const skipped: string[] = [];

export function log(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}
