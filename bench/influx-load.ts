/** The load side of an InfluxDB phase: counting what the server holds, the warm-up reading and the publisher processes. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { influxQuery, type TsdbServer } from '../test/helpers/influxd';
import { sleep, TS_BASE, type PublisherConfig, type PublisherReport } from './common';
import { CLIENTS, INFLIGHT, PUBLISHERS, READINGS, env } from './influx-knobs';

export const countQuery = (prefix: string) => `SELECT count(temperature) FROM telemetry WHERE device =~ /^${prefix}-/`;

/** Samples VictoriaMetrics holds for a device regex (nocache: VictoriaMetrics caches rollup answers). */
export async function countVictoria(vm: TsdbServer, deviceRe: string): Promise<number> {
  try {
    const q = `sum(count_over_time(telemetry_temperature{device=~"${deviceRe}"}[3650d]))`;
    const res = await fetch(`${vm.url}/api/v1/query?${new URLSearchParams({ query: q, nocache: '1' })}`);
    const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
    return Number(body.data?.result?.[0]?.value?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export async function count(influx: TsdbServer, db: string, q: string): Promise<number> {
  try {
    const [res] = await influxQuery(influx, q, db);
    return Number(res.series?.[0]?.values?.[0]?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Publishes a reading of device `warmup` every 500 ms until the consumer stores one (it is subscribed and
 * writing), then waits until nothing of the warm-up is left pending in it. That wait gives every consumer
 * the same start. Without it the stock batched flow's `join` could start the burst with a group the last
 * warm-up reading opened, whose 1 s timer (set at the group's first message, never moved) cut a group short
 * mid-burst and left the burst's last group short of 1,000, waiting up to 1 s for its timer: the live figure
 * moved with where the warm-up ended (docs/performance.md). The wait ends once every warm-up reading is
 * stored, or once the count has not moved for SETTLED_MS since the last publish: a reading published before
 * the consumer had subscribed (the stock flow answers its ready URL before its MQTT subscription is made)
 * was never delivered, so waiting for it would never end. BENCH_INFLUX_WARM_SETTLE=0 returns at the first
 * stored reading (the method before 2026-12-01), for comparisons.
 */
export async function warmUp(url: string, stored: () => Promise<number>, what: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-warmup-${process.pid}`, reconnectPeriod: 0 });
  try {
    const end = Date.now() + 120_000;
    let published = 0;
    for (;;) {
      await client.publishAsync('devices/warmup/telemetry', JSON.stringify({ device: 'warmup', ts: TS_BASE - 100_000 + published, temperature: 1, humidity: 1 }), { qos: 1 });
      published++;
      await sleep(500);
      if ((await stored()) > 0) break;
      if (Date.now() > end) throw new Error(`${what}: no warm-up reading was stored in 120 s`);
    }
    if (env.BENCH_INFLUX_WARM_SETTLE === '0') return;
    let seen = -1;
    let movedAt = Date.now();
    for (;;) {
      const n = await stored();
      if (n >= published) return;
      if (n !== seen) [seen, movedAt] = [n, Date.now()];
      else if (Date.now() - movedAt > SETTLED_MS) return;
      if (Date.now() > end) throw new Error(`${what}: ${published} warm-up readings published, ${n} of them stored in 120 s`);
      await sleep(100);
    }
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}

/** Longer than any consumer holds a reading before writing it (the stock flow's join and our writer: 1 s). */
const SETTLED_MS = 2_500;

export function forkChild(file: string, arg: unknown): ChildProcess {
  return fork(join(__dirname, file), [JSON.stringify(arg)], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...env, NODE_OPTIONS: '' } });
}

/** `beforeGo` runs once every publisher is connected, just before they start; `cpu`: their CPU seconds over the job. */
export async function publish(url: string, devicePrefix: string, beforeGo?: () => void, readings = READINGS): Promise<{ total: number; firstPublish: number; lastAck: number; cpu: number }> {
  const messagesPerClient = Math.floor(readings / (PUBLISHERS * CLIENTS));
  const procs: ChildProcess[] = [];
  const ready: Array<Promise<void>> = [];
  const done: Array<Promise<{ firstPublish: number; lastAck: number; cpuUs: number }>> = [];
  for (let i = 0; i < PUBLISHERS; i++) {
    const cfg: PublisherConfig = { url, topicPrefix: 'devices', clients: CLIENTS, messagesPerClient, batch: 1, devicePrefix, index: i, inflight: INFLIGHT, probeEveryMs: 0 };
    const p = forkChild('publisher.js', cfg);
    procs.push(p);
    const failed = new Promise<never>((_, reject) => {
      p.on('message', (m: PublisherReport) => m.type === 'error' && reject(new Error(`publisher ${i}: ${m.message}`)));
      p.once('exit', (code) => reject(new Error(`publisher ${i} exited with ${code}`)));
    });
    failed.catch(() => undefined);
    ready.push(Promise.race([failed, new Promise<void>((r) => p.on('message', (m: PublisherReport) => m.type === 'ready' && r()))]));
    done.push(Promise.race([failed, new Promise<{ firstPublish: number; lastAck: number; cpuUs: number }>((r) => p.on('message', (m: PublisherReport) => m.type === 'done' && r(m)))]));
  }
  try {
    await Promise.all(ready);
    beforeGo?.();
    for (const p of procs) p.send({ type: 'go' });
    const res = await Promise.all(done);
    return { total: messagesPerClient * PUBLISHERS * CLIENTS, firstPublish: Math.min(...res.map((r) => r.firstPublish)), lastAck: Math.max(...res.map((r) => r.lastAck)), cpu: res.reduce((n, r) => n + r.cpuUs, 0) / 1e6 };
  } finally {
    for (const p of procs) {
      p.removeAllListeners('exit');
      if (p.connected) p.send({ type: 'exit' });
    }
  }
}
