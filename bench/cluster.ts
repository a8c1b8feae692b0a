/**
 * Cluster figures for docs/scaling.md (`node dist/bench/cluster.js`): 1, 2 and 3
 * members (`npm start` with UPPERSTACK_CLUSTER_BROKER, the default pack as a
 * member: journal → decode → validate → store (DuckDB + shared sink) → anomaly,
 * alerts) behind Debian's mosquitto, writing to Debian's victoria-metrics, all on
 * this machine. A publisher in this process sends QoS 1 JSON readings of
 * BENCH_CLUSTER_DEVICES devices (default 1,000) as fast as the broker takes them;
 * a phase ends when the members' shared sinks have written every reading.
 *
 * Per phase: readings/s end to end, CPU seconds each member used and readings
 * per member CPU-second (what one core does), peak RSS per member, and the sink
 * write rate. Then one member with 10,000 devices, for memory per 1,000 devices.
 *
 * Environment: BENCH_CLUSTER_READINGS (per phase, default 60000),
 * BENCH_CLUSTER_MEMBERS (comma list, default 1,2,3), BENCH_CLUSTER_DEVICES (1000),
 * BENCH_CLUSTER_MEMORY=0 skips the 10,000-device phase.
 * A measurement, not a test.
 */
import { cpus, loadavg } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort, startRuntime, type Runtime } from '../test/helpers/runtime';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto';
import { startVictoria, type TsdbServer } from '../test/helpers/influxd';
import { ProcWatch, procSample, sleep } from './common';
import { InfluxSink } from '../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../nodes/lib/influx/line';
import { startInfluxd } from '../test/helpers/influxd';
import type { Reading } from '../nodes/lib/reading';
import { removeTempDir, tempDir } from '../test/helpers/temp';

const env = process.env;
const READINGS = Number(env.BENCH_CLUSTER_READINGS) || 60_000;
const MEMBERS = (env.BENCH_CLUSTER_MEMBERS || '1,2,3').split(',').map(Number).filter((n) => n > 0);
const DEVICES = Number(env.BENCH_CLUSTER_DEVICES) || 1000;
// Recent times: the embedded store's default retention (30 days) refuses readings for buckets it has sealed.
const T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 7 * 86_400_000;

interface Phase {
  members: number;
  devices: number;
  readings: number;
  seconds: number;
  perSec: number;
  cpuPerMember: number[];
  perCpuSecond: number;
  rssMiB: number[];
  sinkPerSec: number;
  load: number;
}

async function written(rt: Runtime): Promise<number> {
  try {
    const res = await fetch(`${rt.url}/health`);
    const body = (await res.json()) as { components?: Record<string, { sink?: { written?: number } }> };
    let n = 0;
    for (const [name, c] of Object.entries(body.components ?? {})) if (name.endsWith('/shared')) n += c.sink?.written ?? 0;
    return n;
  } catch {
    return 0;
  }
}

async function publish(clients: MqttClient[], devices: number, readings: number, round: number): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (let n = 0; n < readings; n++) {
    const i = n % devices;
    const k = Math.floor(n / devices);
    const body = JSON.stringify({ ts: T0 + round * 3_600_000 + k * 1000, temp: 20 + (i % 13) + (k % 5) / 10, hum: 40 + (k % 20) });
    pending.push(clients[n % clients.length].publishAsync(`devices/d${i}/telemetry`, body, { qos: 1 }));
    if (pending.length >= 1000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

async function phase(mosq: Mosquitto, vm: TsdbServer, members: number, devices: number, round: number): Promise<Phase> {
  const group = `bench${round}`;
  const rts: Runtime[] = [];
  for (let m = 1; m <= members; m++) {
    rts.push(
      await startRuntime({
        dataDir: tempDir('us-bench-cluster-'),
        httpPort: await freePort(),
        mqttPort: await freePort(),
        env: { UPPERSTACK_CLUSTER_BROKER: `mqtt://127.0.0.1:${mosq.port}`, UPPERSTACK_CLUSTER_GROUP: group, UPPERSTACK_CLUSTER_MEMBER: `m${m}`, UPPERSTACK_CLUSTER_SINK: vm.url, UPPERSTACK_LOG_LEVEL: 'warn' },
      }),
    );
  }
  const clients = await Promise.all([0, 1, 2, 3].map((i) => mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: `bench-pub-${round}-${i}` })));
  try {
    // Let every member's subscription settle before the clock starts.
    await sleep(2000);
    const watches = rts.map((rt) => new ProcWatch(rt.proc.pid).begin());
    const cpu0 = rts.map((rt) => procSample(rt.proc.pid)?.cpu ?? 0);
    const t0 = Date.now();
    await publish(clients, devices, READINGS, round);
    let done = 0;
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      done = (await Promise.all(rts.map(written))).reduce((a, b) => a + b, 0);
      if (done >= READINGS) break;
      await sleep(100);
    }
    const seconds = (Date.now() - t0) / 1000;
    const cpu = rts.map((rt, i) => (procSample(rt.proc.pid)?.cpu ?? 0) - cpu0[i]);
    const peaks = watches.map((w) => w.end().peakRss);
    const totalCpu = cpu.reduce((a, b) => a + b, 0);
    return {
      members,
      devices,
      readings: done,
      seconds,
      perSec: done / seconds,
      cpuPerMember: cpu,
      perCpuSecond: done / totalCpu,
      rssMiB: peaks.map((b) => b / 1048576),
      sinkPerSec: done / seconds,
      load: loadavg()[0],
    };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
    for (const rt of rts) {
      await rt.stop();
      removeTempDir(rt.dataDir);
    }
  }
}

