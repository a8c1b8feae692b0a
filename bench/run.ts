/**
 * `npm run bench`: end-to-end throughput, latency and memory of the Upperstack
 * pipeline for QoS 1 JSON readings over loopback, next to two references on the
 * same broker and load:
 *
 *   raw    a bare MQTT.js subscriber that only JSON.parses (the ceiling)
 *   stock  a plain Node-RED 4.1 process with core nodes only:
 *          mqtt in → json → join (1000) → function writing the same DuckDB table
 *   ours   the real runtime (dist/scripts/start.js) with the default flow pack as
 *          shipped: journal → decode → validate → store (DuckDB) → anomaly, alerts
 *
 * for (a) the embedded broker (our runtime hosts it; raw and stock connect to it
 * as external clients on bench/... topics, which our pipeline does not subscribe
 * to) and (b) an external Debian mosquitto, with single-reading messages and
 * 10-reading batches. Each consumer is measured in its own phase, so they never
 * compete. Then the three at a fixed 10,000 readings/s (latency), and the RSS of
 * an idle runtime. Method notes are in docs/performance.md.
 *
 * Environment: BENCH_READINGS (per phase, default 100000), BENCH_WARM_READINGS
 * (before each phase, default a twentieth of that), BENCH_PUBLISHERS (2),
 * BENCH_CLIENTS (MQTT clients per publisher, 2), BENCH_INFLIGHT (100),
 * BENCH_ROUNDS (rounds with 1 reading/msg, 3), BENCH_BATCH_ROUNDS (rounds with
 * 10 readings/msg, 1), BENCH_INGEST_ROW=0 (leave out the informational row with
 * the anomaly node disabled; BENCH_INGEST_ROUNDS, 1), BENCH_LATENCY_RATE (10000)
 * and BENCH_LATENCY_SECONDS (15) for the latency row, BENCH_IDLE_SECONDS (15),
 * BENCH_PHASE_TIMEOUT_S (60), BENCH_MOSQUITTO (binary, or "none" to skip),
 * BENCH_ONLY (comma list of parts pipeline, latency, idle, anomaly, alerts,
 * inputs, hostile; brokers embedded, mosquitto; shapes single, batch; consumers
 * upperstack, raw, stock, upperstack-ingest), BENCH_PROFILE_DIR (the runtime
 * writes a V8 CPU profile there, see cpu-profile.ts), BENCH_JSON (write the
 * results there), BENCH_RUNTIME_NODE_OPTIONS (NODE_OPTIONS for the Upperstack
 * runtime only; a heap flag set there replaces the shipped one), BENCH_ANOMALY=0 (leave out the anomaly engine's table,
 * bench/anomaly.ts), BENCH_ALERTS=0 (leave out the alert rule engine's table,
 * bench/alerts.ts; BENCH_ONLY=alerts runs only that), BENCH_HOSTILE=0 (leave out
 * the hostile-mix row, bench/hostile.ts; BENCH_ONLY=hostile runs only that;
 * BENCH_HOSTILE_MESSAGES, default 10000), BENCH_INFLUX=0 (leave out the InfluxDB
 * rows, bench/influx.ts; BENCH_ONLY=influx runs only those; BENCH_INFLUX_READINGS,
 * default 50000; BENCH_INFLUX_ROUNDS, default 1; BENCH_INFLUX_MODE live, drain or both,
 * default both), BENCH_PROBE_LOG (append each latency probe's send time and latency
 * in ms to that file, to line the tail up with UPPERSTACK_DUCKDB_TRACE's writes and checkpoints).
 *
 * It is a measurement, not a test: it exits 0 whether targets are met or not.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { delimiter, join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, startRuntime, type Runtime } from '../test/helpers/runtime';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto';
import { ProcWatch, percentile, procSample, readingJson, sleep, type PublisherConfig, type PublisherReport, type RawReport, type RawSubscriberConfig, type ThreadCpu } from './common';
import { stockFlow } from './stock-flow';
import { anomalyTable, benchAnomaly, type AnomalyBenchRow } from './anomaly';
import { alertsTable, benchAlerts, type AlertsBenchRow } from './alerts';
import { benchHostile, hostileTable, type HostileBenchRow } from './hostile';
import { benchInputs, inputsTable, type InputsBenchRow } from './inputs';
import { benchSharedPath, sharedPathTable } from './shared-path';
import { benchInflux, influxTable } from './influx';
import { tempDir } from '../test/helpers/temp';

const env = process.env;
const READINGS = Number(env.BENCH_READINGS) || 100_000;
/**
 * Readings each consumer gets before its measured phase (BENCH_WARM_READINGS, default a twentieth of
 * a phase): a young runtime's JIT is still optimising (and re-optimising) the hot path then, on V8's
 * helper threads, which a short warm-up leaves inside the measured phase.
 */
