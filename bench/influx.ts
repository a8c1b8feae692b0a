/**
 * The InfluxDB rows of `npm run bench` (BENCH_ONLY=influx runs only these;
 * BENCH_INFLUX=0 leaves them out). One Debian influxd 1.x for all rows, a
 * database per row; each row takes a burst of BENCH_INFLUX_READINGS (50,000)
 * QoS 1 single-reading MQTT messages as fast as the publishers get PUBACKs:
 *
 *   Upperstack        the default pack (anomaly node disabled) with
 *                     UPPERSTACK_INFLUX_URL: journal → decode → validate → store
 *                     (DuckDB + InfluxDB sink, 5,000-line batches), embedded broker
 *   stock per message a plain Node-RED: mqtt in → function → influxdb out
 *                     (node-red-contrib-influxdb), Debian mosquitto
 *   stock batched     mqtt in → join 1000 (1 s) → function → influxdb batch
 *   bare writer       no MQTT: this process posts the same points as line
 *                     protocol in 5,000-line batches (the server's ceiling)
 *
 * readings/s: first publish → the database holds its final count; lost: burst
 * minus what the database holds once the count has not moved for 10 s; peak RSS
 * of the consumer process. Plus a roll-up row: a year of 1-minute readings in the
 * embedded store, hourly means over the year, p50 latency from the 1-hour tier
 * and from the raw rows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, startRuntime } from '../test/helpers/runtime';
import { startMosquitto } from '../test/helpers/mosquitto';
import { influxQuery, startInfluxd, type TsdbServer } from '../test/helpers/influxd';
import { DuckDbStore } from '../nodes/lib/store/duckdb';
import { ProcWatch, percentile, sleep } from './common';

const env = process.env;
const ROOT = join(__dirname, '..', '..');
const BURST = Number(env.BENCH_INFLUX_READINGS) || 50_000;
const CLIENTS = 4;
const INFLIGHT = 100;
const DEVICES = 20;
const T0 = 1_700_000_000_000;
const SETTLE_MS = 10_000;
const MAX_WAIT_MS = (Number(env.BENCH_INFLUX_WAIT_S) || 180) * 1000;

export interface InfluxBenchRow {
  row: string;
  readings: number;
  stored: number;
  lost: number;
  rate: number;
  seconds: number;
  peakRssMb?: number;
}

export interface RollupBenchRow {
  readings: number;
  tier: string;
  p50TierMs: number;
  p50RawMs: number;
  points: number;
}

export interface InfluxBench {
  rows: InfluxBenchRow[];
  rollup?: RollupBenchRow;
  load: { before: number[]; after: number[]; cpus: number };
}

async function count(influx: TsdbServer, db: string): Promise<number> {
  try {
    const [r] = await influxQuery(influx, 'SELECT count(seq) FROM telemetry', db);
    return Number(r.series?.[0]?.values?.[0]?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Waits until the database holds `expected` points, or its count has not moved for SETTLE_MS; returns the count and when it was reached. */
async function settle(influx: TsdbServer, db: string, expected: number): Promise<{ stored: number; at: number }> {
  let last = -1;
  let lastChange = Date.now();
  const end = Date.now() + MAX_WAIT_MS;
  for (;;) {
    const n = await count(influx, db);
    if (n !== last) {
      last = n;
      lastChange = Date.now();
    }
    if (n >= expected) return { stored: n, at: Date.now() };
    if (Date.now() - lastChange > SETTLE_MS || Date.now() > end) return { stored: n, at: lastChange };
    await sleep(100);
  }
}

/** CLIENTS MQTT clients publish the burst (QoS 1, INFLIGHT each); resolves when every PUBACK is in (or the client gave up). */
async function burst(port: number, topic: (device: string) => string, withDevice: boolean): Promise<number> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `bench-influx-${process.pid}-${c}`, reconnectPeriod: 1000 })));
  const started = Date.now();
  await Promise.all(
    clients.map(async (client, c) => {
      const mine: number[] = [];
      for (let seq = c; seq < BURST; seq += CLIENTS) mine.push(seq);
      let next = 0;
      const worker = async () => {
        while (next < mine.length) {
          const seq = mine[next++];
          const device = `inf-${seq % DEVICES}`;
          const body = withDevice ? `{"device":"${device}","ts":${T0 + seq},"seq":${seq}}` : `{"ts":${T0 + seq},"seq":${seq}}`;
          await client.publishAsync(topic(device), body, { qos: 1 }).catch(() => undefined);
        }
      };
      await Promise.all(Array.from({ length: INFLIGHT }, worker));
    }),
  );
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  return started;
}

