/**
 * The HTTP and CoAP inputs' rows of `npm run bench` (BENCH_ONLY=inputs runs only
 * these; BENCH_INPUTS=0 leaves them out):
 *
 *   HTTP single   keep-alive clients POST one reading per request to /ingest/{device}
 *   HTTP batch    the same with 100 readings per request
 *   CoAP CON      UDP clients POST one reading per confirmable request to /telemetry/{device}
 *
 * each against the default flow pack (anomaly node disabled), and the HTTP rows
 * also against a stock Node-RED flow (`http in` → `json` → `http response` 202, and
 * → join → the same DuckDB writer as the MQTT stock row) and a bare node:http
 * server that only JSON.parses and answers 202 (the ceiling: no framework, no
 * journal, no store; bench/raw-http-server.ts). readings/s: first request
 * → all readings counted in the store; latency: request → answer (p50/p99);
 * CPU µs/reading: CPU time of the consumer process (every thread) over the
 * same span. bench/shared-path.ts adds the shared input path measured alone.
 *
 * Knobs: BENCH_INPUT_SINGLE, BENCH_INPUT_BATCH, BENCH_INPUT_COAP (readings per
 * row; COAP 0 leaves the CoAP row out), BENCH_INPUT_CLIENTS, BENCH_INPUT_ROWS
 * (`1`, `100` or `1,100`: which HTTP rows), BENCH_INPUT_CLIENT=node (node:http's
 * client instead of undici's `Client`, bench/http-client.ts), BENCH_INPUT_THREADS=1 (CPU per
 * request of each process by thread name), BENCH_PROFILE_DIR (profiles our
 * runtime over each HTTP row's load, bench/cpu-profile.ts), BENCH_INPUT_BOUND=1
 * (what bounds each HTTP row: over the load window, the server's main-thread
 * busy share, the client's CPU per request, the machine's busy share, and
 * inside the server where a request's time goes: bench/bound-probe.ts; with
 * BENCH_PROFILE_DIR the profile then ends with the load, not after the drain).
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { generate, parse } from 'coap-packet';
import { startRuntime, type Runtime } from '../test/helpers/runtime';
import { KeepAliveClient } from './http-client';
import { percentile, procSample, sleep, threadCpuByName } from './common';
import { startStockRed, stockHttpFlow, type StockRed } from './stock-flow';
import { tempDir } from '../test/helpers/temp';

const env = process.env;
const ROOT = join(__dirname, '..', '..');
const CLIENTS = Number(env.BENCH_INPUT_CLIENTS) || 32;
const SINGLE = Number(env.BENCH_INPUT_SINGLE) || 20_000;
const BATCH_READINGS = Number(env.BENCH_INPUT_BATCH) || 200_000;
const COAP = env.BENCH_INPUT_COAP === '0' ? 0 : Number(env.BENCH_INPUT_COAP) || 20_000;
/** Readings per request of the HTTP rows run: BENCH_INPUT_ROWS=1 runs only the single-reading row. */
const ROWS = (env.BENCH_INPUT_ROWS ?? '1,100').split(',').map(Number).filter((n) => n === 1 || n === 100);
const T0 = 1_600_000_000_000;
const BOUND = env.BENCH_INPUT_BOUND === '1';
/** BENCH_INPUT_CLIENT=node: node:http's client and Agent, instead of undici's `Client` (bench/http-client.ts). */
const NODE_CLIENT = env.BENCH_INPUT_CLIENT === 'node';
const PROBE = join(__dirname, 'bound-probe.js');
let probeFiles = 0;

/** Where a server's bound probe writes (BENCH_INPUT_BOUND=1), and its preload; empty without the knob. */
function probeEnv(): { out?: string; env: Record<string, string> } {
  if (!BOUND) return { env: {} };
  const out = join(tempDir('us-bench-bound-'), `bound-${++probeFiles}.json`);
  return { out, env: { BENCH_BOUND_OUT: out } };
}

/** Busy and total jiffies of the whole machine (every core), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

export interface InputsBenchRow {
  row: string;
  consumer: 'upperstack' | 'stock' | 'raw';
  readings: number;
  rate: number;
  p50: number;
  p99: number;
  peakRssMb: number;
  /** CPU time of the consumer process (every thread) per reading, first request → all stored. */
  cpuUsPerReading: number;
  errors: number;
}

interface Target {
  consumer: 'upperstack' | 'stock' | 'raw';
  url: (device: string) => string;
  pid: number;
  /** The bound probe's output file (BENCH_INPUT_BOUND=1). */
  probeOut?: string;
  /** Readings stored for `devices`, each of which was sent `each`. */
  count(devices: string[], each: number): Promise<number>;
}

