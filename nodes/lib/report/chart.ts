/**
 * The geometry of a series chart (axes, ticks, the mean line and the min–max
 * band, threshold lines), computed once and drawn by both the SVG (HTML) and
 * the PDF renderer, so the two files show the same picture.
 */
import type { Period } from './period';
import { timeTicks } from './time-ticks';
import type { FieldStats } from './stats';

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ChartGeometry {
  width: number;
  height: number;
  plot: Box;
  yTicks: Array<{ y: number; label: string }>;
  xTicks: Array<{ x: number; label: string }>;
  /** Mean per bucket; a new segment starts where the readings stop for longer than the series' gap limit (a gap). */
  lines: Array<Array<[number, number]>>;
  /** Closed polygons: max forward, min backward, per segment. */
  bands: Array<Array<[number, number]>>;
  thresholds: Array<{ y: number; label: string; kind: 'above' | 'below' }>;
}

/** 1, 2 or 5 × 10^n steps, about `count` of them across [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < hi) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

export function formatNumber(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  if (v !== 0 && (Math.abs(v) >= 1e9 || Math.abs(v) < 1e-4)) return v.toExponential(digits);
  const r = Number(v.toFixed(digits));
  return r.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function chartGeometry(stats: FieldStats, period: Period, width = 640, height = 210): ChartGeometry | null {
  const buckets = stats.chart;
  if (buckets.length === 0) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const b of buckets) {
    lo = Math.min(lo, b.min);
    hi = Math.max(hi, b.max);
  }
  for (const t of [stats.above, stats.below]) {
    if (t !== null) {
      lo = Math.min(lo, t);
      hi = Math.max(hi, t);
    }
  }
  const ticks = niceTicks(lo, hi);
  const y0 = ticks[0];
  const y1 = ticks[ticks.length - 1];
  const plot: Box = { x: 56, y: 10, w: width - 80, h: height - 40 };
  const sx = (ts: number) => plot.x + ((ts - period.from) / (period.to - period.from)) * plot.w;
  const sy = (v: number) => plot.y + plot.h - ((v - y0) / (y1 - y0)) * plot.h;
  const span = period.to - period.from;
  const xTicks: ChartGeometry['xTicks'] = timeTicks(period.from, period.to, period.timezone).map((t) => ({ x: sx(t.ts), label: t.label }));
  const lines: ChartGeometry['lines'] = [];
  const bands: ChartGeometry['bands'] = [];
  // A line runs on while readings do, however fine the buckets (a few minutes of readings every 5 s leave most
  // 1.5 s buckets empty): it breaks only where the data stops for longer than the series' gap limit, the one
  // its listed gaps use (`gapsLongerThan`, else 3 × the expected or typical interval), so an outage shows.
  // Without a limit (too few readings to infer an interval), a bucket missing between two present ones breaks it.
  const bucketMs = span / 120;
  const gapMs = stats.gapMs;
  const breaks = (a: (typeof buckets)[number], b: (typeof buckets)[number]) => (gapMs !== null ? b.first - a.last > gapMs : b.ts - a.ts > bucketMs * 1.5);
  let seg: typeof buckets = [];
  const flush = () => {
    if (seg.length === 0) return;
    lines.push(seg.map((b) => [sx(b.ts), sy(b.mean)]));
    bands.push([...seg.map((b): [number, number] => [sx(b.ts), sy(b.max)]), ...[...seg].reverse().map((b): [number, number] => [sx(b.ts), sy(b.min)])]);
    seg = [];
  };
  for (const b of buckets) {
    if (seg.length && breaks(seg[seg.length - 1], b)) flush();
    seg.push(b);
  }
  flush();
  const thresholds: ChartGeometry['thresholds'] = [];
  if (stats.above !== null) thresholds.push({ y: sy(stats.above), label: `above ${formatNumber(stats.above)}`, kind: 'above' });
  if (stats.below !== null) thresholds.push({ y: sy(stats.below), label: `below ${formatNumber(stats.below)}`, kind: 'below' });
  return {
    width,
    height,
    plot,
    yTicks: ticks.map((v) => ({ y: sy(v), label: formatNumber(v) })),
    xTicks,
    lines,
    bands,
    thresholds,
  };
}
