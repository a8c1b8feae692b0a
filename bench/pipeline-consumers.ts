/** The consumers' start-up and store access: mosquitto, the stock Node-RED flow, our runtime and the stock flow as store targets. */
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import mqtt from 'mqtt';
import type { Runtime } from '../test/helpers/runtime';
import { tempDir } from '../test/helpers/temp';
import { readingJson, sleep } from './common';
import { startStockRed, stockFlow, type StockRed } from './stock-flow';
import { CLIENTS, CONSUMER_NODE_OPTIONS, PUBLISHERS, env, type Consumer } from './pipeline-knobs';

// ---------------------------------------------------------------- processes

export function findMosquitto(): string | undefined {
  // BENCH_MOSQUITTO=none runs as if it were not installed; a path picks a binary.
  if (env.BENCH_MOSQUITTO) return env.BENCH_MOSQUITTO === 'none' ? undefined : env.BENCH_MOSQUITTO;
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const d of dirs) if (d && existsSync(join(d, 'mosquitto'))) return join(d, 'mosquitto');
  return undefined;
}

export type Stock = StockRed;

export async function startStock(brokerPort: number): Promise<Stock> {
  const dir = tempDir('us-bench-stock-');
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(stockFlow({ brokerPort, filter: 'bench/stock/+/telemetry' })));
  const extra: Record<string, string> = { NODE_OPTIONS: CONSUMER_NODE_OPTIONS };
  if (env.BENCH_PROFILE_DIR) {
    // The same preload as our runtime's (bench/cpu-profile.ts): the stock flow's first measured phase, profiled.
    extra.NODE_OPTIONS = `${CONSUMER_NODE_OPTIONS} --require ${join(__dirname, 'cpu-profile.js')}`.trim();
    extra.BENCH_CPU_PROFILE_OUT = join(env.BENCH_PROFILE_DIR, `stock-${brokerPort}-${Date.now()}.cpuprofile`);
  }
  return startStockRed({ dir, readyPath: '/bench/query?count=none', removeDir: true, env: extra });
}

export interface StoreTarget {
  consumer: Consumer;
  topicPrefix: string;
  pid: number;
  /** Load readings visible in the store for these devices (all start with prefix). */
  count(prefix: string, devices: string[]): Promise<number>;
  /** Probe timestamps (epoch ms) visible after `after`. */
  probes(device: string, after: number): Promise<number[]>;
}

export function devicesOf(prefix: string): string[] {
  const out: string[] = [];
  for (let p = 0; p < PUBLISHERS; p++) for (let c = 0; c < CLIENTS; c++) out.push(`${prefix}-p${p}-c${c}`);
  return out;
}

export function oursTarget(rt: Runtime, consumer: Consumer = 'upperstack'): StoreTarget {
  return {
    consumer,
    topicPrefix: 'devices',
    pid: rt.proc.pid!,
    async count(_prefix, devices) {
      let n = 0;
      for (const d of devices) {
        const res = await rt.get(`/api/v1/readings/aggregate?device=${encodeURIComponent(d)}&field=temperature&fn=count&every=10000d`);
        if (res.status !== 200) throw new Error(`count ${d}: ${res.status} ${await res.text()}`);
        const body = (await res.json()) as { points: Array<{ value: number }> };
        for (const p of body.points) n += p.value;
      }
      return n;
    },
    async probes(device, after) {
      const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&from=${after + 1}&fields=temperature&limit=10000`);
      if (res.status !== 200) throw new Error(`probe ${device}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { readings: Array<{ ts: string }> };
      return body.readings.map((r) => Date.parse(r.ts));
    },
  };
}

export function stockTarget(stock: Stock): StoreTarget {
  return {
    consumer: 'stock',
    topicPrefix: 'bench/stock',
    pid: stock.proc.pid!,
    async count(prefix) {
      return ((await stock.query(`count=${encodeURIComponent(prefix)}`)) as { count: number }).count;
    },
    async probes(device, after) {
      return ((await stock.query(`probe=${encodeURIComponent(device)}&after=${after}`)) as { ts: number[] }).ts;
    },
  };
}

/** Publishes one reading a few times until the consumer has it: its subscription is live. */
export async function awaitSubscribed(url: string, target: StoreTarget, tag: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-ready-${process.pid}-${tag}`, reconnectPeriod: 0 });
  const device = `${tag}-ready`;
  try {
    const end = Date.now() + 30_000;
    for (let i = 0; ; i++) {
      await client.publishAsync(`${target.topicPrefix}/${device}/telemetry`, readingJson(device, 1_600_000_000_000 + i, i), { qos: 1 });
      await sleep(200);
      if ((await target.count(device, [device]).catch(() => 0)) > 0) return;
      if (Date.now() > end) throw new Error(`${target.consumer} never stored the readiness reading`);
    }
  } finally {
    await client.endAsync();
  }
}
