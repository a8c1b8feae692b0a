/**
 * Anomaly engine throughput and memory. Throughput: 100,000 points through
 * AnomalyEngine.process() over 20 series that have finished warming up, so
 * the timed part is steady-state judging; per second of wall time and per
 * second of the process's CPU time (the per-core figure on a shared machine). Memory: heap growth per series
 * with many series, each fed enough points to fill its windows.
 * Run alone: node dist/bench/anomaly.js
 */
import { collectGarbage } from './common';
import { AnomalyEngine } from '../nodes/lib/anomaly/engine';
import type { DetectorConfig } from '../nodes/lib/anomaly/types';
import type { Reading } from '../nodes/lib/reading';

export interface AnomalyBenchRow {
  detector: string;
  pointsPerSec: number;
  /**
   * Points per second of this process's own CPU time: the per-core speed,
   * which a shared machine's load does not lower as it lowers wall time.
   */
  pointsPerCpuSec: number;
  bytesPerSeries: number;
}

interface Case {
  name: string;
  detector?: DetectorConfig;
  /** Points per series before timing / measuring: past the warm-up and with full windows. */
  warm: number;
  /** Series for the memory measurement. */
  memSeries: number;
}

const CASES: Case[] = [
  { name: 'zscore (robust, default)', detector: { type: 'zscore' }, warm: 2100, memSeries: 1000 },
  { name: 'zscore (mean/std)', detector: { type: 'zscore', robust: false }, warm: 2100, memSeries: 1000 },
  { name: 'ewma', detector: { type: 'ewma' }, warm: 100, memSeries: 5000 },
  { name: 'holtwinters (6h season)', detector: { type: 'holtwinters', season: '6h', warmup: 800 }, warm: 900, memSeries: 1000 },
  { name: 'iforest (100 trees)', detector: { type: 'iforest' }, warm: 700, memSeries: 100 },
  { name: 'flatline', detector: { type: 'flatline' }, warm: 200, memSeries: 5000 },
  { name: 'rate', detector: { type: 'rate' }, warm: 1100, memSeries: 1000 },
  { name: 'novelty', detector: { type: 'novelty' }, warm: 2100, memSeries: 1000 },
  {
    name: 'likelihood over zscore + holtwinters + flatline (the default before novelty)',
    detector: { type: 'likelihood', detector: { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'holtwinters' }, { type: 'flatline' }] } },
    warm: 2100,
    memSeries: 500,
  },
  { name: 'default (likelihood over ensemble)', detector: undefined, warm: 2100, memSeries: 500 },
];

const STEP = 60_000;

/** A daily wave with noise and a rare spike: every detector has real work to do. */
function value(series: number, i: number): number {
  const noise = Math.sin(i * 12.9898 + series * 78.233) * 43758.5453;
  return 20 + 5 * Math.sin((2 * Math.PI * i) / 1440) + (noise - Math.floor(noise) - 0.5) + (i % 997 === 0 ? 15 : 0);
}

function reading(series: number, i: number): Reading {
  return { device: `dev-${series}`, ts: 1_700_000_000_000 + i * STEP, fields: { v: value(series, i) }, tags: {} };
}

function engine(c: Case, maxSeries: number): AnomalyEngine {
  return new AnomalyEngine({ detector: c.detector, maxSeries, heartbeat: false, clock: () => 0 });
}

function throughput(c: Case): { wall: number; cpu: number } {
  const series = 20;
  const total = 100_000;
  const e = engine(c, series);
  for (let i = 0; i < c.warm; i++) for (let s = 0; s < series; s++) e.process(reading(s, i));
  // Readings are built before the clock starts so the figure is the engine's alone.
  const batch: Reading[] = [];
  for (let k = 0; k < total; k++) batch.push(reading(k % series, c.warm + Math.floor(k / series)));
  let flagged = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let k = 0; k < total; k++) if (e.process(batch[k]).isAnomaly) flagged++;
  const cpu = process.cpuUsage(c0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // Using the result keeps the loop from being optimised away.
  if (flagged < 0) console.log(flagged);
  return { wall: total / seconds, cpu: total / ((cpu.user + cpu.system) / 1e6) };
}

/** Typed arrays live outside the JS heap, so their buffers are counted too. */
function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function bytesPerSeries(c: Case, gc: () => void): number {
  gc();
  const before = used();
  const e = engine(c, c.memSeries);
  for (let i = 0; i < c.warm; i++) for (let s = 0; s < c.memSeries; s++) e.process(reading(s, i));
  gc();
  const after = used();
  if (e.stats().series !== c.memSeries) throw new Error('series were evicted during the memory run');
  return Math.max(0, (after - before) / c.memSeries);
}

export async function benchAnomaly(): Promise<AnomalyBenchRow[]> {
  const gc = collectGarbage();
  const rows: AnomalyBenchRow[] = [];
  for (const c of CASES) {
    const t = throughput(c);
    rows.push({ detector: c.name, pointsPerSec: Math.round(t.wall), pointsPerCpuSec: Math.round(t.cpu), bytesPerSeries: Math.round(bytesPerSeries(c, gc)) });
  }
  return rows;
}

/** The results as a Markdown table, like the pipeline's. */
export function anomalyTable(rows: AnomalyBenchRow[]): string {
  const lines = [
    ['detector', 'points/s', 'points/CPU-s', 'bytes/series'],
    ...rows.map((r) => [r.detector, r.pointsPerSec.toLocaleString('en-US'), r.pointsPerCpuSec.toLocaleString('en-US'), r.bytesPerSeries.toLocaleString('en-US')]),
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l[0].padEnd(widths[0])} | ${l.slice(1).map((x, i) => x.padStart(widths[i + 1])).join(' | ')} |`;
  return [fmt(lines[0]), `|${'-'.repeat(widths[0] + 2)}|${widths.slice(1).map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}

if (require.main === module) {
  benchAnomaly().then((rows) => console.log(anomalyTable(rows)));
}