function devices(prefix: string): string[] {
  return Array.from({ length: CLIENTS }, (_, c) => `${prefix}-${c}`);
}

function body(device: string, c: number, i: number, per: number): string {
  const rs = Array.from({ length: per }, (_, k) => ({ device, ts: T0 + (i * per + k) * CLIENTS + c, temperature: 20 + ((i + k) % 50) / 10 }));
  return JSON.stringify(per === 1 ? rs[0] : rs);
}

/** CLIENTS keep-alive clients, each posting its share; latencies in ms. */
async function httpLoad(t: Target, prefix: string, readings: number, per: number): Promise<InputsBenchRow> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const devs = devices(prefix);
  const requestsPerClient = Math.ceil(readings / per / CLIENTS);
  const latencies: number[] = [];
  let errors = 0;
  let peak = 0;
  const watch = setInterval(() => (peak = Math.max(peak, procSample(t.pid)?.rss ?? 0)), 100);
  const profiling = t.consumer === 'upperstack' && !!env.BENCH_PROFILE_DIR;
  if (profiling || t.probeOut) process.kill(t.pid, 'SIGWINCH');
  const client0 = process.cpuUsage();
  const machine0 = machineTicks();
  const main0 = procSample(t.pid)?.mainCpu ?? 0;
  const threads0 = env.BENCH_INPUT_THREADS === '1' ? threadCpuByName(t.pid) : undefined;
  const cpu0 = procSample(t.pid)?.cpu ?? 0;
  const start = Date.now();
  await Promise.all(devs.map(async (device, c) => {
    const url = new URL(t.url(device));
    const path = url.pathname + url.search;
    const light = NODE_CLIENT ? undefined : new KeepAliveClient(url.hostname, Number(url.port));
    for (let i = 0; i < requestsPerClient; i++) {
      const payload = body(device, c, i, per);
      const sent = performance.now();
      const status = light
        ? await light.post(path, 'application/json', payload)
        : await new Promise<number>((resolve) => {
            const req = request(t.url(device), { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', () => resolve(0));
            req.end(payload);
          });
      latencies.push(performance.now() - sent);
      if (status === 503) {
        i--;
        await sleep(50);
      } else if (status !== 202) errors++;
    }
    light?.close();
  }));
  if (t.probeOut) await boundReport(t, start, client0, machine0, main0, requestsPerClient * CLIENTS, per);
  const total = requestsPerClient * CLIENTS * per;
  const end = Date.now() + 120_000;
  while ((await t.count(devs, errors ? 0 : requestsPerClient * per)) < total - errors * per && Date.now() < end) await sleep(50);
  const elapsed = (Date.now() - start) / 1000;
  const cpu = (procSample(t.pid)?.cpu ?? 0) - cpu0;
  if (profiling && !t.probeOut) process.kill(t.pid, 'SIGWINCH');
  if (threads0) {
    const parts: string[] = [];
    for (const [name, s] of threadCpuByName(t.pid)) parts.push(`${name} ${(((s - (threads0.get(name) ?? 0)) * 1e6) / (requestsPerClient * CLIENTS)).toFixed(1)}`);
    console.log(`[bench] inputs: ${t.consumer} ${per}-reading requests, CPU µs per request by thread: ${parts.join(', ')}`);
  }
  clearInterval(watch);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { row: `HTTP ${per === 1 ? 'single readings' : `${per}-reading batches`}`, consumer: t.consumer, readings: total, rate: total / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), peakRssMb: peak / 1024 / 1024, cpuUsPerReading: (cpu * 1e6) / total, errors };
}

/**
 * Over the load window (first request → last answer, the store's drain not in it): what the server's
 * main thread, the client (this process) and the machine were busy with, and the probe's split.
 */
