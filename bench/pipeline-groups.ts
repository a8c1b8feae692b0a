/** One broker × message shape × mode (a runtime, the stock flow and the raw subscriber taking turns per round), and the idle RSS. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRuntime, type Runtime } from '../test/helpers/runtime';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto';
import { tempDir } from '../test/helpers/temp';
import { EARLY_RSS_MS, procSample, sleep } from './common';
import { CONSUMER_NODE_OPTIONS, IDLE_SECONDS, LATENCY_RATE, LATENCY_SECONDS, PHASE_TIMEOUT_MS, ROOT, SUSTAINED_READINGS, env, latencyRows, log, rows, skipped, sustainedRows, want, type Consumer, type Row } from './pipeline-knobs';
import { oursTarget, startStock, stockTarget, type Stock } from './pipeline-consumers';
import { rawPhase, storePhase, type PhaseContext } from './pipeline-phase';
import { fmtMb, fmtMbAgainst, fmtMs, fmtRate, fmtUs, threadShares } from './pipeline-format';

/** RSS of the idle runtime (measureIdle), for the verdicts. */
export let idleRss: { rss: number; afterSeconds: number } | undefined;


/**
 * The default flow pack as the runtime deploys it: as shipped (anomaly and alert nodes on), or with
 * the anomaly node disabled (`anomaly: false`, `d: true`; Node-RED drops the wire from the store to
 * it) for the informational row. `mqttPort` switches the inputs to an external broker.
 */