async function upperstackRow(influx: TsdbServer): Promise<InfluxBenchRow> {
  const dataDir = mkdtempSync(join(tmpdir(), 'us-bench-influx-'));
  const flows = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  for (const n of flows) if (n.type === 'upperstack-anomaly') n.d = true;
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  const rt = await startRuntime({ dataDir, env: { UPPERSTACK_INFLUX_URL: influx.url, UPPERSTACK_INFLUX_DB: 'bench_us' } });
  try {
    const watch = new ProcWatch(rt.proc.pid).begin();
    const started = await burst(rt.mqttPort, (d) => `devices/${d}/telemetry`, false);
    const { stored, at } = await settle(influx, 'bench_us', BURST);
    const w = watch.end();
    return { row: 'Upperstack (pack, DuckDB + InfluxDB sink)', readings: BURST, stored, lost: BURST - stored, rate: stored / ((at - started) / 1000), seconds: (at - started) / 1000, peakRssMb: w.peakRss / 1048576 };
  } finally {
    await rt.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function stockFlow(brokerPort: number, influxPort: number, db: string, batched: boolean): unknown[] {
  const z = 'bench_influx_tab';
  const broker = {
    id: 'bench_broker', type: 'mqtt-broker', name: 'bench broker', broker: '127.0.0.1', port: String(brokerPort), clientid: `bench-stock-influx-${process.pid}`,
    autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true, autoUnsubscribe: true,
    birthTopic: '', birthQos: '0', birthPayload: '', birthMsg: {}, closeTopic: '', closeQos: '0', closePayload: '', closeMsg: {}, willTopic: '', willQos: '0', willPayload: '', willMsg: {}, userProps: '', sessionExpiry: '',
  };
  const server = { id: 'bench_influxdb', type: 'influxdb', hostname: '127.0.0.1', port: String(influxPort), protocol: 'http', database: db, name: 'bench', usetls: false, tls: '', influxdbVersion: '1.x', url: '', rejectUnauthorized: false };
  const mqttIn = (wire: string) => ({ id: 'bench_in', type: 'mqtt in', z, name: '', topic: 'bench/influx/+', qos: '1', datatype: 'json', broker: 'bench_broker', nl: false, rap: true, rh: 0, inputs: 0, x: 120, y: 80, wires: [[wire]] });
  if (!batched) {
    return [
      { id: z, type: 'tab', label: 'stock influxdb out', disabled: false, info: '' },
      broker,
      server,
      mqttIn('bench_fn'),
      { id: 'bench_fn', type: 'function', z, name: 'to point', func: 'const p = msg.payload;\nmsg.payload = [{ seq: p.seq, time: p.ts }, { device: p.device }];\nreturn msg;', outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 80, wires: [['bench_out']] },
      { id: 'bench_out', type: 'influxdb out', z, influxdb: 'bench_influxdb', name: '', measurement: 'telemetry', precision: 'ms', retentionPolicy: '', database: db, precisionV18FluxV20: 'ms', retentionPolicyV18Flux: '', org: '', bucket: '', x: 480, y: 80, wires: [] },
    ];
  }
  return [
    { id: z, type: 'tab', label: 'stock influxdb batch', disabled: false, info: '' },
    broker,
    server,
    mqttIn('bench_join'),
    {
      id: 'bench_join', type: 'join', z, name: 'join 1000', mode: 'custom', build: 'array', property: 'payload', propertyType: 'msg', key: 'topic', joiner: '\\n', joinerType: 'str',
      useparts: false, accumulate: false, timeout: '1', count: '1000', reduceRight: false, reduceExp: '', reduceInit: '', reduceInitType: '', reduceFixup: '', x: 300, y: 80, wires: [['bench_fn']],
    },
    { id: 'bench_fn', type: 'function', z, name: 'to points', func: "msg.payload = msg.payload.map((p) => ({ measurement: 'telemetry', fields: { seq: p.seq }, tags: { device: p.device }, timestamp: new Date(p.ts) }));\nreturn msg;", outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 460, y: 80, wires: [['bench_out']] },
    { id: 'bench_out', type: 'influxdb batch', z, influxdb: 'bench_influxdb', precision: 'ms', retentionPolicy: '', name: '', database: db, precisionV18FluxV20: 'ms', retentionPolicyV18Flux: '', org: '', bucket: '', x: 620, y: 80, wires: [] },
  ];
}

async function stockRow(influx: TsdbServer, batched: boolean): Promise<InfluxBenchRow> {
  const db = batched ? 'bench_stock_batch' : 'bench_stock_each';
  await influxQuery(influx, `CREATE DATABASE ${db}`);
  const mosq = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'us-bench-stock-influx-'));
  const port = await freePort();
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(stockFlow(mosq.port, influx.port, db, batched)));
  const proc = spawn(process.execPath, [join(ROOT, 'node_modules', 'node-red', 'red.js'), '-s', join(__dirname, 'stock-settings.js'), '-u', dir], {
    cwd: dir,
    env: { ...env, NODE_OPTIONS: '', BENCH_STOCK_LOG_LEVEL: 'info', BENCH_STOCK_PORT: String(port), BENCH_STOCK_NODES_DIR: join(ROOT, 'node_modules', 'node-red-contrib-influxdb') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8192)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8192)));
  try {
    // Up once the mqtt in node has subscribed: give it the time Node-RED needs to start.
    const end = Date.now() + 60_000;
    while (!/Started flows/.test(out)) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`stock Node-RED did not start:\n${out}`);
      await sleep(200);
    }
    await sleep(2000);
    const watch = new ProcWatch(proc.pid).begin();
    const started = await burst(mosq.port, (d) => `bench/influx/${d}`, true);
    const { stored, at } = await settle(influx, db, BURST);
    const w = watch.end();
    return { row: batched ? 'stock: mqtt in → join 1000 → influxdb batch' : 'stock: mqtt in → influxdb out (per message)', readings: BURST, stored, lost: BURST - stored, rate: stored / ((at - started) / 1000), seconds: (at - started) / 1000, peakRssMb: w.peakRss / 1048576 };
  } finally {
    proc.kill('SIGKILL');
    await mosq.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The server's ceiling: the same points as line protocol, 5,000 lines per POST, one request at a time. */
async function bareRow(influx: TsdbServer): Promise<InfluxBenchRow> {
  const db = 'bench_bare';
  await influxQuery(influx, `CREATE DATABASE ${db}`);
  const started = Date.now();
  for (let i = 0; i < BURST; i += 5000) {
    const lines: string[] = [];
    for (let seq = i; seq < Math.min(BURST, i + 5000); seq++) lines.push(`telemetry,device=inf-${seq % DEVICES} seq=${seq} ${T0 + seq}`);
    const res = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
    if (res.status !== 204) throw new Error(`bare writer: ${res.status} ${await res.text()}`);
  }
  const { stored, at } = await settle(influx, db, BURST);
  return { row: 'bare line-protocol writer (5,000-line POSTs)', readings: BURST, stored, lost: BURST - stored, rate: stored / ((at - started) / 1000), seconds: (at - started) / 1000 };
}

/** A year of 1-minute readings in the embedded store; hourly means for the year from the 1-hour tier and from the raw rows. */
async function rollupRow(): Promise<RollupBenchRow> {
  const dir = mkdtempSync(join(tmpdir(), 'us-bench-rollup-'));
  const store = new DuckDbStore({ path: join(dir, 'year.duckdb'), memoryLimitMb: 256 });
  try {
    await store.open();
    const from = Date.UTC(2025, 0, 1);
    const n = 365 * 24 * 60;
    for (let i = 0; i < n; i += 10_000) {
      const batch = [];
      for (let k = i; k < Math.min(n, i + 10_000); k++) batch.push({ device: 'year', ts: from + k * 60_000, fields: { temperature: 20 + 5 * Math.sin(k / 1440), humidity: 40 + (k % 30) }, tags: {} });
      await store.write(batch);
    }
    const q = { device: 'year', field: 'temperature', fn: 'mean' as const, everyMs: 3_600_000, from, to: from + n * 60_000 };
    const time = async (fn: () => Promise<unknown>, runs: number) => {
      const ms: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t = performance.now();
        await fn();
        ms.push(performance.now() - t);
      }
      return percentile(ms.sort((a, b) => a - b), 50);
    };
    const first = await store.aggregateWithTier(q);
    const p50TierMs = await time(() => store.aggregateWithTier(q), 21);
    const p50RawMs = await time(() => store.aggregateRaw(q), 5);
    return { readings: n, tier: first.tier, p50TierMs, p50RawMs, points: first.points.length };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchInflux(log: (s: string) => void): Promise<InfluxBench> {
  const before = loadavg();
  const influx = await startInfluxd();
  const rows: InfluxBenchRow[] = [];
  try {
    for (const [name, run] of [
      ['bare writer', () => bareRow(influx)],
      ['Upperstack', () => upperstackRow(influx)],
      ['stock batched', () => stockRow(influx, true)],
      ['stock per message', () => stockRow(influx, false)],
    ] as const) {
      log(`  influx: ${name}, a burst of ${BURST.toLocaleString('en-US')} readings`);
      rows.push(await run());
    }
  } finally {
    await influx.destroy();
  }
  log('  influx: roll-up query, a year of 1-minute readings');
  const rollup = await rollupRow();
  return { rows, rollup, load: { before, after: loadavg(), cpus: cpus().length } };
}

export function influxTable(b: InfluxBench): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const lines = [
    `${pad('row', 48)} ${pad('readings/s', 11)} ${pad('lost', 8)} ${pad('stored', 8)} peak RSS`,
    ...b.rows.map((r) => `${pad(r.row, 48)} ${pad(Math.round(r.rate).toLocaleString('en-US'), 11)} ${pad(String(r.lost), 8)} ${pad(String(r.stored), 8)} ${r.peakRssMb === undefined ? '-' : `${Math.round(r.peakRssMb)} MB`}`),
  ];
  const ours = b.rows.find((r) => r.row.startsWith('Upperstack'));
  const batch = b.rows.find((r) => r.row.includes('batch'));
  const bare = b.rows.find((r) => r.row.startsWith('bare'));
  lines.push('');
  if (ours && batch) lines.push(`Upperstack ÷ stock batched flow: ${(ours.rate / batch.rate).toFixed(2)}× (target ≥ 2×): ${ours.rate >= 2 * batch.rate ? 'PASS' : 'FAIL'}`);
  if (ours && bare) lines.push(`Upperstack ÷ bare writer: ${(ours.rate / bare.rate).toFixed(2)}× (target ≥ 0.8×): ${ours.rate >= 0.8 * bare.rate ? 'PASS' : 'FAIL'}`);
  if (ours) lines.push(`Upperstack readings lost on the burst: ${ours.lost} (target 0): ${ours.lost === 0 ? 'PASS' : 'FAIL'}`);
  if (b.rollup) {
    const r = b.rollup;
    lines.push('', `roll-up query: ${r.readings.toLocaleString('en-US')} 1-minute readings (a year), hourly means (${r.points.toLocaleString('en-US')} points): p50 ${r.p50TierMs.toFixed(1)} ms from the ${r.tier} tier, ${r.p50RawMs.toFixed(1)} ms from the raw rows`);
  }
  lines.push('', `machine: ${b.load.cpus} CPUs, load average ${b.load.before.map((x) => x.toFixed(1)).join(' / ')} before, ${b.load.after.map((x) => x.toFixed(1)).join(' / ')} after (1/5/15 min)`);
  return lines.join('\n');
}