async function boundReport(t: Target, start: number, client0: NodeJS.CpuUsage, machine0: { busy: number; total: number }, main0: number, requests: number, per: number): Promise<void> {
  const wallS = (Date.now() - start) / 1000;
  const client = process.cpuUsage(client0);
  const m = machineTicks();
  const mainS = (procSample(t.pid)?.mainCpu ?? 0) - main0;
  process.kill(t.pid, 'SIGWINCH');
  const until = Date.now() + 5000;
  while (!existsSync(t.probeOut!) && Date.now() < until) await sleep(20);
  const probe = existsSync(t.probeOut!) ? (JSON.parse(readFileSync(t.probeOut!, 'utf8')) as Record<string, unknown>) : {};
  const cores = 2;
  const fmt = (d: unknown) => {
    const x = d as { p50: number; p99: number; mean: number } | undefined;
    return x ? `${x.p50}/${x.p99}/${x.mean}` : '-';
  };
  const j = probe.journal as { writes: number; records: number; writeMs: number; maxRecords: number } | undefined;
  const fs = probe.fsyncs as { calls: number; ms: number; maxMs: number } | undefined;
  const parts = [
    `${t.consumer} ${per}-reading: load ${wallS.toFixed(2)} s, ${Math.round(requests / wallS)} req/s`,
    `server main thread busy ${((mainS / wallS) * 100).toFixed(0)}% (/proc) ${(Number(probe.eventLoopBusy ?? 0) * 100).toFixed(0)}% (event loop)`,
    `client CPU ${(((client.user + client.system) / requests)).toFixed(1)} µs/request = ${(((client.user + client.system) / 1e6 / wallS) * 100).toFixed(0)}% of a core`,
    `machine busy ${(((m.busy - machine0.busy) / (m.total - machine0.total)) * 100).toFixed(0)}% of ${cores} cores`,
    `in server ms p50/p99/mean ${fmt(probe.inServerMs)}`,
  ];
  if (j && j.writes) {
    parts.push(`request→submit ${fmt(probe.toSubmitMs)}, submit→journaled ${fmt(probe.toDurableMs)}, journaled→answer sent ${fmt(probe.afterDurableMs)}`);
    parts.push(`journal writes ${j.writes} (${(j.records / j.writes).toFixed(1)} records each, max ${j.maxRecords}, ${((j.writeMs * 1000) / j.writes).toFixed(0)} µs each)`);
  }
  if (fs) parts.push(`fsyncs ${fs.calls} (${fs.calls ? Math.round(requests / fs.calls) : '-'} requests each, ${fs.calls ? (fs.ms / fs.calls).toFixed(1) : '-'} ms each, max ${fs.maxMs.toFixed(1)})`);
  console.log(`[bench] inputs bound: ${parts.join('; ')}`);
}

async function coapLoad(rt: Runtime, prefix: string, readings: number): Promise<InputsBenchRow> {
  const devs = devices(prefix);
  const perClient = Math.ceil(readings / CLIENTS);
  const latencies: number[] = [];
  let errors = 0;
  let peak = 0;
  const watch = setInterval(() => (peak = Math.max(peak, procSample(rt.proc.pid)?.rss ?? 0)), 100);
  const cpu0 = procSample(rt.proc.pid)?.cpu ?? 0;
  const start = Date.now();
  await Promise.all(devs.map(async (device, c) => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    let waiter: ((code: string) => void) | undefined;
    sock.on('message', (m) => {
      const p = parse(m);
      if (p.code === '0.00') return;
      if (p.confirmable && !p.ack) sock.send(generate({ messageId: p.messageId, ack: true, code: '0.00' }), rt.coapPort, '127.0.0.1');
      waiter?.(p.code);
    });
    for (let i = 0; i < perClient; i++) {
      const packet = generate({ code: 'POST', messageId: i % 65536, token: Buffer.from([c, i & 255, (i >> 8) & 255]), confirmable: true, payload: Buffer.from(body(device, c, i, 1)), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from(device) }, { name: 'Content-Format', value: Buffer.from([50]) }] });
      const sent = performance.now();
      let code = '';
      for (let attempt = 0; attempt < 5 && !code; attempt++) {
        code = await new Promise<string>((resolve) => {
          const timer = setTimeout(() => resolve(''), 2000);
          waiter = (x) => {
            clearTimeout(timer);
            resolve(x);
          };
          sock.send(packet, rt.coapPort, '127.0.0.1');
        });
      }
      latencies.push(performance.now() - sent);
      if (code === '5.03') {
        i--;
        await sleep(50);
      } else if (code !== '2.04') errors++;
    }
    sock.close();
  }));
  const total = perClient * CLIENTS;
  const end = Date.now() + 120_000;
  const counter = ourCounter(rt);
  while ((await counter(devs, errors ? 0 : perClient)) < total - errors && Date.now() < end) await sleep(50);
  const elapsed = (Date.now() - start) / 1000;
  const cpu = (procSample(rt.proc.pid)?.cpu ?? 0) - cpu0;
  clearInterval(watch);
  latencies.sort((a, b) => a - b);
  return { row: 'CoAP CON single readings', consumer: 'upperstack', readings: total, rate: total / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), peakRssMb: peak / 1024 / 1024, cpuUsPerReading: (cpu * 1e6) / total, errors };
}