export function benchFlows(opts: { anomaly: boolean; mqttPort?: number }): string {
  const flows = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  if (!flows.some((n) => n.type === 'upperstack-anomaly') && !opts.anomaly) log('  note: the flow pack has no anomaly node to disable');
  for (const n of flows) {
    if (n.type === 'upperstack-anomaly' && !opts.anomaly) n.d = true;
    // BENCH_ANOMALY_WORKER=0: the anomaly engine on the main thread, as before it had a worker thread.
    if (n.type === 'upperstack-anomaly' && env.BENCH_ANOMALY_WORKER === '0') n.worker = false;
    // The raw and stock consumers subscribe to the embedded broker as clients; mosquitto runs with an unbounded
    // per-client queue, so the embedded broker gets no slow-subscriber limit either: a stock flow behind at a
    // burst was cut off (and lost what waited on its connection) where on mosquitto it caught up.
    if (n.type === 'upperstack-broker') n.maxBehindKb = 0;
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

/** How a group runs: see MODES. */
export type GroupMode = 'main' | 'ingest' | 'latency' | 'sustained';

interface ModeSpec {
  /** Said after the shape in the group's log line. */
  what: string;
  /** The consumer our runtime counts as (its anomaly node is disabled for `upperstack-ingest`). */
  ours: Consumer;
  /** Only our runtime runs: the raw subscriber and the stock flow are measured in the main rows. */
  oursOnly: boolean;
  /** Where the rows go (the table they are printed in). */
  rows: Row[];
  /** What every phase of the group is given beyond broker and round. */
  fixed: Pick<PhaseContext, 'rate' | 'readings' | 'timeoutMs'>;
}

/**
 * `main`: our runtime as shipped, the raw subscriber and the stock flow, as fast as acknowledgements come
 * back. `ingest`: only our runtime, anomaly node disabled (informational). `latency`: all three at a fixed
 * publish rate. `sustained`: only our runtime as shipped, SUSTAINED_READINGS as fast as acknowledged; the phase
 * may run at 20,000 readings/s before it times out, never less than the other phases' limit.
 */
const MODES: Record<GroupMode, ModeSpec> = {
  main: { what: '', ours: 'upperstack', oursOnly: false, rows, fixed: {} },
  ingest: { what: ', anomaly node disabled', ours: 'upperstack-ingest', oursOnly: true, rows, fixed: {} },
  latency: {
    what: `, fixed ${fmtRate(LATENCY_RATE)} readings/s`,
    ours: 'upperstack',
    oursOnly: false,
    rows: latencyRows,
    fixed: { rate: LATENCY_RATE, readings: LATENCY_RATE * LATENCY_SECONDS },
  },
  sustained: {
    what: `, sustained: ${fmtRate(SUSTAINED_READINGS)} readings`,
    ours: 'upperstack',
    oursOnly: true,
    rows: sustainedRows,
    fixed: { readings: SUSTAINED_READINGS, timeoutMs: Math.max(PHASE_TIMEOUT_MS, Math.ceil(SUSTAINED_READINGS / 20)) },
  },
};

/** One runtime (and stock process) per broker, message shape and mode. */
export async function group(broker: Row['broker'], batch: number, rounds: number, mosquittoBin: string | undefined, mode: GroupMode = 'main'): Promise<void> {
  const tag = `${broker === 'embedded' ? 'emb' : 'mosq'}-${batch}${mode === 'main' ? '' : `-${mode}`}`;
  const { what, ours, oursOnly, rows: out, fixed } = MODES[mode];
  log(`${broker}, ${batch === 1 ? 'single-reading messages' : `${batch}-reading batches`}${what}, ${rounds} round(s)`);
  let mosq: Mosquitto | undefined;
  let rt: Runtime | undefined;
  let peer: Runtime | undefined;
  let stock: Stock | undefined;
  const dataDir = tempDir('us-bench-data-');
  const peerDir = tempDir('us-bench-peer-');
  try {
    if (broker === 'mosquitto') {
      // The per-client queue never drops a QoS 1 message for a slow subscriber (the default would,
      // and the phase could never complete).
      mosq = await startMosquitto({ bin: mosquittoBin!, maxQueuedMessages: 10_000_000 });
    }
    // Written before the first start, so the runtime deploys this instead of copying the pack.
    writeFileSync(join(dataDir, 'flows.json'), benchFlows({ anomaly: ours === 'upperstack', mqttPort: mosq?.port }));
    if (broker === 'embedded' || want(ours)) {
      const extra: Record<string, string> = { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: `${env.BENCH_RUNTIME_NODE_OPTIONS ?? ''} ${CONSUMER_NODE_OPTIONS}`.trim() };
      if (env.BENCH_PROFILE_DIR && want(ours)) {
        // --cpu-prof is refused in NODE_OPTIONS; a preload starts the same sampling profiler.
        extra.NODE_OPTIONS += ` --require ${join(__dirname, 'cpu-profile.js')}`;
        extra.BENCH_CPU_PROFILE_OUT = join(env.BENCH_PROFILE_DIR, `upperstack-${tag}-${Date.now()}.cpuprofile`);
      }
      rt = await startRuntime({ dataDir, env: extra });
    }
    const references = !oursOnly && (want('raw') || want('stock'));
    if (broker === 'embedded' && references && want(ours)) {
      // The raw subscriber and the stock flow are served by a second runtime with the same pack (its broker and
      // its pipeline, as ours carries both): on our runtime's broker, a reference's backlog (the stock flow behind
      // at a burst) was held in our process and counted in our peak RSS.
      writeFileSync(join(peerDir, 'flows.json'), benchFlows({ anomaly: true }));
      peer = await startRuntime({ dataDir: peerDir, env: { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: CONSUMER_NODE_OPTIONS } });
    }
    const ourBroker = mosq ? { port: mosq.port, pid: mosq.proc.pid! } : rt ? { port: rt.mqttPort, pid: rt.proc.pid! } : undefined;
    const refRuntime = peer ?? rt!;
    const refBroker = mosq ? { port: mosq.port, pid: mosq.proc.pid! } : { port: refRuntime.mqttPort, pid: refRuntime.proc.pid! };
    if (want('stock') && !oursOnly) stock = await startStock(refBroker.port);
    // Consumers take turns within a round, so each pair compared ran close together in time.
    for (let round = 1; round <= rounds; round++) {
      const on = (b: { port: number; pid: number }): PhaseContext => ({ broker, url: `mqtt://127.0.0.1:${b.port}`, batch, tag: `${tag}-r${round}`, round, brokerPid: b.pid, ...fixed });
      const ctx = on(refBroker);
      if (want(ours)) {
        const row = await storePhase(on(ourBroker!), oursTarget(rt!, ours));
        // VmHWM: the peak since the runtime started (start-up, warm-ups and every round so far).
        row.peakRss = Math.max(row.peakRss, procSample(rt!.proc.pid)?.hwm ?? 0);
        out.push(row);
        log(`  round ${round} ${ours}: ${fmtRate(row.rate)} readings/s, p50 ${fmtMs(row.p50)} ms, p99 ${fmtMs(row.p99)} ms, max RSS ${fmtMb(row.phaseRss)} MB, ${fmtUs(row.consumerCpu / row.readings)} µs CPU/reading (main thread ${fmtUs(row.consumerMainCpu / row.readings)}; by thread ${threadShares(row)}), then ${fmtUs((row.consumerAfterCpu ?? 0) / row.readings)} µs/reading until quiet${mode === 'sustained' ? `; RSS ${fmtMb(row.earlyRss)} MB at most in its first ${EARLY_RSS_MS / 1000} s` : ''}`);
      }
      if (want('raw') && !oursOnly) {
        const row = await rawPhase(ctx);
        out.push(row);
        log(`  round ${round} raw:        ${fmtRate(row.rate)} readings/s, p50 ${fmtMs(row.p50)} ms, p99 ${fmtMs(row.p99)} ms, max RSS ${fmtMb(row.phaseRss)} MB, ${fmtUs(row.consumerCpu / row.readings)} µs CPU/reading (${halvesText(row)})`);
      }
      if (stock) {
        const row = await storePhase(ctx, stockTarget(stock));
        row.peakRss = Math.max(row.peakRss, procSample(stock.proc.pid)?.hwm ?? 0);
        out.push(row);
        log(`  round ${round} stock:      ${fmtRate(row.rate)} readings/s, p50 ${fmtMs(row.p50)} ms, p99 ${fmtMs(row.p99)} ms, max RSS ${fmtMb(row.phaseRss)} MB, ${fmtUs(row.consumerCpu / row.readings)} µs CPU/reading (main thread ${fmtUs(row.consumerMainCpu / row.readings)}; by thread ${threadShares(row)})`);
      }
    }
  } catch (err) {
    log(`  failed: ${(err as Error).stack ?? String(err)}`);
    if (rt) log(`  runtime output (exit ${rt.proc.exitCode ?? rt.proc.signalCode ?? 'still running'}):\n${rt.output().slice(-3000)}`);
    skipped.push(`${broker}/${batch === 1 ? 'single' : 'batch'}${mode === 'main' ? '' : `/${mode}`}: failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await stock?.stop().catch(() => undefined);
    await rt?.stop().catch(() => undefined);
    await peer?.stop().catch(() => undefined);
    await mosq?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(peerDir, { recursive: true, force: true });
  }
}

/** "halves a / b": the raw subscriber's CPU per reading over the phase's first half and its second. */
function halvesText(row: Row): string {
  return row.halves ? `halves ${row.halves[0].toFixed(1)} / ${row.halves[1].toFixed(1)}` : 'halves –';
}

/** RSS of a fresh runtime with the pack as shipped, IDLE_SECONDS after it answers /health. */
export async function measureIdle(): Promise<void> {
  log(`idle: a fresh runtime with the pack as shipped, RSS ${IDLE_SECONDS} s after start`);
  const dataDir = tempDir('us-bench-idle-');
  let rt: Runtime | undefined;
  try {
    writeFileSync(join(dataDir, 'flows.json'), benchFlows({ anomaly: true }));
    rt = await startRuntime({ dataDir, env: { UPPERSTACK_LOG_LEVEL: 'warn', NODE_OPTIONS: env.BENCH_RUNTIME_NODE_OPTIONS ?? '' } });
    await sleep(IDLE_SECONDS * 1000);
    idleRss = { rss: procSample(rt.proc.pid)?.rss ?? NaN, afterSeconds: IDLE_SECONDS };
    log(`  idle RSS ${fmtMbAgainst(idleRss.rss, 150)} MB`);
  } catch (err) {
    skipped.push(`idle: failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await rt?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
