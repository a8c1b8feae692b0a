/** The InfluxDB tables and verdicts. */
import type { SinkPathRow } from './influx-sink';
import { INFLUX_CONSUMERS, type InfluxBenchRow, type InfluxConsumer, type Measure, type RollupBenchRow, type ServerKind } from './influx-knobs';

export function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function grid(lines: string[][]): string {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}

export const SERVER_NAME: Record<ServerKind, string> = { influxdb: 'InfluxDB 1.x', victoriametrics: 'VictoriaMetrics' };

export function influxTable(res: { rows: InfluxBenchRow[]; sinkPath?: SinkPathRow[]; rollup?: RollupBenchRow; failures: string[] }): string {
  const out: string[] = [];
  const MEASURE_NAME: Record<Measure, string> = {
    live: 'live burst: published while the consumer runs, first publish → stored',
    drain: 'backlog drain: queued at the broker while the consumer is stopped, continue → stored',
  };
  for (const server of ['influxdb', 'victoriametrics'] as ServerKind[]) {
    for (const measure of ['live', 'drain'] as Measure[]) {
      // Rows written before the drain measure existed have no `measure`: they are live bursts.
      const by = (c: InfluxConsumer) => res.rows.filter((r) => r.consumer === c && r.server === server && (r.measure ?? 'live') === measure);
      if (!res.rows.some((r) => r.server === server && (r.measure ?? 'live') === measure)) continue;
      const rate = (c: InfluxConsumer) => (by(c).length ? median(by(c).map((r) => r.rate)) : NaN);
      out.push(`${SERVER_NAME[server]}, ${MEASURE_NAME[measure]}`, '');
      const lines = [[`consumer → ${SERVER_NAME[server]}`, 'readings/s', 'lost of burst', 'peak RSS MB', 'cores', 'CPU µs/reading', 'acked in s', 'errors']];
      for (const c of Object.keys(INFLUX_CONSUMERS) as InfluxConsumer[]) {
        const rs = by(c);
        if (!rs.length) continue;
        lines.push([
          // UPPERSTACK_STORE=<server>: the server is the only store, no DuckDB.
          c === 'upperstack-only' ? `Upperstack (${SERVER_NAME[server]} only)` : INFLUX_CONSUMERS[c],
          `${Math.round(rate(c)).toLocaleString('en-US')}${rs.length > 1 ? ` (${rs.map((r) => Math.round(r.rate).toLocaleString('en-US')).join(', ')})` : ''}`,
          `${Math.max(...rs.map((r) => r.lost)).toLocaleString('en-US')} of ${rs[0].readings.toLocaleString('en-US')}`,
          String(Math.round(Math.max(...rs.map((r) => r.peakRssMb)))),
          median(rs.map((r) => r.cores)).toFixed(2),
          // CPU time of the consumer process (all its threads) per reading stored: what bounds readings/s on a busy machine.
          String(Math.round(median(rs.map((r) => ((r.cpuSeconds ?? r.cores * r.seconds) / Math.max(1, r.stored)) * 1e6)))),
          median(rs.map((r) => r.ackSeconds)).toFixed(1),
          rs.map((r) => r.errors).filter(Boolean)[0] ?? '',
        ]);
      }
      out.push(grid(lines), '');
      const verdict = (name: string, ratio: number, target: number) => `- ${name}: ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'}× (target ≥ ${target}×) ${Number.isFinite(ratio) ? (ratio >= target ? 'PASS' : 'FAIL') : ''}`;
      for (const [c, name] of [['upperstack', 'Upperstack'], ['upperstack-only', `Upperstack (${SERVER_NAME[server]} only)`]] as Array<[InfluxConsumer, string]>) {
        if (!by(c).length) continue;
        const ours = rate(c);
        if (by('stock-batch').length) out.push(verdict(`${name} vs batched stock flow (${measure})`, ours / rate('stock-batch'), 2));
        out.push(verdict(`${name} vs bare writer (${measure})`, ours / rate('bare'), 0.8));
        const lost = by(c).reduce((s, r) => s + r.lost, 0);
        out.push(`- ${name} lost (${measure}): ${lost} (target 0) ${lost === 0 ? 'PASS' : 'FAIL'}`);
      }
      out.push('');
    }
  }
  const budgeted = res.rows.filter((r) => r.budget);
  if (budgeted.length) {
    // bench/influx-budget.ts: every process of the burst's window, per reading stored (one row per burst).
    const us = (r: InfluxBenchRow, s: number) => ((s / Math.max(1, r.stored)) * 1e6).toFixed(1);
    const lines = [['CPU µs per reading stored', 'burst', 'main thread', 'V8 helpers', 'other threads', 'mosquitto', 'server', 'publishers', 'bench', 'all of these', '2 cores ÷ all, readings/s', 'rest of the machine']];
    for (const r of budgeted) {
      const b = r.budget!;
      const all = b.main + b.v8 + b.rest + b.broker + b.server + b.load + b.bench;
      lines.push([
        r.consumer === 'upperstack-only' ? `Upperstack (${SERVER_NAME[r.server]} only)` : INFLUX_CONSUMERS[r.consumer],
        `${r.measure} r${r.round}`,
        us(r, b.main),
        us(r, b.v8),
        us(r, b.rest),
        us(r, b.broker),
        us(r, b.server),
        us(r, b.load),
        us(r, b.bench),
        us(r, all),
        Math.round(2 / (all / Math.max(1, r.stored))).toLocaleString('en-US'),
        us(r, b.other),
      ]);
    }
    out.push(grid(lines), '');
  }
  if (res.sinkPath?.length) {
    const lines = [['sink path (in process, messages of 100)', 'server', 'readings/s (runs)', 'CPU µs/reading (runs)']];
    for (const server of ['influxdb', 'victoriametrics'] as ServerKind[]) {
      for (const w of ['sink', 'bare'] as const) {
        const rs = res.sinkPath.filter((r) => r.server === server && r.writer === w);
        if (!rs.length) continue;
        lines.push([
          w === 'sink' ? 'DurableWriter → InfluxSink (the pack settings)' : 'bare: line built inline, 5,000-line POSTs',
          SERVER_NAME[server],
          `${Math.round(median(rs.map((r) => r.rate))).toLocaleString('en-US')} (${rs.map((r) => Math.round(r.rate).toLocaleString('en-US')).join(', ')})`,
          `${median(rs.map((r) => r.cpuUsPerReading)).toFixed(2)} (${rs.map((r) => r.cpuUsPerReading.toFixed(2)).join(', ')})`,
        ]);
      }
    }
    out.push(grid(lines));
  }
  if (res.rollup) {
    const r = res.rollup;
    out.push(
      '',
      grid([
        ['roll-up query', 'points', 'written in s', 'buckets', 'tier', 'p50 ms', 'raw rows p50 ms', 'same answer'],
        ['hourly means over a year of 1-minute data', r.points.toLocaleString('en-US'), r.writeSeconds.toFixed(1), r.buckets.toLocaleString('en-US'), r.tier, r.tierP50Ms.toFixed(1), r.rawP50Ms.toFixed(1), r.equal ? 'yes' : 'NO'],
      ]),
    );
  }
  for (const f of res.failures) out.push(`- failed: ${f}`);
  return out.join('\n');
}