async function countDevice(rt: Runtime, device: string): Promise<number> {
  const res = await rt.get(`/api/v1/readings/aggregate?device=${encodeURIComponent(device)}&field=temperature&fn=count&every=10000d`);
  const b = (await res.json()) as { points: Array<{ value: number }> };
  let n = 0;
  for (const p of b.points) n += p.value;
  return n;
}

/**
 * Counts the runtime's stored readings of a row's devices. The runtime answers
 * one device per query (the stock flow and the bare server count a prefix in
 * one): a device that has all it was sent is not asked again (counts only
 * grow), and a poll stops at the first device still short, so waiting costs a
 * query or two per poll instead of one per device, and the CPU per reading
 * measured is the runtime's work, not the benchmark's polling. With `each` 0
 * (some requests failed: totals are not known per device) every device is asked.
 */
function ourCounter(rt: Runtime): (devs: string[], each: number) => Promise<number> {
  const complete = new Map<string, number>();
  return async (devs, each) => {
    let n = 0;
    for (const d of devs) {
      const known = complete.get(d);
      if (known !== undefined) {
        n += known;
        continue;
      }
      const c = await countDevice(rt, d);
      n += c;
      if (each > 0 && c >= each) complete.set(d, c);
      else if (each > 0) return n;
    }
    return n;
  };
}

async function startStockHttp(probe: { env: Record<string, string> }): Promise<StockRed> {
  const dir = tempDir('us-bench-stock-http-');
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(stockHttpFlow()));
  return startStockRed({ dir, readyPath: '/bench/query?count=none', removeDir: true, env: probe.env.BENCH_BOUND_OUT ? { ...probe.env, NODE_OPTIONS: `--require ${PROBE}` } : {} });
}

async function startRawHttp(probe: { env: Record<string, string> }): Promise<{ port: number; pid: number; count(prefix: string): Promise<number>; stop(): void }> {
  const proc = fork(join(__dirname, 'raw-http-server.js'), [], { execArgv: probe.env.BENCH_BOUND_OUT ? ['--require', PROBE] : [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...env, NODE_OPTIONS: '', ...probe.env } });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('message', (m) => resolve((m as { port: number }).port));
    proc.once('exit', (code) => reject(new Error(`raw HTTP server exited with ${code}`)));
  });
  const count = async (prefix: string) => ((await (await fetch(`http://127.0.0.1:${port}/count?prefix=${encodeURIComponent(prefix)}`)).json()) as { count: number }).count;
  return { port, pid: proc.pid!, count, stop: () => proc.kill('SIGKILL') };
}

async function startOurs(tag: string, probe: { env: Record<string, string> } = { env: {} }): Promise<Runtime> {
  const dataDir = tempDir('us-bench-inputs-');
  const flows = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  for (const n of flows) if (n.type === 'upperstack-anomaly') n.d = true;
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  const extra: Record<string, string> = { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: env.BENCH_RUNTIME_NODE_OPTIONS ?? '', ...probe.env };
  if (probe.env.BENCH_BOUND_OUT) extra.NODE_OPTIONS += ` --require ${PROBE}`;
  if (env.BENCH_PROFILE_DIR) {
    // --cpu-prof is refused in NODE_OPTIONS; a preload starts the same sampling profiler (bench/cpu-profile.ts),
    // and the row's load signals the start and end of its window with SIGWINCH.
    extra.NODE_OPTIONS += ` --require ${join(__dirname, 'cpu-profile.js')}`;
    extra.BENCH_CPU_PROFILE_OUT = join(env.BENCH_PROFILE_DIR, `upperstack-inputs-${tag}-${Date.now()}.cpuprofile`);
  }
  return startRuntime({ dataDir, env: extra });
}