/** The shared sink alone: readings/s one writer gets into the server in 5,000-reading writes (the sink's default batch). */
async function sinkRate(server: 'influxdb' | 'victoriametrics'): Promise<{ server: string; perSec: number; cpuS: number }> {
  const ts = server === 'influxdb' ? await startInfluxd() : await startVictoria();
  try {
    const sink = new InfluxSink({ server, url: ts.url, api: server === 'influxdb' ? 'v1' : 'v2', database: server === 'influxdb' ? 'upperstack' : '', precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), gzipAbove: 65536, timeoutMs: 30_000, create: true, retentionMs: 0 });
    await sink.open();
    const n = 200_000;
    const batch: Reading[] = [];
    const c0 = process.cpuUsage();
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      batch.push({ device: `d${i % 1000}`, ts: T0 + Math.floor(i / 1000) * 1000, fields: { temp: 20 + (i % 13), hum: 40 + (i % 20) }, tags: {} });
      if (batch.length === 5000) await sink.write(batch.splice(0));
    }
    const seconds = (Date.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    await sink.close();
    return { server, perSec: n / seconds, cpuS: (c.user + c.system) / 1e6 };
  } finally {
    await ts.destroy();
  }
}

async function main(): Promise<void> {
  const sinks = env.BENCH_CLUSTER_SINKS === '0' ? [] : [await sinkRate('victoriametrics'), await sinkRate('influxdb')];
  const mosq = await startMosquitto({ maxQueuedMessages: 10_000_000 });
  const vm = await startVictoria();
  const rows: Phase[] = [];
  try {
    let round = 0;
    for (const m of MEMBERS) rows.push(await phase(mosq, vm, m, DEVICES, ++round));
    if (env.BENCH_CLUSTER_MEMORY !== '0') rows.push(await phase(mosq, vm, 1, 10 * DEVICES, ++round));
  } finally {
    await vm.destroy();
    await mosq.stop();
  }
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`\ncluster: ${READINGS} QoS 1 JSON readings per phase (2 fields), mosquitto + victoria-metrics + members + publisher on one ${cpus().length}-core machine\n`);
  console.log('| members | devices | readings/s (end to end) | member CPU s (each) | readings per member CPU-second | peak RSS MiB (each) | load avg |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.members} | ${f(r.devices)} | ${f(r.perSec)} | ${r.cpuPerMember.map((c) => f(c, 1)).join(', ')} | ${f(r.perCpuSecond)} | ${r.rssMiB.map((m) => f(m)).join(', ')} | ${f(r.load, 1)} |`);
  }
  if (sinks.length) {
    console.log('\nshared sink alone: 200,000 readings (2 fields each) in 5,000-reading writes from one writer\n');
    console.log('| server | readings/s | values/s | writer CPU s |');
    console.log('| --- | --- | --- | --- |');
    for (const r of sinks) console.log(`| ${r.server} | ${f(r.perSec)} | ${f(r.perSec * 2)} | ${f(r.cpuS, 1)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
