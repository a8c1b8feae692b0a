/** The InfluxDB rows' knobs (environment), constants, row types and what a consumer under test offers. */
import { join } from 'node:path';
import type { CpuBudget } from './influx-budget';

export const env = process.env;
export const ROOT = join(__dirname, '..', '..');
export const READINGS = Number(env.BENCH_INFLUX_READINGS) || 50_000;
export const ROUNDS = Number(env.BENCH_INFLUX_ROUNDS) || 1;
/** BENCH_INFLUX_CONSUMERS: a comma list of upperstack, stock-message, stock-batch, bare (default all). */
export const CONSUMERS = new Set((env.BENCH_INFLUX_CONSUMERS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
/** BENCH_INFLUX_SERVERS: influxdb, victoriametrics (default both; the targets are against InfluxDB 1.x). */
export const SERVERS = (env.BENCH_INFLUX_SERVERS ?? 'influxdb,victoriametrics').split(',').map((s) => s.trim()).filter(Boolean) as ServerKind[];
/** BENCH_INFLUX_SINKPATH=0 leaves out the sink-path rows (bench/influx-sink.ts); BENCH_INFLUX_SINKPATH_READINGS per run. */
export const SINKPATH = env.BENCH_INFLUX_SINKPATH !== '0';
export const SINKPATH_READINGS = Number(env.BENCH_INFLUX_SINKPATH_READINGS) || 200_000;
/** BENCH_INFLUX_ROLLUP=0 leaves out the roll-up query row. */
export const ROLLUP = env.BENCH_INFLUX_ROLLUP !== '0';
/** BENCH_INFLUX_MODE: live, drain or both (default): how a phase measures (see above). */
export const MODE = (env.BENCH_INFLUX_MODE ?? 'both').trim() || 'both';
export const MODES: Measure[] = MODE === 'both' ? ['live', 'drain'] : [MODE as Measure];
if (!MODES.every((m) => m === 'live' || m === 'drain')) throw new Error(`BENCH_INFLUX_MODE must be live, drain or both (got ${MODE})`);
/**
 * BENCH_INFLUX_WARM_BURST: readings of a burst published and stored after the warm-up reading, before the
 * measured bursts (default 20,000; 0 for none, the method before 2026-12-01). Every consumer starts the
 * measured bursts with its path compiled by the JIT, and a whole number of the stock flow's `join` groups.
 */
export const WARM_BURST = env.BENCH_INFLUX_WARM_BURST === undefined ? 20_000 : Number(env.BENCH_INFLUX_WARM_BURST);
export const PUBLISHERS = 2;
export const CLIENTS = 2;
export const INFLIGHT = 100;
/** After the last PUBACK, a count that has not grown for this long is final. */
export const SETTLE_MS = 15_000;
export const PHASE_LIMIT_MS = 600_000;

export type ServerKind = 'influxdb' | 'victoriametrics';

/** live: published while the consumer runs; drain: queued at the broker while it is stopped, then drained. */
export type Measure = 'live' | 'drain';

export type InfluxConsumer = 'upperstack' | 'upperstack-only' | 'upperstack-duckdb' | 'stock-message' | 'stock-batch' | 'bare';

export const INFLUX_CONSUMERS: Record<InfluxConsumer, string> = {
  upperstack: 'Upperstack (default pack: DuckDB + InfluxDB sinks)',
  'upperstack-only': 'Upperstack (InfluxDB only)',
  'upperstack-duckdb': '(context) Upperstack, DuckDB sink only, counted in DuckDB',
  'stock-message': 'stock: mqtt in → influxdb out (per message)',
  'stock-batch': 'stock: mqtt in → join 1000 → influxdb batch',
  bare: 'bare line-protocol writer, 5,000-line POSTs',
};

export interface InfluxBenchRow {
  consumer: InfluxConsumer;
  server: ServerKind;
  measure: Measure;
  round: number;
  readings: number;
  stored: number;
  lost: number;
  seconds: number;
  rate: number;
  /** Seconds from the first publish to the last PUBACK of the broker. */
  ackSeconds: number;
  peakRssMb: number;
  cores: number;
  /** CPU seconds of the consumer process (all threads) while measured. */
  cpuSeconds: number;
  /** CPU seconds of every process in the burst's window, by part (bench/influx-budget.ts). */
  budget?: CpuBudget;
  /** Each new count of the burst's readings in the server and when it was seen, ms from the burst's start. */
  progress?: Array<[number, number]>;
  errors: string;
}

export interface RollupBenchRow {
  points: number;
  writeSeconds: number;
  buckets: number;
  tier: string;
  tierP50Ms: number;
  rawP50Ms: number;
  runs: number;
  equal: boolean;
}

export interface Consumer {
  pid: number | undefined;
  /** Runs bench/cpu-profile.ts: SIGWINCH starts and stops the profile. */
  profiled?: boolean;
  /** Counts somewhere else than InfluxDB (the DuckDB-only context row). */
  count?(device: string): Promise<number>;
  stop(): Promise<void>;
  output(): string;
}
