/** The consumers' start-up: our runtime, the stock Node-RED flows and the bare writer, each writing to the server. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRuntime, type Runtime } from '../test/helpers/runtime';
import type { TsdbServer } from '../test/helpers/influxd';
import { serverOnlyPack } from '../nodes/lib/store/store-mode';
import { DEFAULT_RECEIVE_MAXIMUM } from '../nodes/mqtt-connection/options';
import { stockInfluxFlow } from './influx-flows';
import { startStockRed } from './stock-flow';
import { ROOT, env, type Consumer, type ServerKind } from './influx-knobs';
import { forkChild } from './influx-load';

export async function startUpperstack(brokerPort: number, influx: TsdbServer | undefined, db: string, dataDir: string, only?: ServerKind): Promise<Consumer> {
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

export async function startStock(mode: 'message' | 'batch', brokerPort: number, influx: TsdbServer, db: string, dir: string): Promise<Consumer> {
  const { flows, credentials } = stockInfluxFlow({ mode, brokerPort, filter: 'devices/+/telemetry', influxPort: influx.port, database: db });
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(flows));
  writeFileSync(join(dir, 'flows_cred.json'), JSON.stringify(credentials));
  const stock = await startStockRed({ dir, readyPath: '/bench/ready' });
  return { pid: stock.proc.pid, output: stock.output, stop: stock.stop };
}

export async function startBare(brokerPort: number, influx: TsdbServer, db: string): Promise<Consumer & { errors: string[] }> {
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
