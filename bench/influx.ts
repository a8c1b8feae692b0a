/**
 * The InfluxDB rows of `npm run bench` (BENCH_ONLY=influx runs only them).
 *
 * Ingest: a burst of 50,000 single-reading QoS 1 messages (BENCH_INFLUX_READINGS),
 * 2 publisher processes × 2 MQTT clients × 100 in flight, through a Debian
 * mosquitto into the same Debian influxd 1.x (one database per phase), for:
 *
 *   upperstack    the real runtime (`npm start` with UPPERSTACK_INFLUX_URL: the default pack,
 *                 anomaly node disabled, journal → decode → validate → store → DuckDB + InfluxDB)
 *   upperstack-only  the same with UPPERSTACK_STORE=influxdb (victoriametrics on that server): the
 *                 server is the only store, no DuckDB; dashboard and alerts still fed
 *   stock message mqtt in → function → influxdb out (node-red-contrib-influxdb, one write per message)
 *   stock batch   mqtt in → function → join 1000 → influxdb batch
 *   bare writer   MQTT.js + JSON.parse + line protocol, 5,000-line POSTs (bench/influx-bare.ts): the ceiling
 *
 * Each consumer gets a fresh broker and process and is measured two ways
 * (BENCH_INFLUX_MODE=live|drain|both, default both):
 *
 *   live   the burst is published while the consumer runs; readings/s: first publish →
 *          the moment InfluxDB counts every reading (or its last new one). On this 2-core
 *          machine the publishers, mosquitto, influxd and the consumer share the CPU, and a
 *          consumer cannot be faster than the burst is published: a fast one measures the
 *          publishers (docs/performance.md).
 *   drain  the consumer is stopped (SIGSTOP; its connection and session stay), a second
 *          burst is published and queued by mosquitto for it, then it is continued
 *          (SIGCONT): readings/s from SIGCONT to the moment InfluxDB counts every reading of
 *          that burst. The backlog a consumer catches up after a pause, with no publisher
 *          running; the same for every consumer.
 *
 * lost: published and acknowledged by the broker but never in InfluxDB (waited for until
 * the count stops growing for 15 s); peak RSS of the consumer process (VmHWM or sampled);
 * CPU µs/reading: CPU time of the consumer process (all threads) while measured / readings stored.
 *
 * The same burst into VictoriaMetrics (a fresh server per phase; counted with
 * count_over_time) for Upperstack and the bare writer. Sink path (bench/influx-sink.ts):
 * the sink's writer alone against a bare writer in one process, CPU per reading.
 * BENCH_PROFILE_DIR profiles the runtime over the measured burst (bench/cpu-profile.ts).
 *
 * Roll-up query: one device with a year of 1-minute readings in an embedded
 * store; hourly means over the year from the 1-hour tier and from the raw rows,
 * p50 of repeated queries.
 *
 * Targets (issue 11): ≥ 2× the batched stock flow, ≥ 0.8× the bare writer, 0 lost.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, startRuntime, type Runtime } from '../test/helpers/runtime';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto';
import { influxQuery, startInfluxd, startVictoria, type TsdbServer } from '../test/helpers/influxd';
import { DuckDbStore } from '../nodes/lib/store/duckdb';
import { serverOnlyPack } from '../nodes/lib/store/store-mode';
import { DEFAULT_RECEIVE_MAXIMUM } from '../nodes/mqtt-connection/options';
import { ProcWatch, percentile, sleep, TS_BASE, type PublisherConfig, type PublisherReport } from './common';
import { stockInfluxFlow } from './influx-flows';
import { benchSinkPath, type SinkPathRow } from './influx-sink';
import { tempDir } from '../test/helpers/temp';

const env = process.env;
const ROOT = join(__dirname, '..', '..');
const READINGS = Number(env.BENCH_INFLUX_READINGS) || 50_000;
const ROUNDS = Number(env.BENCH_INFLUX_ROUNDS) || 1;
/** BENCH_INFLUX_CONSUMERS: a comma list of upperstack, stock-message, stock-batch, bare (default all). */
const CONSUMERS = new Set((env.BENCH_INFLUX_CONSUMERS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
/** BENCH_INFLUX_SERVERS: influxdb, victoriametrics (default both; the issue's targets are against InfluxDB 1.x). */
const SERVERS = (env.BENCH_INFLUX_SERVERS ?? 'influxdb,victoriametrics').split(',').map((s) => s.trim()).filter(Boolean) as ServerKind[];
/** BENCH_INFLUX_SINKPATH=0 leaves out the sink-path rows (bench/influx-sink.ts); BENCH_INFLUX_SINKPATH_READINGS per run. */
const SINKPATH = env.BENCH_INFLUX_SINKPATH !== '0';
const SINKPATH_READINGS = Number(env.BENCH_INFLUX_SINKPATH_READINGS) || 200_000;
/** BENCH_INFLUX_ROLLUP=0 leaves out the roll-up query row. */
const ROLLUP = env.BENCH_INFLUX_ROLLUP !== '0';
/** BENCH_INFLUX_MODE: live, drain or both (default): how a phase measures (see above). */
const MODE = (env.BENCH_INFLUX_MODE ?? 'both').trim() || 'both';
const MODES: Measure[] = MODE === 'both' ? ['live', 'drain'] : [MODE as Measure];
if (!MODES.every((m) => m === 'live' || m === 'drain')) throw new Error(`BENCH_INFLUX_MODE must be live, drain or both (got ${MODE})`);
const PUBLISHERS = 2;
const CLIENTS = 2;
const INFLIGHT = 100;
/** After the last PUBACK, a count that has not grown for this long is final. */
const SETTLE_MS = 15_000;
const PHASE_LIMIT_MS = 600_000;

export type ServerKind = 'influxdb' | 'victoriametrics';

/** live: published while the consumer runs; drain: queued at the broker while it is stopped, then drained. */
export type Measure = 'live' | 'drain';

export type InfluxConsumer = 'upperstack' | 'upperstack-only' | 'upperstack-duckdb' | 'stock-message' | 'stock-batch' | 'bare';

export const INFLUX_CONSUMERS: Record<InfluxConsumer, string> = {
  upperstack: 'Upperstack (default pack: DuckDB + InfluxDB sinks)',
  'upperstack-only': 'Upperstack (InfluxDB only)',
  'upperstack-duckdb': '(context) Upperstack, DuckDB sink only, counted in DuckDB',
  'stock-message': 'stock: mqtt in → influxdb out (per message)',
  'stock-batch': 'stock: mqtt in → join 1000 → influxdb batch',
  bare: 'bare line-protocol writer, 5,000-line POSTs',
};

export interface InfluxBenchRow {
  consumer: InfluxConsumer;
  server: ServerKind;
  measure: Measure;
  round: number;
  readings: number;
  stored: number;
  lost: number;
  seconds: number;
  rate: number;
  /** Seconds from the first publish to the last PUBACK of the broker. */
  ackSeconds: number;
  peakRssMb: number;
  cores: number;
  /** CPU seconds of the consumer process (all threads) while measured. */
  cpuSeconds: number;
  errors: string;
}

export interface RollupBenchRow {
  points: number;
  writeSeconds: number;
  buckets: number;
  tier: string;
  tierP50Ms: number;
  rawP50Ms: number;
  runs: number;
  equal: boolean;
}

interface Consumer {
  pid: number | undefined;
  /** Runs bench/cpu-profile.ts: SIGWINCH starts and stops the profile. */
  profiled?: boolean;
  /** Counts somewhere else than InfluxDB (the DuckDB-only context row). */
  count?(device: string): Promise<number>;
  stop(): Promise<void>;
  output(): string;
}

const countQuery = (prefix: string) => `SELECT count(temperature) FROM telemetry WHERE device =~ /^${prefix}-/`;

/** Samples VictoriaMetrics holds for a device regex (nocache: VictoriaMetrics caches rollup answers). */
async function countVictoria(vm: TsdbServer, deviceRe: string): Promise<number> {
  try {
    const q = `sum(count_over_time(telemetry_temperature{device=~"${deviceRe}"}[3650d]))`;
    const res = await fetch(`${vm.url}/api/v1/query?${new URLSearchParams({ query: q, nocache: '1' })}`);
    const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
    return Number(body.data?.result?.[0]?.value?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function count(influx: TsdbServer, db: string, q: string): Promise<number> {
  try {
    const [res] = await influxQuery(influx, q, db);
    return Number(res.series?.[0]?.values?.[0]?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Publishes a reading of device `warmup` until InfluxDB has it: the consumer is subscribed and writing. */
async function warmUp(url: string, stored: () => Promise<number>, what: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-warmup-${process.pid}`, reconnectPeriod: 0 });
  try {
    const end = Date.now() + 120_000;
    for (let i = 0; ; i++) {
      await client.publishAsync('devices/warmup/telemetry', JSON.stringify({ device: 'warmup', ts: TS_BASE - 100_000 + i, temperature: 1, humidity: 1 }), { qos: 1 });
      await sleep(500);
      if ((await stored()) > 0) return;
      if (Date.now() > end) throw new Error(`${what}: no warm-up reading was stored in 120 s`);
    }
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}

function forkChild(file: string, arg: unknown): ChildProcess {
  return fork(join(__dirname, file), [JSON.stringify(arg)], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...env, NODE_OPTIONS: '' } });
}

async function publish(url: string, devicePrefix: string): Promise<{ total: number; firstPublish: number; lastAck: number }> {
  const messagesPerClient = Math.floor(READINGS / (PUBLISHERS * CLIENTS));
  const procs: ChildProcess[] = [];
  const ready: Array<Promise<void>> = [];
  const done: Array<Promise<{ firstPublish: number; lastAck: number }>> = [];
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
    done.push(Promise.race([failed, new Promise<{ firstPublish: number; lastAck: number }>((r) => p.on('message', (m: PublisherReport) => m.type === 'done' && r(m)))]));
  }
  try {
    await Promise.all(ready);
    for (const p of procs) p.send({ type: 'go' });
    const res = await Promise.all(done);
    return { total: messagesPerClient * PUBLISHERS * CLIENTS, firstPublish: Math.min(...res.map((r) => r.firstPublish)), lastAck: Math.max(...res.map((r) => r.lastAck)) };
  } finally {
    for (const p of procs) {
      p.removeAllListeners('exit');
      if (p.connected) p.send({ type: 'exit' });
    }
  }
}

async function startUpperstack(brokerPort: number, influx: TsdbServer | undefined, db: string, dataDir: string, only?: ServerKind): Promise<Consumer> {
  let flows = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown> & { id: string; type: string }>;
  // UPPERSTACK_STORE=influxdb|victoriametrics: the pack settings.ts writes at a first start in that mode.
  if (only) flows = serverOnlyPack(flows, only);
  for (const n of flows) if (n.type === 'upperstack-anomaly') n.d = true;
  // BENCH_INFLUX_MQTT_VERSION (5 as the InfluxDB pack ships, or 4) and BENCH_INFLUX_RECEIVE_MAXIMUM (MQTT 5; 0 announces
  // none, the broker's window then): the connection's settings, for comparisons.
  const protocolVersion = env.BENCH_INFLUX_MQTT_VERSION === '4' ? 4 : 5;
  const receiveMaximum = env.BENCH_INFLUX_RECEIVE_MAXIMUM === undefined ? DEFAULT_RECEIVE_MAXIMUM : Number(env.BENCH_INFLUX_RECEIVE_MAXIMUM);
  flows.push({ id: 'bench_conn', type: 'upperstack-mqtt-connection', name: 'mosquitto', url: `mqtt://127.0.0.1:${brokerPort}`, clientId: `upperstack-bench-${process.pid}`, protocolVersion, persistent: true, keepalive: 60, ca: '', cert: '', key: '', rejectUnauthorized: true, receiveMaximum, configVersion: 2 });
  for (const n of flows) {
    if (n.type === 'upperstack-mqtt-in') {
      n.source = 'external';
      n.connection = 'bench_conn';
      // BENCH_INFLUX_HIGH_WATER: the input's unsettled-message mark (the readings mark follows at 2×), for comparisons.
      if (env.BENCH_INFLUX_HIGH_WATER) {
        const high = Number(env.BENCH_INFLUX_HIGH_WATER);
        n.highWater = high;
        n.lowWater = Math.floor(high / 2);
        n.highWaterReadings = 2 * high;
      }
    }
  }
  // BENCH_INFLUX_FLUSH_MS / BENCH_INFLUX_BATCH: the pack's InfluxDB sink settings, for comparisons.
  for (const n of flows) {
    if (n.type !== 'upperstack-store-config') continue;
    for (const sink of n.sinks as Array<Record<string, unknown>>) {
      if (sink.kind !== 'influxdb' && sink.kind !== 'victoriametrics') continue;
      if (env.BENCH_INFLUX_FLUSH_MS) sink.flushMs = Number(env.BENCH_INFLUX_FLUSH_MS);
      if (env.BENCH_INFLUX_BATCH) sink.batchSize = Number(env.BENCH_INFLUX_BATCH);
    }
  }
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  // BENCH_RUNTIME_NODE_OPTIONS: NODE_OPTIONS of the runtime (as in bench/run.ts; a heap flag set there replaces the shipped one).
  const extra: Record<string, string> = { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: env.BENCH_RUNTIME_NODE_OPTIONS ?? '', UPPERSTACK_INFLUX_URL: influx ? influx.url : '', UPPERSTACK_INFLUX_DB: db, UPPERSTACK_STORE: only ?? '' };
  if (env.BENCH_PROFILE_DIR) {
    // The same sampling profiler as the pipeline rows (bench/cpu-profile.ts), over the measured burst only.
    extra.NODE_OPTIONS = `${extra.NODE_OPTIONS} --require ${join(__dirname, 'cpu-profile.js')}`.trim();
    extra.BENCH_CPU_PROFILE_OUT = join(env.BENCH_PROFILE_DIR, `influx-${only ? 'only' : influx ? 'influx' : 'duckdb'}-${Date.now()}.cpuprofile`);
  }
  const rt: Runtime = await startRuntime({ dataDir, env: extra });
  const count = async (device: string) => {
    const res = await rt.get(`/api/v1/readings/aggregate?device=${encodeURIComponent(device)}&field=temperature&fn=count&every=10000d`);
    if (res.status !== 200) return 0;
    const body = (await res.json()) as { points: Array<{ value: number }> };
    return body.points.reduce((n, p) => n + p.value, 0);
  };
  return { pid: rt.proc.pid, stop: () => rt.stop(), output: () => rt.output(), count: influx ? undefined : count, profiled: !!env.BENCH_PROFILE_DIR };
}

async function startStock(mode: 'message' | 'batch', brokerPort: number, influx: TsdbServer, db: string, dir: string): Promise<Consumer> {
  const port = await freePort();
  const { flows, credentials } = stockInfluxFlow({ mode, brokerPort, filter: 'devices/+/telemetry', influxPort: influx.port, database: db });
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(flows));
  writeFileSync(join(dir, 'flows_cred.json'), JSON.stringify(credentials));
  const red = join(ROOT, 'node_modules', 'node-red', 'red.js');
  const proc = spawn(process.execPath, [red, '-s', join(__dirname, 'stock-settings.js'), '-u', dir], {
    cwd: dir,
    env: { ...env, NODE_OPTIONS: '', BENCH_STOCK_PORT: String(port), BENCH_STOCK_DB: join(dir, 'stock.duckdb') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const consumer: Consumer = {
    pid: proc.pid,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  const end = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`stock Node-RED exited with ${proc.exitCode}:\n${out}`);
    const ok = await fetch(`http://127.0.0.1:${port}/bench/ready`).then((r) => r.status === 200, () => false);
    if (ok) return consumer;
    if (Date.now() > end) {
      await consumer.stop();
      throw new Error(`stock Node-RED did not start in 60 s:\n${out}`);
    }
    await sleep(200);
  }
}

async function startBare(brokerPort: number, influx: TsdbServer, db: string): Promise<Consumer & { errors: string[] }> {
  const p = forkChild('influx-bare.js', { mqttUrl: `mqtt://127.0.0.1:${brokerPort}`, filter: 'devices/+/telemetry', influxUrl: influx.url, db });
  const errors: string[] = [];
  let out = '';
  p.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  await new Promise<void>((resolve, reject) => {
    p.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'error') errors.push(m.message ?? '');
    });
    p.once('exit', (code) => reject(new Error(`bare writer exited with ${code}: ${out}`)));
  });
  p.removeAllListeners('exit');
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  return {
    pid: p.pid,
    errors,
    output: () => out,
    async stop() {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Every consumer's devices of one burst: `<prefix>-p<publisher>-c<client>` (bench/publisher.ts). */
const burstDevices = (prefix: string) => Array.from({ length: PUBLISHERS * CLIENTS }, (_, i) => `${prefix}-p${Math.floor(i / CLIENTS)}-c${i % CLIENTS}`);

/**
 * One burst into a running consumer, measured `live` (published while it runs) or `drain` (published
 * while it is stopped with SIGSTOP, queued by mosquitto in its session, then drained after SIGCONT).
 */
async function burst(measure: Measure, url: string, consumer: Consumer, stored_: (deviceRe: string, q: string) => Promise<number>): Promise<{ readings: number; stored: number; seconds: number; ackSeconds: number; peakRss: number; cores: number; cpu: number }> {
  const prefix = measure === 'live' ? 'bench' : 'drain';
  const c = consumer;
  const storedLoad = c.count ? async () => (await Promise.all(burstDevices(prefix).map((d) => c.count!(d)))).reduce((a, b) => a + b, 0) : () => stored_(`${prefix}-.*`, countQuery(prefix));
  let acked: { total: number; firstPublish: number; lastAck: number } | undefined;
  let pubFailed: unknown;
  let started: number;
  let watch: ProcWatch;
  if (measure === 'live') {
    watch = new ProcWatch(c.pid, 100).begin();
    if (c.profiled && c.pid) process.kill(c.pid, 'SIGWINCH');
    void publish(url, prefix).then((a) => (acked = a), (err: unknown) => (pubFailed = err));
    started = Date.now();
  } else {
    process.kill(c.pid!, 'SIGSTOP');
    try {
      acked = await publish(url, prefix);
    } finally {
      process.kill(c.pid!, 'SIGCONT');
    }
    // The profile's start signal waits in the stopped process: it starts with the drain.
    if (c.profiled && c.pid) process.kill(c.pid, 'SIGWINCH');
    watch = new ProcWatch(c.pid, 100).begin();
    started = Date.now();
  }
  // Drains last a second or two: a finer poll than the live burst's keeps the end exact to ~5%.
  const poll = measure === 'live' ? 250 : 100;
  let stored = 0;
  let grewAt = started;
  for (;;) {
    await sleep(poll);
    if (pubFailed) throw pubFailed;
    const n = await storedLoad();
    if (n > stored) {
      stored = n;
      grewAt = Date.now();
    }
    if (acked && stored >= acked.total) break;
    if (acked && Date.now() - Math.max(grewAt, acked.lastAck) > SETTLE_MS) break;
    if (Date.now() - started > PHASE_LIMIT_MS) break;
  }
  const mem = watch.end();
  if (c.profiled && c.pid) process.kill(c.pid, 'SIGWINCH');
  const a = acked!;
  return {
    readings: a.total,
    stored,
    seconds: (grewAt - (measure === 'live' ? a.firstPublish : started)) / 1000,
    ackSeconds: (a.lastAck - a.firstPublish) / 1000,
    peakRss: mem.peakRss,
    cores: mem.cores,
    cpu: mem.cpu,
  };
}

async function phase(consumerKind: InfluxConsumer, round: number, server: ServerKind, shared: TsdbServer | undefined, log: (s: string) => void): Promise<InfluxBenchRow[]> {
  const db = `bench_${consumerKind.replace('-', '_')}_${round}`;
  // VictoriaMetrics has no databases: a fresh server per phase, so phases do not count each other's points.
  const influx = server === 'victoriametrics' ? await startVictoria() : shared!;
  if (server === 'influxdb') await influxQuery(influx, `CREATE DATABASE "${db}"`);
  const stored_ = (deviceRe: string, q: string) => (server === 'victoriametrics' ? countVictoria(influx, deviceRe) : count(influx, db, q));
  // BENCH_INFLUX_BROKER_CONF: more mosquitto.conf lines, `;`-separated (e.g. `max_inflight_messages 20`, mosquitto's default).
  const conf = (env.BENCH_INFLUX_BROKER_CONF ?? '').split(';').map((l) => l.trim()).filter(Boolean);
  const mosq: Mosquitto = await startMosquitto({ maxQueuedMessages: 10_000_000, conf });
  const dir = tempDir('us-bench-influx-');
  let consumer: Consumer | undefined;
  try {
    let bare: (Consumer & { errors: string[] }) | undefined;
    if (consumerKind === 'upperstack') consumer = await startUpperstack(mosq.port, influx, db, dir);
    else if (consumerKind === 'upperstack-only') consumer = await startUpperstack(mosq.port, influx, db, dir, server);
    else if (consumerKind === 'upperstack-duckdb') consumer = await startUpperstack(mosq.port, undefined, db, dir);
    else if (consumerKind === 'bare') consumer = bare = await startBare(mosq.port, influx, db);
    else consumer = await startStock(consumerKind === 'stock-message' ? 'message' : 'batch', mosq.port, influx, db, dir);
    const url = `mqtt://127.0.0.1:${mosq.port}`;
    const c = consumer;
    await warmUp(url, c.count ? () => c.count!('warmup') : () => stored_('warmup', `SELECT count(temperature) FROM telemetry WHERE device = 'warmup'`), consumerKind);
    const rows: InfluxBenchRow[] = [];
    for (const measure of MODES) {
      const b = await burst(measure, url, c, stored_);
      const errors = bare ? bare.errors : [...new Set((consumer.output().match(/\[error\][^\n]*/g) ?? []).map((l) => l.replace(/^\[error\]\s*/, '').slice(0, 120)))];
      const row: InfluxBenchRow = {
        consumer: consumerKind,
        server,
        measure,
        round,
        readings: b.readings,
        stored: b.stored,
        lost: b.readings - b.stored,
        seconds: b.seconds,
        rate: b.stored / b.seconds,
        ackSeconds: b.ackSeconds,
        peakRssMb: b.peakRss / 1048576,
        cores: b.cores,
        cpuSeconds: b.cpu,
        errors: errors.slice(0, 3).join(' | '),
      };
      if (row.lost > 0 && env.BENCH_INFLUX_VERBOSE) log(`  ${consumerKind} output:\n${consumer.output().slice(-4000)}`);
      log(`  ${consumerKind} → ${server} r${round} ${measure}: ${Math.round(row.rate).toLocaleString('en-US')} readings/s, lost ${row.lost}, ${Math.round((row.cpuSeconds / Math.max(1, row.stored)) * 1e6)} µs CPU/reading, peak RSS ${Math.round(row.peakRssMb)} MB${row.errors ? `; errors: ${row.errors}` : ''}`);
      rows.push(row);
    }
    return rows;
  } catch (err) {
    log(`  ${consumerKind} failed: ${(err as Error).message}\n${consumer?.output().slice(-3000) ?? ''}`);
    throw err;
  } finally {
    await consumer?.stop().catch(() => undefined);
    await mosq.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (server === 'victoriametrics') await influx.destroy().catch(() => undefined);
    else await influxQuery(influx, `DROP DATABASE "${db}"`).catch(() => undefined);
  }
}

/** A year of 1-minute readings of one device; hourly means from the 1-hour tier vs from the raw rows. */
export async function benchRollup(runs = 21): Promise<RollupBenchRow> {
  const dir = tempDir('us-bench-rollup-');
  const store = new DuckDbStore({ path: join(dir, 'year.duckdb'), rollups: true });
  try {
    await store.open();
    const from = Date.UTC(2025, 0, 1);
    const points = 365 * 24 * 60;
    const t0 = Date.now();
    for (let i = 0; i < points; ) {
      const batch = [];
      for (let j = 0; j < 5000 && i < points; j++, i++) batch.push({ device: 'year', ts: from + i * 60_000, fields: { v: 20 + 5 * Math.sin(i / 720) + (i % 7) / 10 }, tags: {} });
      await store.write(batch);
    }
    const writeSeconds = (Date.now() - t0) / 1000;
    const q = { device: 'year', field: 'v', from, to: from + points * 60_000, everyMs: 3_600_000, fn: 'mean' as const };
    const tiered: number[] = [];
    let tier = '';
    let fromTier: Array<{ ts: number; value: unknown }> = [];
    for (let i = 0; i < runs; i++) {
      const s = process.hrtime.bigint();
      const r = await store.aggregateWithTier(q);
      tiered.push(Number(process.hrtime.bigint() - s) / 1e6);
      tier = r.tier;
      fromTier = r.points;
    }
    const raw: number[] = [];
    let fromRaw: Array<{ ts: number; value: unknown }> = [];
    for (let i = 0; i < Math.max(3, Math.floor(runs / 4)); i++) {
      const s = process.hrtime.bigint();
      fromRaw = await store.aggregateRaw(q);
      raw.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const equal = fromTier.length === fromRaw.length && fromTier.every((p, i) => p.ts === fromRaw[i].ts && Math.abs(Number(p.value) - Number(fromRaw[i].value)) < 1e-9);
    return {
      points,
      writeSeconds,
      buckets: fromTier.length,
      tier,
      tierP50Ms: percentile(tiered.sort((a, b) => a - b), 50),
      rawP50Ms: percentile(raw.sort((a, b) => a - b), 50),
      runs,
      equal,
    };
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchInflux(log: (s: string) => void): Promise<{ rows: InfluxBenchRow[]; sinkPath: SinkPathRow[]; rollup?: RollupBenchRow; failures: string[] }> {
  const influx = await startInfluxd();
  const rows: InfluxBenchRow[] = [];
  const sinkPath: SinkPathRow[] = [];
  const failures: string[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of SERVERS) {
        // The stock flows write InfluxDB 1.x's /write; against VictoriaMetrics only ours and the bare writer run.
        const consumers: InfluxConsumer[] = server === 'influxdb' ? ['bare', 'upperstack', 'upperstack-only', 'upperstack-duckdb', 'stock-batch', 'stock-message'] : ['bare', 'upperstack', 'upperstack-only'];
        for (const c of consumers) {
          if (CONSUMERS.size && !CONSUMERS.has(c)) continue;
          try {
            rows.push(...(await phase(c, round, server, influx, log)));
          } catch (err) {
            failures.push(`${c} → ${server}: ${(err as Error).message.split('\n')[0]}`);
          }
        }
      }
    }
    if (SINKPATH) {
      for (const server of SERVERS) {
        log(`  sink path → ${server}: ${SINKPATH_READINGS.toLocaleString('en-US')} readings, the sink's writer against the bare writer in process`);
        const vm = server === 'victoriametrics' ? await startVictoria() : undefined;
        try {
          const target = vm ?? influx;
          const made = vm ? async () => undefined : async (name: string) => void (await influxQuery(influx, `CREATE DATABASE "${name}"`));
          const got = await benchSinkPath(target, server, SINKPATH_READINGS, TS_BASE - 30 * 86_400_000, made);
          for (const r of got) log(`    ${r.writer}: ${Math.round(r.rate).toLocaleString('en-US')} readings/s, ${r.cpuUsPerReading.toFixed(2)} µs CPU/reading`);
          sinkPath.push(...got);
        } catch (err) {
          failures.push(`sink path → ${server}: ${(err as Error).message.split('\n')[0]}`);
        } finally {
          await vm?.destroy().catch(() => undefined);
        }
      }
    }
  } finally {
    await influx.destroy();
  }
  let rollup: RollupBenchRow | undefined;
  if (ROLLUP) {
    log('  roll-up query: a year of 1-minute readings, hourly means');
    try {
      rollup = await benchRollup();
    } catch (err) {
      failures.push(`roll-up: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { rows, sinkPath, rollup, failures };
}

function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function grid(lines: string[][]): string {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}

const SERVER_NAME: Record<ServerKind, string> = { influxdb: 'InfluxDB 1.x', victoriametrics: 'VictoriaMetrics' };

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