const WARM_READINGS = Number(env.BENCH_WARM_READINGS) || Math.max(2000, READINGS / 20);
const PUBLISHERS = Number(env.BENCH_PUBLISHERS) || 2;
const CLIENTS = Number(env.BENCH_CLIENTS) || 2;
const INFLIGHT = Number(env.BENCH_INFLIGHT) || 100;
const ROUNDS = Number(env.BENCH_ROUNDS) || 3;
const BATCH_ROUNDS = Number(env.BENCH_BATCH_ROUNDS) || 1;
const INGEST_ROUNDS = Number(env.BENCH_INGEST_ROUNDS) || 1;
const LATENCY_RATE = Number(env.BENCH_LATENCY_RATE) || 10_000;
const LATENCY_SECONDS = Number(env.BENCH_LATENCY_SECONDS) || 15;
const IDLE_SECONDS = Number(env.BENCH_IDLE_SECONDS) || 15;
const PHASE_TIMEOUT_MS = (Number(env.BENCH_PHASE_TIMEOUT_S) || 60) * 1000;
const ONLY = new Set((env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const PROBE_EVERY_MS = 10;
const POLL_MS = 25;
const ROOT = join(__dirname, '..', '..');

// BENCH_ONLY filters per dimension: a dimension none of whose values is listed keeps all of them.
const GROUPS: Record<string, string[]> = {
  part: ['pipeline', 'latency', 'idle', 'anomaly', 'alerts', 'inputs', 'hostile', 'influx'],
  broker: ['embedded', 'mosquitto'],
  shape: ['single', 'batch'],
  consumer: ['upperstack', 'raw', 'stock', 'upperstack-ingest'],
};
// BENCH_ANOMALY=0 leaves out the anomaly engine's table (BENCH_ONLY=anomaly runs only that).
const ANOMALY = env.BENCH_ANOMALY !== '0' && want('anomaly');
// BENCH_INGEST_ROW=0 leaves out the informational row with the anomaly node disabled.
const INGEST_ROW = env.BENCH_INGEST_ROW !== '0';
// BENCH_ALERTS=0 leaves out the alert rule engine's table (BENCH_ONLY=alerts runs only it).
const ALERTS = env.BENCH_ALERTS !== '0' && want('alerts');
// BENCH_HOSTILE=0 leaves out the hostile-mix row (BENCH_ONLY=hostile runs only it).
const HOSTILE = env.BENCH_HOSTILE !== '0' && want('hostile');
function want(value: string): boolean {
  if (ONLY.size === 0) return true;
  const g = Object.values(GROUPS).find((gr) => gr.includes(value));
  if (!g || !g.some((v) => ONLY.has(v))) return true;
  return ONLY.has(value);
}

/** upperstack: the flow pack as shipped; upperstack-ingest: the same with its anomaly node disabled (informational). */
type Consumer = 'upperstack' | 'raw' | 'stock' | 'upperstack-ingest';

/** One measured phase: one consumer, one round. */
interface Row {
  broker: 'embedded' | 'mosquitto';
  batch: number;
  consumer: Consumer;
  round: number;
  /** Probe latencies (ms) of this phase. */
  latencies: number[];
  readings: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
  samples: number;
  /** Seconds from the first publish to the last PUBACK (publishers see no back-pressure past this). */
  ackSeconds: number;
  /** Peak RSS of the consumer process (bytes): the larger of VmHWM (since the process started) and VmRSS sampled every 100 ms. */
  peakRss: number;
  /** Largest VmRSS sampled during this phase alone. */
  phaseRss: number;
  consumerCores: number;
  brokerCores: number;
  /** Cores used by all publisher processes together. */
  loadCores: number;
  /** CPU seconds of the consumer process, of a broker process of its own (0 when the consumer hosts it), and of the publishers. */
  consumerCpu: number;
  /** CPU seconds of the consumer's main thread alone (the anomaly worker thread and helper threads left out). */
  consumerMainCpu: number;
  /** The consumer's threads by CPU while measured, busiest first (only in the round's log line). */
  consumerThreads?: ThreadCpu[];
  /**
   * CPU seconds the consumer still used after the last reading was stored, until it went quiet (the
   * anomaly worker's queue: it judges after the store). Not in consumerCpu; only in the round's log line.
   */
  consumerAfterCpu?: number;
  brokerCpu: number;
  loadCpu: number;
  note: string;
}

const rows: Row[] = [];

/**
 * Waits until a process is quiet (under a tenth of a core over 200 ms, at most 10 s) and returns the
 * CPU seconds it used meanwhile: work a consumer defers past the phase would otherwise be charged to
 * the next consumer measured on the same cores.
 */
async function settleCpu(pid: number | undefined): Promise<number> {
  const first = procSample(pid)?.cpu;
  if (first === undefined) return 0;
  let last = first;
  for (const until = Date.now() + 10_000; Date.now() < until; ) {
    await sleep(200);
    const now = procSample(pid)?.cpu;
    if (now === undefined) break;
    const used = now - last;
    last = now;
    if (used < 0.02) break;
  }
  return last - first;
}

/**
 * The busiest threads in µs per reading, as `+<tid − pid>:<µs>`. +0 is the main thread; the others are
 * numbered in creation order (other processes' threads take ids in between): V8's four platform
 * workers (garbage collection, compilation) right after the start, the libuv pool's four later, the
 * anomaly worker last.
 */
function threadShares(row: Row): string {
  const top = (row.consumerThreads ?? []).filter((t) => t.cpu > 0).slice(0, 8);
  return top.map((t) => `+${t.tid}:${fmtUs(t.cpu / row.readings)}`).join(' ');
}
/** Phases at a fixed publish rate (the latency row). */
const latencyRows: Row[] = [];
let idleRss: { rss: number; afterSeconds: number } | undefined;
const skipped: string[] = [];

function log(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}

// ---------------------------------------------------------------- processes

function findMosquitto(): string | undefined {
  // BENCH_MOSQUITTO=none runs as if it were not installed; a path picks a binary.
  if (env.BENCH_MOSQUITTO) return env.BENCH_MOSQUITTO === 'none' ? undefined : env.BENCH_MOSQUITTO;
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const d of dirs) if (d && existsSync(join(d, 'mosquitto'))) return join(d, 'mosquitto');
  return undefined;
}

interface Stock {
  proc: ChildProcess;
  port: number;
  dir: string;
  query(q: string): Promise<unknown>;
  stop(): Promise<void>;
}

async function startStock(brokerPort: number): Promise<Stock> {
  const dir = tempDir('us-bench-stock-');
  const port = await freePort();
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(stockFlow({ brokerPort, filter: 'bench/stock/+/telemetry' })));
  const red = join(ROOT, 'node_modules', 'node-red', 'red.js');
  const proc = spawn(process.execPath, [red, '-s', join(__dirname, 'stock-settings.js'), '-u', dir], {
    cwd: dir,
    env: { ...env, NODE_OPTIONS: '', BENCH_STOCK_PORT: String(port), BENCH_STOCK_DB: join(dir, 'stock.duckdb') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const query = async (q: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/bench/query?${q}`);
    if (res.status !== 200) throw new Error(`stock query ${q}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const stock: Stock = {
    proc,
    port,
    dir,
    query,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const end = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`stock Node-RED exited with ${proc.exitCode}:\n${out}`);
    try {
      await query('count=none');
      break;
    } catch {
      if (Date.now() > end) {
        await stock.stop();
        throw new Error(`stock Node-RED did not start in 60 s:\n${out}`);
      }
      await sleep(200);
    }
  }
  return stock;
}

// ---------------------------------------------------------------- load

interface Publishers {
  total: number;
  /** Starts publishing; resolves when every message is acknowledged. */
  go(): Promise<{ firstPublish: number; lastAck: number }>;
  pids: number[];
  stop(): Promise<void>;
}

async function startPublishers(url: string, topicPrefix: string, devicePrefix: string, batch: number, readings: number, probeDevice?: string, readingsPerSec?: number): Promise<Publishers> {
  const messagesPerClient = Math.max(1, Math.floor(readings / (PUBLISHERS * CLIENTS * batch)));
  const total = messagesPerClient * PUBLISHERS * CLIENTS * batch;
  const procs: ChildProcess[] = [];
  const ready: Array<Promise<void>> = [];
  const done: Array<Promise<{ firstPublish: number; lastAck: number }>> = [];
  for (let i = 0; i < PUBLISHERS; i++) {
    const cfg: PublisherConfig = {
      url,
      topicPrefix,
      clients: CLIENTS,
      messagesPerClient,
      batch,
      devicePrefix,
      index: i,
      inflight: INFLIGHT,
      probeDevice: i === 0 ? probeDevice : undefined,
      probeEveryMs: PROBE_EVERY_MS,
      rate: readingsPerSec ? readingsPerSec / (PUBLISHERS * CLIENTS * batch) : undefined,
    };
    // execArgv: [] keeps a --cpu-prof or --inspect of this process away from the load generator.
    const p = fork(join(__dirname, 'publisher.js'), [JSON.stringify(cfg)], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...env, NODE_OPTIONS: '' } });
    procs.push(p);
    ready.push(
      new Promise((resolve, reject) => {
        p.on('message', (m: PublisherReport) => {
          if (m.type === 'ready') resolve();
          if (m.type === 'error') reject(new Error(`publisher ${i}: ${m.message}`));
        });
        p.once('exit', (code) => reject(new Error(`publisher ${i} exited with ${code}`)));
      }),
    );
    done.push(
      new Promise((resolve, reject) => {
        p.on('message', (m: PublisherReport) => {
          if (m.type === 'done') resolve({ firstPublish: m.firstPublish, lastAck: m.lastAck });
          if (m.type === 'error') reject(new Error(`publisher ${i}: ${m.message}`));
        });
        p.once('exit', (code) => reject(new Error(`publisher ${i} exited with ${code}`)));
      }),
    );
  }
  for (const d of done) d.catch(() => undefined);
  await withTimeout(Promise.all(ready), 20_000, 'publishers to connect');
  return {
    total,
    pids: procs.map((p) => p.pid!),
    async go() {
      for (const p of procs) p.send({ type: 'go' });
      const reports = await Promise.all(done);
      return { firstPublish: Math.min(...reports.map((r) => r.firstPublish)), lastAck: Math.max(...reports.map((r) => r.lastAck)) };
    },
    async stop() {
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((r) => {
              if (p.exitCode !== null || p.signalCode !== null) return r();
              const t = setTimeout(() => p.kill('SIGKILL'), 5000);
              p.once('exit', () => {
                clearTimeout(t);
                r();
              });
              if (p.connected) p.send({ type: 'exit' });
              else p.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const settled = p.finally(() => clearTimeout(t));
  // A late rejection (e.g. a child exiting after the timeout) must not become an unhandled rejection.
  settled.catch(() => undefined);
  return Promise.race([
    settled,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------- store-backed consumers

interface StoreTarget {
  consumer: Consumer;
  topicPrefix: string;
  pid: number;
  /** Load readings visible in the store for these devices (all start with prefix). */
  count(prefix: string, devices: string[]): Promise<number>;
  /** Probe timestamps (epoch ms) visible after `after`. */
  probes(device: string, after: number): Promise<number[]>;
}

function devicesOf(prefix: string): string[] {
  const out: string[] = [];
  for (let p = 0; p < PUBLISHERS; p++) for (let c = 0; c < CLIENTS; c++) out.push(`${prefix}-p${p}-c${c}`);
  return out;
}

function oursTarget(rt: Runtime, consumer: Consumer = 'upperstack'): StoreTarget {
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

function stockTarget(stock: Stock): StoreTarget {
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
async function awaitSubscribed(url: string, target: StoreTarget, tag: string): Promise<void> {
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

async function waitCount(target: StoreTarget, prefix: string, devices: string[], total: number, deadline: number): Promise<{ at: number; count: number }> {
  for (;;) {
    const count = await target.count(prefix, devices);
    const at = Date.now();
    if (count >= total || at > deadline) return { at, count };
    // Counting costs the consumer a query: rarely while far from done, every 20 ms near the end.
    await sleep(count < 0.9 * total ? 250 : 20);
  }
}

interface PhaseContext {
  broker: Row['broker'];
  url: string;
  batch: number;
  tag: string;
  round: number;
  brokerPid: number;
  /** Readings per second to publish at (the latency row); absent: as fast as acknowledged. */
  rate?: number;
  /** Readings to publish (default BENCH_READINGS). */
  readings?: number;
}

async function storePhase(ctx: PhaseContext, target: StoreTarget): Promise<Row> {
  const tag = `${ctx.tag}-${target.consumer}`;
  await awaitSubscribed(ctx.url, target, tag);

  // Warm-up: JIT, DuckDB table growth and connections, not measured.
  const warmPrefix = `${tag}-w`;
  const warm = await startPublishers(ctx.url, target.topicPrefix, warmPrefix, ctx.batch, WARM_READINGS);
  await withTimeout(warm.go(), PHASE_TIMEOUT_MS, 'warm-up acknowledgements');
  await waitCount(target, `${warmPrefix}-`, devicesOf(warmPrefix), warm.total, Date.now() + PHASE_TIMEOUT_MS);
  await warm.stop();
  // The warm-up's deferred work (the anomaly worker judges after the store) must not run in the measured phase.
  await settleCpu(target.pid);

  const prefix = `${tag}-m`;
  const probeDevice = `${tag}-probe`;
  const pubs = await startPublishers(ctx.url, target.topicPrefix, prefix, ctx.batch, ctx.readings ?? READINGS, probeDevice, ctx.rate);
  const consumerWatch = new ProcWatch(target.pid).begin();
  const brokerWatch = new ProcWatch(ctx.brokerPid).begin();
  const loadWatch = pubs.pids.map((pid) => new ProcWatch(pid).begin());
  const profiling = target.consumer !== 'stock' && !!env.BENCH_PROFILE_DIR;
  if (profiling) process.kill(target.pid, 'SIGWINCH');

  // Latency probes: poll the store for new probe readings; a probe's latency is the time the
  // poll that first returned it came back, minus its ts (the send time).
  const latencies: number[] = [];
  let lastProbe = 0;
  let polling = true;
  const pollOnce = async () => {
    const seen = await target.probes(probeDevice, lastProbe);
    const now = Date.now();
    for (const ts of seen) {
      latencies.push(now - ts);
      if (env.BENCH_PROBE_LOG) appendFileSync(env.BENCH_PROBE_LOG, `${ts} ${now - ts}\n`);
      if (ts > lastProbe) lastProbe = ts;
    }
  };
  const poller = (async () => {
    while (polling) {
      await pollOnce().catch((err: Error) => log(`probe poll failed: ${err.message}`));
      await sleep(POLL_MS);
    }
  })();

  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  let note = '';
  const started = Date.now();
  let firstPublish = started;
  let lastAck = NaN;
  try {
    const acked = await withTimeout(pubs.go(), PHASE_TIMEOUT_MS, 'acknowledgements');
    firstPublish = acked.firstPublish;
    lastAck = acked.lastAck;
  } catch (err) {
    note = `timeout: ${(err as Error).message}`;
  }
  const { at, count } = await waitCount(target, `${prefix}-`, devicesOf(prefix), pubs.total, deadline);
  if (profiling) process.kill(target.pid, 'SIGWINCH');
  polling = false;
  await poller;
  await pollOnce().catch(() => undefined);
  const usage = consumerWatch.end();
  const brokerUsage = brokerWatch.end();
  const loads = loadWatch.map((w) => w.end());
  await pubs.stop();
  const afterCpu = await settleCpu(target.pid);
  if (count < pubs.total) note ||= `timeout: ${count} of ${pubs.total} stored after ${PHASE_TIMEOUT_MS / 1000} s`;
  latencies.sort((a, b) => a - b);
  const seconds = (at - firstPublish) / 1000;
  return {
    broker: ctx.broker,
    batch: ctx.batch,
    consumer: target.consumer,
    round: ctx.round,
    latencies,
    readings: count,
    seconds,
    rate: count / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    samples: latencies.length,
    ackSeconds: (lastAck - firstPublish) / 1000,
    peakRss: usage.peakRss,
    phaseRss: usage.maxRss,
    consumerCores: usage.cores,
    brokerCores: ctx.brokerPid === target.pid ? NaN : brokerUsage.cores,
    loadCores: loads.reduce((n, l) => n + l.cores, 0),
    consumerCpu: usage.cpu,
    consumerMainCpu: usage.mainCpu,
    consumerThreads: usage.threads,
    consumerAfterCpu: afterCpu,
    brokerCpu: ctx.brokerPid === target.pid ? 0 : brokerUsage.cpu,
    loadCpu: loads.reduce((n, l) => n + l.cpu, 0),
    note,
  };
}

async function rawPhase(ctx: PhaseContext): Promise<Row> {
  const tag = `${ctx.tag}-raw`;
  const topicPrefix = 'bench/raw';
  const probeDevice = `${tag}-probe`;
  const warmReadings = WARM_READINGS;
  const warmTotal = Math.max(1, Math.floor(warmReadings / (PUBLISHERS * CLIENTS * ctx.batch))) * PUBLISHERS * CLIENTS * ctx.batch;
  const cfg: RawSubscriberConfig = { url: ctx.url, filter: `${topicPrefix}/#`, expected: warmTotal, batch: ctx.batch, probeTopic: `${topicPrefix}/${probeDevice}/telemetry` };
  const sub = fork(join(__dirname, 'raw-subscriber.js'), [JSON.stringify(cfg)], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...env, NODE_OPTIONS: '' } });
  const next = (type: RawReport['type']) =>
    new Promise<RawReport>((resolve, reject) => {
      const on = (m: RawReport) => {
        if (m.type !== type) return;
        sub.off('message', on);
        resolve(m);
      };
      sub.on('message', on);
      sub.once('exit', (code) => reject(new Error(`raw subscriber exited with ${code}`)));
    });
  try {
    await withTimeout(next('ready'), 20_000, 'the raw subscriber');
    const warm = await startPublishers(ctx.url, topicPrefix, `${tag}-w`, ctx.batch, warmReadings);
    const warmDone = next('complete');
    await withTimeout(warm.go(), PHASE_TIMEOUT_MS, 'warm-up acknowledgements');
    await withTimeout(warmDone, PHASE_TIMEOUT_MS, 'the raw warm-up');
    await warm.stop();

    const pubs = await startPublishers(ctx.url, topicPrefix, `${tag}-m`, ctx.batch, ctx.readings ?? READINGS, probeDevice, ctx.rate);
    sub.send({ type: 'reset', expected: pubs.total });
    const consumerWatch = new ProcWatch(sub.pid).begin();
    const brokerWatch = new ProcWatch(ctx.brokerPid).begin();
    const loadWatch = pubs.pids.map((pid) => new ProcWatch(pid).begin());
    const complete = next('complete');
    let note = '';
    let firstPublish = Date.now();
    let lastAck = NaN;
    const deadline = Date.now() + PHASE_TIMEOUT_MS;
    try {
      const acked = await withTimeout(pubs.go(), PHASE_TIMEOUT_MS, 'acknowledgements');
      firstPublish = acked.firstPublish;
      lastAck = acked.lastAck;
    } catch (err) {
      note = `timeout: ${(err as Error).message}`;
    }
    let result: RawReport;
    try {
      result = await withTimeout(complete, Math.max(1, deadline - Date.now()), 'the raw subscriber');
    } catch {
      sub.send({ type: 'report' });
      result = await next('progress');
      note ||= `timeout: ${result.type === 'progress' ? result.readings : 0} of ${pubs.total} received`;
    }
    const usage = consumerWatch.end();
    const brokerUsage = brokerWatch.end();
    const loads = loadWatch.map((w) => w.end());
    await pubs.stop();
    if (result.type === 'ready') throw new Error('unexpected report');
    const lat = [...result.latencies].sort((a, b) => a - b);
    const end = note ? Date.now() : result.lastAt;
    const seconds = (end - firstPublish) / 1000;
    return {
      broker: ctx.broker,
      batch: ctx.batch,
      consumer: 'raw',
      round: ctx.round,
      latencies: lat,
      readings: result.readings,
      seconds,
      rate: result.readings / seconds,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      samples: lat.length,
      ackSeconds: (lastAck - firstPublish) / 1000,
      peakRss: usage.peakRss,
      phaseRss: usage.maxRss,
      consumerCores: usage.cores,
      brokerCores: brokerUsage.cores,
      loadCores: loads.reduce((n, l) => n + l.cores, 0),
      consumerCpu: usage.cpu,
      consumerMainCpu: usage.mainCpu,
      brokerCpu: brokerUsage.cpu,
      loadCpu: loads.reduce((n, l) => n + l.cpu, 0),
      note,
    };
  } finally {
    if (sub.exitCode === null) {
      const gone = new Promise<void>((r) => sub.once('exit', () => r()));
      if (sub.connected) sub.send({ type: 'exit' });
      const t = setTimeout(() => sub.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
  }
}

// ---------------------------------------------------------------- one broker × message shape

/**
 * The default flow pack as the runtime deploys it: as shipped (anomaly and alert nodes on), or with
 * the anomaly node disabled (`anomaly: false`, `d: true`; Node-RED drops the wire from the store to
 * it) for the informational row. `mqttPort` switches the inputs to an external broker.
 */
function benchFlows(opts: { anomaly: boolean; mqttPort?: number }): string {
  const flows = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  if (!flows.some((n) => n.type === 'upperstack-anomaly') && !opts.anomaly) log('  note: the flow pack has no anomaly node to disable');
  for (const n of flows) {
    if (n.type === 'upperstack-anomaly' && !opts.anomaly) n.d = true;
    // BENCH_ANOMALY_WORKER=0: the anomaly engine on the main thread, as before it had a worker thread.
    if (n.type === 'upperstack-anomaly' && env.BENCH_ANOMALY_WORKER === '0') n.worker = false;
  }
  if (opts.mqttPort !== undefined) {
    flows.push({ id: 'bench_conn', type: 'upperstack-mqtt-connection', name: 'mosquitto', url: `mqtt://127.0.0.1:${opts.mqttPort}`, clientId: `upperstack-bench-${process.pid}`, protocolVersion: 4, persistent: true, keepalive: 60, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 });
    for (const n of flows) {
      if (n.type === 'upperstack-mqtt-in') {
        n.source = 'external';
        n.connection = 'bench_conn';
      }
    }
  }
  return JSON.stringify(flows);
}

/**
 * How a group runs: `main` (our runtime as shipped, the raw subscriber and the stock flow, as fast
 * as acknowledgements come back), `ingest` (only our runtime, anomaly node disabled: informational)
 * or `latency` (all three at a fixed publish rate; its rows go to the latency table).
 */
type GroupMode = 'main' | 'ingest' | 'latency';

/** One runtime (and stock process) per broker, message shape and mode. */
async function group(broker: Row['broker'], batch: number, rounds: number, mosquittoBin: string | undefined, mode: GroupMode = 'main'): Promise<void> {
  const tag = `${broker === 'embedded' ? 'emb' : 'mosq'}-${batch}${mode === 'main' ? '' : `-${mode}`}`;
  const what = mode === 'ingest' ? ', anomaly node disabled' : mode === 'latency' ? `, fixed ${fmtRate(LATENCY_RATE)} readings/s` : '';
  log(`${broker}, ${batch === 1 ? 'single-reading messages' : `${batch}-reading batches`}${what}, ${rounds} round(s)`);
  const ours: Consumer = mode === 'ingest' ? 'upperstack-ingest' : 'upperstack';
  const out = mode === 'latency' ? latencyRows : rows;
  let mosq: Mosquitto | undefined;
  let rt: Runtime | undefined;
  let stock: Stock | undefined;
  const dataDir = tempDir('us-bench-data-');
  try {
    if (broker === 'mosquitto') {
      // The per-client queue never drops a QoS 1 message for a slow subscriber (the default would,
      // and the phase could never complete).
      mosq = await startMosquitto({ bin: mosquittoBin!, maxQueuedMessages: 10_000_000 });
    }
    // Written before the first start, so the runtime deploys this instead of copying the pack.
    writeFileSync(join(dataDir, 'flows.json'), benchFlows({ anomaly: mode !== 'ingest', mqttPort: mosq?.port }));
    if (broker === 'embedded' || want(ours)) {
      const extra: Record<string, string> = { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: env.BENCH_RUNTIME_NODE_OPTIONS ?? '' };
      if (env.BENCH_PROFILE_DIR && want(ours)) {
        // --cpu-prof is refused in NODE_OPTIONS; a preload starts the same sampling profiler.
        extra.NODE_OPTIONS += ` --require ${join(__dirname, 'cpu-profile.js')}`;
        extra.BENCH_CPU_PROFILE_OUT = join(env.BENCH_PROFILE_DIR, `upperstack-${tag}-${Date.now()}.cpuprofile`);
      }
      rt = await startRuntime({ dataDir, env: extra });
    }
    const brokerPort = mosq ? mosq.port : rt!.mqttPort;
    const brokerPid = mosq ? mosq.proc.pid! : rt!.proc.pid!;
    if (want('stock') && mode !== 'ingest') stock = await startStock(brokerPort);
    const fixed = mode === 'latency' ? { rate: LATENCY_RATE, readings: LATENCY_RATE * LATENCY_SECONDS } : {};
    // Consumers take turns within a round, so each pair compared ran close together in time.
    for (let round = 1; round <= rounds; round++) {
      const ctx: PhaseContext = { broker, url: `mqtt://127.0.0.1:${brokerPort}`, batch, tag: `${tag}-r${round}`, round, brokerPid, ...fixed };
      if (want(ours)) {
        const row = await storePhase(ctx, oursTarget(rt!, ours));
        // VmHWM: the peak since the runtime started (start-up, warm-ups and every round so far).
        row.peakRss = Math.max(row.peakRss, procSample(rt!.proc.pid)?.hwm ?? 0);
        out.push(row);
        log(`  round ${round} ${ours}: ${fmtRate(row.rate)} readings/s, p50 ${fmtMs(row.p50)} ms, p99 ${fmtMs(row.p99)} ms, max RSS ${fmtMb(row.phaseRss)} MB, ${fmtUs(row.consumerCpu / row.readings)} µs CPU/reading (main thread ${fmtUs(row.consumerMainCpu / row.readings)}; by thread ${threadShares(row)}), then ${fmtUs((row.consumerAfterCpu ?? 0) / row.readings)} µs/reading until quiet`);
      }
      if (want('raw') && mode !== 'ingest') {
        const row = await rawPhase(ctx);
        out.push(row);
        log(`  round ${round} raw:        ${fmtRate(row.rate)} readings/s, p50 ${fmtMs(row.p50)} ms, p99 ${fmtMs(row.p99)} ms, max RSS ${fmtMb(row.phaseRss)} MB`);
      }
      if (stock) {
        const row = await storePhase(ctx, stockTarget(stock));
        row.peakRss = Math.max(row.peakRss, procSample(stock.proc.pid)?.hwm ?? 0);
        out.push(row);
        log(`  round ${round} stock:      ${fmtRate(row.rate)} readings/s, p50 ${fmtMs(row.p50)} ms, p99 ${fmtMs(row.p99)} ms, max RSS ${fmtMb(row.phaseRss)} MB, ${fmtUs(row.consumerCpu / row.readings)} µs CPU/reading`);
      }
    }
  } catch (err) {
    log(`  failed: ${(err as Error).stack ?? String(err)}`);
    if (rt) log(`  runtime output (exit ${rt.proc.exitCode ?? rt.proc.signalCode ?? 'still running'}):\n${rt.output().slice(-3000)}`);
    skipped.push(`${broker}/${batch === 1 ? 'single' : 'batch'}${mode === 'main' ? '' : `/${mode}`}: failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await stock?.stop().catch(() => undefined);
    await rt?.stop().catch(() => undefined);
    await mosq?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** RSS of a fresh runtime with the pack as shipped, IDLE_SECONDS after it answers /health. */
async function measureIdle(): Promise<void> {
  log(`idle: a fresh runtime with the pack as shipped, RSS ${IDLE_SECONDS} s after start`);
  const dataDir = tempDir('us-bench-idle-');
  let rt: Runtime | undefined;
  try {
    writeFileSync(join(dataDir, 'flows.json'), benchFlows({ anomaly: true }));
    rt = await startRuntime({ dataDir, env: { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: env.BENCH_RUNTIME_NODE_OPTIONS ?? '' } });
    await sleep(IDLE_SECONDS * 1000);
    idleRss = { rss: procSample(rt.proc.pid)?.rss ?? NaN, afterSeconds: IDLE_SECONDS };
    log(`  idle RSS ${fmtMb(idleRss.rss)} MB`);
  } catch (err) {
    skipped.push(`idle: failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await rt?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report

function fmtRate(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}
function fmtMs(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n)) : '-';
}
function fmtMb(n: number): string {
  return n > 0 ? String(Math.round(n / (1024 * 1024))) : '-';
}
function fmtCores(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '-';
}
/** Seconds per reading as microseconds. */
function fmtUs(secondsPerReading: number): string {
  return Number.isFinite(secondsPerReading) ? (secondsPerReading * 1e6).toFixed(1) : '-';
}

const CONSUMER_LABEL: Record<Consumer, string> = {
  raw: 'raw MQTT.js (ceiling)',
  stock: 'stock Node-RED flow',
  upperstack: 'Upperstack (pack as shipped)',
  'upperstack-ingest': 'Upperstack, no anomaly (info)',
};

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** All rounds of one consumer on one broker and message shape. */
interface Summary {
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

function summaries(from: Row[]): Summary[] {
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

function markdown(head: string[], body: string[][], right: Set<number>): string {
  const lines = [head, ...body];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [fmt(head), sep, ...body.map(fmt)].join('\n');
}

function table(sums: Summary[]): string {
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

function latencyTable(sums: Summary[]): string {
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

interface Verdict {
  target: string;
  value: string;
  pass: boolean | undefined;
}

/** Ratios are the median of per-round ratios: each pair ran minutes apart at most. */
function pairedRatio(a: Summary, b: Summary): { median: number; all: number[] } {
  const all: number[] = [];
  for (const x of a.rounds) {
    const y = b.rounds.find((r) => r.round === x.round);
    if (y) all.push(x.rate / y.rate);
  }
  return { median: median(all), all };
}

const MB = 1024 * 1024;

/** The targets of the pack as shipped (issue 15): ratios within one run, latency at a fixed rate, memory. */
function verdicts(sums: Summary[], latency: Summary[]): Verdict[] {
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
        if (c) out.push({ target: `peak RSS ≤ 300 MB (${where}${c.consumer === 'upperstack' ? '' : ', no anomaly'})`, value: `${fmtMb(c.peakRss)} MB`, pass: c.peakRss > 0 && c.peakRss <= 300 * MB });
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
    out.push({ target: `peak RSS ≤ 300 MB (latency row)`, value: `${fmtMb(lat.peakRss)} MB`, pass: lat.peakRss > 0 && lat.peakRss <= 300 * MB });
  }
  if (idleRss) out.push({ target: `idle RSS ≤ 150 MB (${idleRss.afterSeconds} s after start, pack as shipped)`, value: `${fmtMb(idleRss.rss)} MB`, pass: idleRss.rss <= 150 * MB });
  return out;
}

function verdictTable(v: Verdict[]): string {
  const lines = [['target', 'measured', 'result'], ...v.map((x) => [x.target, x.value, x.pass === undefined ? '-' : x.pass ? 'PASS' : 'FAIL'])];
  const widths = [0, 1, 2].map((i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const mosquittoBin = findMosquitto();
  log(`${cpus().length} CPUs, node ${process.version}; ${READINGS.toLocaleString('en-US')} readings per phase, ${PUBLISHERS} publisher processes × ${CLIENTS} clients × ${INFLIGHT} in flight`);
  for (const broker of ['embedded', 'mosquitto'] as const) {
    if (!want('pipeline') || !want(broker)) continue;
    for (const batch of [1, 10]) {
      if (!want(batch === 1 ? 'single' : 'batch')) continue;
      if (broker === 'mosquitto' && !mosquittoBin) continue;
      await group(broker, batch, batch === 1 ? ROUNDS : BATCH_ROUNDS, mosquittoBin);
      // Right after the main rows it is compared with, on a runtime of its own.
      if (broker === 'embedded' && batch === 1 && INGEST_ROW && want('upperstack-ingest')) await group(broker, batch, INGEST_ROUNDS, mosquittoBin, 'ingest');
    }
  }
  if (want('pipeline') && want('mosquitto') && !mosquittoBin) skipped.push('mosquitto: skipped: mosquitto not installed');
  if (want('latency') && want('embedded') && want('single')) await group('embedded', 1, 1, mosquittoBin, 'latency');
  if (want('idle')) await measureIdle();
  let anomaly = '';
  let anomalyRows: AnomalyBenchRow[] | undefined;
  if (ANOMALY) {
    // After the pipeline phases, so it never competes with them for the CPU.
    log('anomaly engine: steady-state throughput and memory per series');
    try {
      anomalyRows = await benchAnomaly();
      anomaly = anomalyTable(anomalyRows);
    } catch (err) {
      anomaly = `anomaly benchmark failed: ${(err as Error).message}`;
    }
  }
  let alerts = '';
  let alertsRows: AlertsBenchRow[] | undefined;
  if (ALERTS) {
    log('alert rule engine: readings/s through 100 rules over 10,000 devices, memory per (rule, device)');
    try {
      alertsRows = await benchAlerts();
      alerts = alertsTable(alertsRows);
    } catch (err) {
      alerts = `alerts benchmark failed: ${(err as Error).message}`;
    }
  }
  let inputs = '';
  let inputsRows: InputsBenchRow[] | undefined;
  // BENCH_INPUTS=0 leaves out the HTTP and CoAP input rows (BENCH_ONLY=inputs runs only them).
  if (env.BENCH_INPUTS !== '0' && want('inputs')) {
    log('inputs: HTTP and CoAP into the default pack, and the stock HTTP flow');
    try {
      inputsRows = await benchInputs(log);
      inputs = inputsTable(inputsRows);
      log('inputs: the shared input path in-process (decode, normalise, validate, journal, intake, settle)');
      inputs += `\n\nThe shared input path in this process (bench/shared-path.ts; no HTTP server, Node-RED or store):\n\n${sharedPathTable(await benchSharedPath())}`;
    } catch (err) {
      inputs = `inputs benchmark failed: ${(err as Error).message}`;
    }
  }
  let hostile = '';
  let hostileRow: HostileBenchRow | undefined;
  if (HOSTILE) {
    log('hostile mix: 10,000 MQTT messages, half of them hostile, then time until healthy again');
    try {
      hostileRow = await benchHostile();
      hostile = hostileTable(hostileRow);
    } catch (err) {
      hostile = `hostile-mix benchmark failed: ${(err as Error).message}`;
    }
  }
  let influx = '';
  let influxRows: Awaited<ReturnType<typeof benchInflux>> | undefined;
  // BENCH_INFLUX=0 leaves out the InfluxDB rows (BENCH_ONLY=influx runs only them).
  if (env.BENCH_INFLUX !== '0' && want('influx')) {
    log('influx: Upperstack → InfluxDB 1.x against two stock Node-RED flows and a bare writer; roll-up query');
    try {
      influxRows = await benchInflux(log);
      influx = influxTable(influxRows);
    } catch (err) {
      influx = `influx benchmark failed: ${(err as Error).message}`;
    }
  }
  const sums = summaries(rows);
  const lat = summaries(latencyRows);
  const v = verdicts(sums, lat);
  const pipeline =
    sums.length + lat.length === 0 && !idleRss
      ? []
      : [
          '',
          `Upperstack pipeline benchmark: QoS 1 JSON readings over loopback, ${READINGS.toLocaleString('en-US')} readings per phase, the flow pack as shipped (anomaly and alert nodes on)`,
          `(${cpus().length} CPUs, node ${process.version}, ${PUBLISHERS} publisher processes × ${CLIENTS} MQTT clients × ${INFLIGHT} messages in flight; rounds: ${ROUNDS} with 1 reading/msg, ${BATCH_ROUNDS} with 10)`,
          '',
          ...(sums.length ? [table(sums), ''] : []),
          ...(lat.length ? [`Latency at a fixed ${fmtRate(LATENCY_RATE)} readings/s (single-reading messages, ${LATENCY_SECONDS} s), published → queryable:`, '', latencyTable(lat), ''] : []),
          ...skipped.map((s) => `- ${s}`),
          ...(skipped.length ? [''] : []),
          verdictTable(v),
          '',
          `readings/s: published → counted in the store (raw: received); acked/s: published → last PUBACK; latency: publish → first poll that sees the probe row (poll every ${POLL_MS} ms); µs/reading: CPU time of the consumer process (all: consumer, broker and publishers together) per reading`,
          '',
        ];
  const out = [
    ...pipeline,
    ...(anomaly ? ['', 'Anomaly engine (bench/anomaly.ts): 100,000 points through AnomalyEngine.process() over 20 warmed-up series; heap per series with full windows', '', anomaly, ''] : []),
    ...(inputs ? ['', 'HTTP and CoAP inputs (bench/inputs.ts): JSON readings into the default pack (anomaly node disabled) a stock Node-RED http in → json → http response + join → DuckDB writer flow, and a bare node:http server that only JSON.parses (the ceiling); readings/s counted in the store, latency request → answer', '', inputs, ''] : []),
    ...(hostile ? ['', 'Hostile mix (bench/hostile.ts): the default flow pack takes 10,000 QoS 1 messages (test/helpers/hostile-mix.ts), half ordinary, half hostile; peak RSS of the runtime while it works through them, and seconds from the last PUBACK until a new device is queryable, /health is 200 and the journals are settled', '', hostile, ''] : []),
    ...(influx ? ['', 'InfluxDB 1.x (bench/influx.ts): a burst of 50,000 single-reading QoS 1 messages through mosquitto into influxd, one consumer at a time, measured live (published while it runs: first publish → counted in InfluxDB) and as a backlog drain (queued at the broker while it is stopped: continue → counted); lost = acknowledged by the broker and never stored, peak RSS of the consumer; roll-up query on the embedded store', '', influx, ''] : []),
    ...(alerts ? ['', 'Alert rule engine (bench/alerts.ts): 400,000 readings (5 fields each) through RuleEngine.process() in messages of 100, 100 rules of every kind over 10,000 devices, one timer tick per 10,000 readings; heap per (rule, device) pair (target: 200,000 readings/s per core)', '', alerts, ''] : []),
    `total ${Math.round((Date.now() - started) / 1000)} s`,
    '',
  ].join('\n');
  process.stdout.write(out);
  if (env.BENCH_JSON) {
    const strip = (list: Summary[]) => list.map(({ rounds, ...rest }) => ({ ...rest, rounds: rounds.map(({ latencies, ...r }) => ({ ...r, probes: latencies.length })) }));
    writeFileSync(env.BENCH_JSON, JSON.stringify({ summary: strip(sums), latency: strip(lat), idleRss, verdicts: v, skipped, anomaly: anomalyRows, alerts: alertsRows, inputs: inputsRows, hostile: hostileRow, influx: influxRows, readings: READINGS, publishers: PUBLISHERS, clients: CLIENTS, inflight: INFLIGHT, rounds: ROUNDS, batchRounds: BATCH_ROUNDS }, null, 2));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // A measurement, not a test: report and still exit 0.
    log(`benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(0);
  },
);
