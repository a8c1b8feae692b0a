/** The pipeline tables: summaries over rounds, markdown tables and the verdicts against the targets. */
import { EARLY_RSS_MS, percentile } from './common';
import { LATENCY_RATE, type Consumer, type Row } from './pipeline-knobs';
import { CONSUMER_LABEL, fmtCores, fmtMb, fmtMbAgainst, fmtMs, fmtRate, fmtUs, median } from './pipeline-format';
import { idleRss } from './pipeline-groups';

/** All rounds of one consumer on one broker and message shape. */
export interface Summary {
  broker: Row['broker'];
  batch: number;
  consumer: Consumer;
  rounds: Row[];
  rate: number;
  minRate: number;
  maxRate: number;
  ackRate: number;
  /** Percentiles over the probes of every round together. */
  p50: number;
  p99: number;
  samples: number;
  peakRss: number;
  consumerCores: number;
  brokerCores: number;
  loadCores: number;
  /** CPU seconds per reading: of the consumer process, and of every process involved (consumer, broker, publishers). */
  consumerPerReading: number;
  /** CPU seconds per reading of the consumer's main thread alone. */
  mainPerReading: number;
  allPerReading: number;
  notes: string;
}

export function summaries(from: Row[]): Summary[] {
  const out: Summary[] = [];
  for (const r of from) {
    if (out.some((s) => s.broker === r.broker && s.batch === r.batch && s.consumer === r.consumer)) continue;
    const rs = from.filter((x) => x.broker === r.broker && x.batch === r.batch && x.consumer === r.consumer);
    const lat = rs.flatMap((x) => x.latencies).sort((a, b) => a - b);
    const rates = rs.map((x) => x.rate);
    out.push({
      broker: r.broker,
      batch: r.batch,
      consumer: r.consumer,
      rounds: rs,
      rate: median(rates),
      minRate: Math.min(...rates),
      maxRate: Math.max(...rates),
      ackRate: median(rs.map((x) => x.readings / x.ackSeconds)),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      samples: lat.length,
      peakRss: Math.max(...rs.map((x) => x.peakRss)),
      consumerCores: median(rs.map((x) => x.consumerCores)),
      brokerCores: median(rs.map((x) => x.brokerCores)),
      loadCores: median(rs.map((x) => x.loadCores)),
      consumerPerReading: median(rs.map((x) => x.consumerCpu / x.readings)),
      mainPerReading: median(rs.map((x) => x.consumerMainCpu / x.readings)),
      allPerReading: median(rs.map((x) => (x.consumerCpu + x.brokerCpu + x.loadCpu) / x.readings)),
      notes: rs.map((x) => x.note).filter(Boolean).join('; '),
    });
  }
  return out;
}

export function markdown(head: string[], body: string[][], right: Set<number>): string {
  const lines = [head, ...body];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [fmt(head), sep, ...body.map(fmt)].join('\n');
}

export function table(sums: Summary[]): string {
  const head = ['broker', 'messages', 'consumer', 'readings/s (median)', 'range', 'acked/s', 'p50 ms', 'p99 ms', 'probes', 'peak RSS MB', 'consumer CPU', 'broker CPU', 'load CPU', 'consumer µs/reading', 'all µs/reading', 'note'];
  const body = sums.map((r) => [
    r.broker,
    r.batch === 1 ? '1 reading' : `${r.batch} readings`,
    CONSUMER_LABEL[r.consumer],
    fmtRate(r.rate),
    r.rounds.length > 1 ? `${fmtRate(r.minRate)}–${fmtRate(r.maxRate)}` : '',
    fmtRate(r.ackRate),
    fmtMs(r.p50),
    fmtMs(r.p99),
    String(r.samples),
    fmtMb(r.peakRss),
    fmtCores(r.consumerCores),
    Number.isFinite(r.brokerCores) ? fmtCores(r.brokerCores) : '(same)',
    fmtCores(r.loadCores),
    fmtUs(r.consumerPerReading),
    fmtUs(r.allPerReading),
    r.notes,
  ]);
  return markdown(head, body, new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]));
}

export function latencyTable(sums: Summary[]): string {
  const head = ['broker', 'consumer', 'published/s', 'stored/s', 'p50 ms', 'p99 ms', 'max ms', 'probes', 'peak RSS MB', 'consumer µs/reading', 'note'];
  const body = sums.map((r) => {
    const lat = r.rounds.flatMap((x) => x.latencies);
    return [
      r.broker,
      CONSUMER_LABEL[r.consumer],
      fmtRate(LATENCY_RATE),
      fmtRate(r.rate),
      fmtMs(r.p50),
      fmtMs(r.p99),
      fmtMs(lat.length ? Math.max(...lat) : NaN),
      String(r.samples),
      fmtMb(r.peakRss),
      fmtUs(r.consumerPerReading),
      r.notes,
    ];
  });
  return markdown(head, body, new Set([2, 3, 4, 5, 6, 7, 8, 9]));
}

/**
 * The sustained phase (informational): how fast, and what the runtime keeps resident once a burst has lasted
 * longer than the other phases: RSS at most in the phase's first EARLY_RSS_MS, at most over the whole phase, and the
 * runtime's VmHWM since it started.
 */