export async function benchInputs(log: (s: string) => void): Promise<InputsBenchRow[]> {
  const rows: InputsBenchRow[] = [];
  for (const per of ROWS) {
    const readings = per === 1 ? SINGLE : BATCH_READINGS;
    log(`inputs: HTTP ${per === 1 ? 'single readings' : `${per}-reading batches`}, ${readings} readings, ${CLIENTS} keep-alive clients`);
    const ourProbe = probeEnv();
    const rt = await startOurs(`h${per}`, ourProbe);
    try {
      rows.push(await httpLoad({ consumer: 'upperstack', url: (d) => `${rt.url}/ingest/${d}`, pid: rt.proc.pid!, probeOut: ourProbe.out, count: ourCounter(rt) }, `bench-h${per}`, readings, per));
    } finally {
      await rt.stop();
      rmSync(rt.dataDir, { recursive: true, force: true });
    }
    const rawProbe = probeEnv();
    const raw = await startRawHttp(rawProbe);
    try {
      rows.push(await httpLoad({ consumer: 'raw', url: (d) => `http://127.0.0.1:${raw.port}/ingest/${d}`, pid: raw.pid, probeOut: rawProbe.out, count: () => raw.count(`bench-r${per}`) }, `bench-r${per}`, readings, per));
    } finally {
      raw.stop();
    }
    const stockProbe = probeEnv();
    const stock = await startStockHttp(stockProbe);
    try {
      rows.push(await httpLoad({ consumer: 'stock', url: (d) => `http://127.0.0.1:${stock.port}/bench/ingest/${d}`, pid: stock.proc.pid!, probeOut: stockProbe.out, count: async () => ((await stock.query(`count=${encodeURIComponent(`bench-s${per}`)}`)) as { count: number }).count }, `bench-s${per}`, readings, per));
    } finally {
      await stock.stop();
    }
  }
  if (!COAP) return rows;
  log(`inputs: CoAP CON, ${COAP} readings, ${CLIENTS} clients`);
  const rt = await startOurs('coap');
  try {
    rows.push(await coapLoad(rt, 'bench-c', COAP));
  } finally {
    await rt.stop();
    rmSync(rt.dataDir, { recursive: true, force: true });
  }
  return rows;
}

export function inputsTable(rows: InputsBenchRow[]): string {
  const lines = [['row', 'consumer', 'readings', 'readings/s', 'p50 ms', 'p99 ms', 'CPU µs/reading', 'peak RSS MB', 'errors']];
  for (const r of rows) lines.push([r.row, r.consumer, String(r.readings), Math.round(r.rate).toLocaleString('en-US'), r.p50.toFixed(1), r.p99.toFixed(1), r.cpuUsPerReading.toFixed(1), r.peakRssMb.toFixed(0), String(r.errors)]);
  const find = (row: string, c: string) => rows.find((r) => r.row === row && r.consumer === c);
  const single = find('HTTP single readings', 'upperstack');
  const singleStock = find('HTTP single readings', 'stock');
  const singleRaw = find('HTTP single readings', 'raw');
  const batch = find('HTTP 100-reading batches', 'upperstack');
  const batchRaw = find('HTTP 100-reading batches', 'raw');
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [fmt(lines[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmt), ''];
  if (single && singleStock) out.push(`HTTP single readings: ${(single.rate / singleStock.rate).toFixed(2)}× the stock flow (target ≥ 2×) at p99 ${single.p99.toFixed(1)} ms (target < 50 ms): ${single.rate >= 2 * singleStock.rate && single.p99 < 50 ? 'PASS' : 'FAIL'}`);
  if (single && singleRaw && singleStock) out.push(`HTTP single readings: Upperstack ${(single.rate / singleRaw.rate * 100).toFixed(0)}% of the bare node:http ceiling, which is ${(singleRaw.rate / singleStock.rate).toFixed(2)}× the stock flow`);
  if (batch && batchRaw) out.push(`HTTP 100-reading batches: Upperstack ${(batch.rate / batchRaw.rate * 100).toFixed(0)}% of the bare node:http ceiling (${Math.round(batchRaw.rate).toLocaleString('en-US')} readings/s)`);
  const batchStock = find('HTTP 100-reading batches', 'stock');
  for (const [name, ours, stock, raw] of [['single readings', single, singleStock, singleRaw], ['100-reading batches', batch, batchStock, batchRaw]] as const) {
    if (ours && stock && raw) out.push(`HTTP ${name}: CPU per reading ${ours.cpuUsPerReading.toFixed(1)} µs = ${(ours.cpuUsPerReading / stock.cpuUsPerReading).toFixed(2)}× the stock flow's, ${(ours.cpuUsPerReading / raw.cpuUsPerReading).toFixed(1)}× the bare server's (every thread of each process: the store's DuckDB work included, none in the bare server)`);
  }
  if (batch) out.push(`HTTP 100-reading batches: ${Math.round(batch.rate).toLocaleString('en-US')} readings/s (target ≥ 100,000): ${batch.rate >= 100_000 ? 'PASS' : 'FAIL'}`);
  return out.join('\n');
}
