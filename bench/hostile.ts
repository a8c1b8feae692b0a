/**
 * The hostile-mix row of `npm run bench` (BENCH_ONLY=hostile runs only it): the
 * real runtime with the default flow pack takes the 10,000-message mix of
 * test/helpers/hostile-mix.ts (half ordinary readings, half nested 5,000 to
 * 100,000 deep, 20,000 fields wide, long strings, NaN, invalid UTF-8,
 * truncated, junk, too many readings, too large) at QoS 1 from 32 messages in
 * flight. Measured: peak RSS of the runtime process while it takes and works
 * through the mix, and the time from the last PUBACK until it is healthy
 * again: a reading of a new device is queryable, /health answers 200 and the
 * journals hold nothing unsettled. Target: peak RSS ≤ 400 MB.
 */
import mqtt from 'mqtt';
import { startRuntime } from '../test/helpers/runtime';
import { publishMix } from '../test/helpers/hostile-mix';
import { ProcWatch, sleep } from './common';

export interface HostileBenchRow {
  messages: number;
  megabytes: number;
  hostile: number;
  publishSeconds: number;
  /** Last PUBACK → new device queryable, /health 200, journals settled. */
  healthySeconds: number;
  peakRssMb: number;
  /** VmHWM of the runtime since it started (includes start-up). */
  hwmMb: number;
}

const TARGET_RSS_MB = 400;

export async function benchHostile(count = Number(process.env.BENCH_HOSTILE_MESSAGES) || 10_000): Promise<HostileBenchRow> {
  const rt = await startRuntime();
  try {
    const watch = new ProcWatch(rt.proc.pid, 50).begin();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'bench-hostile' });
    const started = Date.now();
    const sent = await publishMix(client, count);
    const acked = Date.now();
    // A device never seen before: its reading shows the pipeline has worked through the mix.
    const probeTs = Date.now();
    await client.publishAsync('devices/bench-after-hostile/telemetry', Buffer.from(JSON.stringify({ ts: probeTs, v: 1 })), { qos: 1 });
    await client.endAsync();
    for (;;) {
      if (Date.now() - acked > 600_000) throw new Error('the runtime did not become healthy within 10 minutes of the hostile mix');
      const [readings, health] = await Promise.all([
        rt.get('/api/v1/readings?device=bench-after-hostile').then((r) => r.json() as Promise<{ readings?: unknown[] }>).catch(() => ({ readings: [] })),
        fetch(`${rt.url}/health`).then(async (r) => ({ status: r.status, body: (await r.json().catch(() => ({}))) as { journal?: { pending?: number } } })).catch(() => ({ status: 0, body: {} as { journal?: { pending?: number } } })),
      ]);
      if ((readings.readings?.length ?? 0) > 0 && health.status === 200 && health.body.journal?.pending === 0) break;
      await sleep(25);
    }
    const healthy = Date.now();
    const mem = watch.end();
    return {
      messages: count,
      megabytes: sent.bytes / 1e6,
      hostile: sent.dead,
      publishSeconds: (acked - started) / 1000,
      healthySeconds: (healthy - acked) / 1000,
      peakRssMb: mem.maxRss / 1048576,
      hwmMb: mem.hwm / 1048576,
    };
  } finally {
    await rt.stop();
  }
}

export function hostileTable(r: HostileBenchRow): string {
  const lines = [
    ['messages', 'hostile', 'MB sent', 'publish s', 'healthy again s', 'peak RSS MB', 'target', 'result'],
    [
      r.messages.toLocaleString('en-US'),
      r.hostile.toLocaleString('en-US'),
      r.megabytes.toFixed(1),
      r.publishSeconds.toFixed(1),
      r.healthySeconds.toFixed(2),
      `${Math.round(r.peakRssMb)} (HWM ${Math.round(r.hwmMb)})`,
      `≤ ${TARGET_RSS_MB} MB`,
      Math.max(r.peakRssMb, r.hwmMb) <= TARGET_RSS_MB ? 'PASS' : 'FAIL',
    ],
  ];
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, fmt(lines[1])].join('\n');
}