export function sustainedTable(list: Row[]): string {
  const head = ['broker', 'messages', 'readings', 'seconds', 'readings/s', `RSS MB, first ${EARLY_RSS_MS / 1000} s`, 'RSS MB, whole phase', 'peak RSS MB', 'consumer µs/reading', 'note'];
  const body = list.map((r) => [
    r.broker,
    `${r.batch} readings`,
    fmtRate(r.readings),
    r.seconds.toFixed(1),
    fmtRate(r.rate),
    fmtMb(r.earlyRss),
    fmtMb(r.phaseRss),
    fmtMb(r.peakRss),
    fmtUs(r.consumerCpu / r.readings),
    r.note,
  ]);
  return markdown(head, body, new Set([2, 3, 4, 5, 6, 7, 8]));
}

export interface Verdict {
  target: string;
  value: string;
  pass: boolean | undefined;
}

/** Ratios are the median of per-round ratios: each pair ran minutes apart at most. */
export function pairedRatio(a: Summary, b: Summary): { median: number; all: number[] } {
  const all: number[] = [];
  for (const x of a.rounds) {
    const y = b.rounds.find((r) => r.round === x.round);
    if (y) all.push(x.rate / y.rate);
  }
  return { median: median(all), all };
}

export const MB = 1024 * 1024;

/** The targets of the pack as shipped (issue 15): ratios within one run, latency at a fixed rate, memory. */
export function verdicts(sums: Summary[], latency: Summary[]): Verdict[] {
  const out: Verdict[] = [];
  const find = (broker: string, batch: number, consumer: Consumer) => sums.find((r) => r.broker === broker && r.batch === batch && r.consumer === consumer);
  const rounds = (all: number[], f: (x: number) => string) => (all.length > 1 ? ` (rounds: ${all.map(f).join(', ')})` : '');
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const times = (x: number) => `${x.toFixed(2)}×`;
  for (const broker of ['embedded', 'mosquitto'] as const) {
    for (const batch of [1, 10]) {
      const ours = find(broker, batch, 'upperstack');
      const raw = find(broker, batch, 'raw');
      const stock = find(broker, batch, 'stock');
      const where = `${broker}, ${batch === 1 ? '1 reading/msg' : `${batch} readings/msg`}`;
      const rawTarget = batch === 1 ? 0.75 : 0.5;
      if (ours && raw) {
        const r = pairedRatio(ours, raw);
        out.push({ target: `ours ≥ ${pct(rawTarget)} of raw ceiling (${where})`, value: `${pct(r.median)}${rounds(r.all, pct)}`, pass: r.median >= rawTarget });
      }
      if (ours && stock) {
        const r = pairedRatio(ours, stock);
        out.push({ target: `ours ${batch === 1 ? '÷' : '≥ 1.5×'} stock flow (${where})`, value: `${times(r.median)}${rounds(r.all, times)}`, pass: batch === 1 ? undefined : r.median >= 1.5 });
      }
      if (raw && stock) {
        const r = pairedRatio(raw, stock);
        out.push({ target: `(context) raw ceiling ÷ stock flow (${where})`, value: times(r.median), pass: undefined });
      }
      for (const c of [ours, find(broker, batch, 'upperstack-ingest')]) {
        if (c) out.push({ target: `peak RSS ≤ 300 MB (${where}${c.consumer === 'upperstack' ? '' : ', no anomaly'})`, value: `${fmtMbAgainst(c.peakRss, 300)} MB`, pass: c.peakRss > 0 && c.peakRss <= 300 * MB });
      }
      const ingest = find(broker, batch, 'upperstack-ingest');
      if (ours && ingest) {
        // Not paired by round: it ran on its own runtime after the main rounds.
        out.push({ target: `(context) as shipped ÷ anomaly node disabled (${where})`, value: `${pct(ours.rate / ingest.rate)} of the readings/s; CPU ${fmtUs(ours.consumerPerReading)} vs ${fmtUs(ingest.consumerPerReading)} µs/reading, main thread ${fmtUs(ours.mainPerReading)} vs ${fmtUs(ingest.mainPerReading)}`, pass: undefined });
      }
    }
  }
  const lat = latency.find((r) => r.consumer === 'upperstack');
  if (lat) {
    out.push({ target: `p99 ≤ 100 ms at ${fmtRate(LATENCY_RATE)} readings/s, published → queryable (${lat.broker})`, value: `${fmtMs(lat.p99)} ms (p50 ${fmtMs(lat.p50)}, ${lat.samples} probes)`, pass: lat.p99 <= 100 });
    out.push({ target: `peak RSS ≤ 300 MB (latency row)`, value: `${fmtMbAgainst(lat.peakRss, 300)} MB`, pass: lat.peakRss > 0 && lat.peakRss <= 300 * MB });
  }
  if (idleRss) out.push({ target: `idle RSS ≤ 150 MB (${idleRss.afterSeconds} s after start, pack as shipped)`, value: `${fmtMbAgainst(idleRss.rss, 150)} MB`, pass: idleRss.rss <= 150 * MB });
  return out;
}

export function verdictTable(v: Verdict[]): string {
  const lines = [['target', 'measured', 'result'], ...v.map((x) => [x.target, x.value, x.pass === undefined ? '-' : x.pass ? 'PASS' : 'FAIL'])];
  const widths = [0, 1, 2].map((i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}
