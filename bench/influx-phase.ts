/** One measured InfluxDB phase: a consumer on a fresh broker, one burst live or drained, and what was lost. */
import { rmSync } from 'node:fs';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto';
import { influxQuery, startVictoria, type TsdbServer } from '../test/helpers/influxd';
import { ProcWatch, sleep } from './common';
import { tempDir } from '../test/helpers/temp';
import { CLIENTS, MODES, PHASE_LIMIT_MS, PUBLISHERS, SETTLE_MS, WARM_BURST, env, type Consumer, type InfluxBenchRow, type InfluxConsumer, type Measure, type ServerKind } from './influx-knobs';
import { count, countQuery, countVictoria, publish, warmUp } from './influx-load';
import { startBare, startStock, startUpperstack } from './influx-consumers';
import { BudgetWatch, budgetLine, childPid, type CpuBudget } from './influx-budget';

/** Every consumer's devices of one burst: `<prefix>-p<publisher>-c<client>` (bench/publisher.ts). */
export const burstDevices = (prefix: string) => Array.from({ length: PUBLISHERS * CLIENTS }, (_, i) => `${prefix}-p${Math.floor(i / CLIENTS)}-c${i % CLIENTS}`);

/**
 * One burst into a running consumer, measured `live` (published while it runs) or `drain` (published
 * while it is stopped with SIGSTOP, queued by mosquitto in its session, then drained after SIGCONT).
 */
export async function burst(measure: Measure, url: string, consumer: Consumer, stored_: (deviceRe: string, q: string) => Promise<number>, pids: { broker?: number; server?: number }): Promise<{ readings: number; stored: number; seconds: number; ackSeconds: number; peakRss: number; cores: number; cpu: number; budget: CpuBudget; progress: Array<[number, number]> }> {
  const prefix = measure === 'live' ? 'bench' : 'drain';
  const c = consumer;
  const storedLoad = c.count ? async () => (await Promise.all(burstDevices(prefix).map((d) => c.count!(d)))).reduce((a, b) => a + b, 0) : () => stored_(`${prefix}-.*`, countQuery(prefix));
  let acked: { total: number; firstPublish: number; lastAck: number; cpu: number } | undefined;
  const budget = new BudgetWatch({ consumer: c.pid, broker: pids.broker, server: pids.server });
  let pubFailed: unknown;
  let started: number;
  let watch: ProcWatch;
  if (measure === 'live') {
    watch = new ProcWatch(c.pid, 100).begin();
    if (c.profiled && c.pid) process.kill(c.pid, 'SIGWINCH');
    void publish(url, prefix, () => budget.begin()).then((a) => (acked = a), (err: unknown) => (pubFailed = err));
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
    budget.begin();
    started = Date.now();
  }
  // Drains last a second or two: a finer poll than the live burst's keeps the end exact to ~5%.
  const poll = measure === 'live' ? 250 : 100;
  let stored = 0;
  let grewAt = started;
  // Each new count and when it was seen (ms from the start): where a burst's last readings waited.
  const progress: Array<[number, number]> = [];
  for (;;) {
    await sleep(poll);
    if (pubFailed) throw pubFailed;
    const n = await storedLoad();
    if (n > stored) {
      stored = n;
      grewAt = Date.now();
      progress.push([grewAt - started, n]);
    }
    if (acked && stored >= acked.total) break;
    if (acked && Date.now() - Math.max(grewAt, acked.lastAck) > SETTLE_MS) break;
    if (Date.now() - started > PHASE_LIMIT_MS) break;
  }
  const mem = watch.end();
  const spent = budget.end(measure === 'live' ? acked?.cpu ?? 0 : 0);
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
    budget: spent,
    progress,
  };
}

export async function phase(consumerKind: InfluxConsumer, round: number, server: ServerKind, shared: TsdbServer | undefined, log: (s: string) => void): Promise<InfluxBenchRow[]> {
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
    if (WARM_BURST > 0) {
      const w = await publish(url, 'warm', undefined, WARM_BURST);
      const storedWarm = c.count ? async () => (await Promise.all(burstDevices('warm').map((d) => c.count!(d)))).reduce((a, b) => a + b, 0) : () => stored_('warm-.*', countQuery('warm'));
      // A consumer that loses readings (the per-message stock flow's "No host available") never stores the
      // whole warm burst: once its count stops growing, it is measured all the same and the loss is logged.
      const end = Date.now() + PHASE_LIMIT_MS;
      let seen = 0;
      let grewAt = Date.now();
      for (;;) {
        const n = await storedWarm();
        if (n >= w.total) break;
        if (n > seen) [seen, grewAt] = [n, Date.now()];
        if (Date.now() - Math.max(grewAt, w.lastAck) > SETTLE_MS || Date.now() > end) {
          log(`  ${consumerKind}: ${(w.total - n).toLocaleString('en-US')} of the ${w.total.toLocaleString('en-US')} warm-burst readings were not stored; measuring it anyway`);
          break;
        }
        await sleep(100);
      }
    }
    const rows: InfluxBenchRow[] = [];
    const pids = { broker: mosq.proc.pid, server: childPid(server === 'victoriametrics' ? 'victoria-metrics' : 'influxd') };
    for (const measure of MODES) {
      const b = await burst(measure, url, c, stored_, pids);
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
        budget: b.budget,
        progress: b.progress,
        errors: errors.slice(0, 3).join(' | '),
      };
      if (row.lost > 0 && env.BENCH_INFLUX_VERBOSE) log(`  ${consumerKind} output:\n${consumer.output().slice(-4000)}`);
      log(`  ${consumerKind} → ${server} r${round} ${measure}: ${Math.round(row.rate).toLocaleString('en-US')} readings/s, lost ${row.lost}, ${Math.round((row.cpuSeconds / Math.max(1, row.stored)) * 1e6)} µs CPU/reading, peak RSS ${Math.round(row.peakRssMb)} MB${row.errors ? `; errors: ${row.errors}` : ''}`);
      log(`    ${budgetLine(b.budget, b.stored)}`);
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
