/** One measured phase: publishers, latency probes and waiting for the counts, against a store-backed consumer or the raw subscriber. */
import { fork } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcWatch, percentile, procSample, sleep, type RawReport, type RawSubscriberConfig } from './common';
import { CONSUMER_NODE_OPTIONS, PHASE_TIMEOUT_MS, POLL_MS, READINGS, env, log, warmReadings, type Row } from './pipeline-knobs';
import { publishedReadings, settleCpu, startPublishers, withTimeout, type Published, type Publishers } from './pipeline-load';
import { awaitSubscribed, devicesOf, type StoreTarget } from './pipeline-consumers';

export async function waitCount(target: StoreTarget, prefix: string, devices: string[], total: number, deadline: number): Promise<{ at: number; count: number }> {
  for (;;) {
    const count = await target.count(prefix, devices);
    const at = Date.now();
    if (count >= total || at > deadline) return { at, count };
    // Counting costs the consumer a query: rarely while far from done, every 20 ms near the end.
    await sleep(count < 0.9 * total ? 250 : 20);
  }
}

/**
 * Starts the publishers and waits for every acknowledgement, at most `timeoutMs`: when the first
 * message left and the last acknowledgement came, or, past the time, when the wait began and a note.
 */
async function acknowledged(pubs: Publishers, tag: string, timeoutMs: number): Promise<{ firstPublish: number; lastAck: number; note: string }> {
  const began = Date.now();
  try {
    const acked = await withTimeout(pubs.go(), timeoutMs, 'acknowledgements');
    logFirstChunk(tag, acked);
    return { firstPublish: acked.firstPublish, lastAck: acked.lastAck, note: '' };
  } catch (err) {
    return { firstPublish: began, lastAck: NaN, note: `timeout: ${(err as Error).message}` };
  }
}

/**
 * The raw subscriber's CPU once it has received half the phase's readings, to split the phase's CPU per
 * reading into its first half and its second. Only for raw: a store-backed consumer acknowledges ahead of
 * what it has stored, so a split at a stored count would charge the first half with later readings' intake.
 */
class HalfMark {
  private readonly cpu0: number;
  private mark: { readings: number; cpu: number } | undefined;
  constructor(private readonly pid: number | undefined, private readonly total: number) {
    this.cpu0 = procSample(pid)?.cpu ?? NaN;
  }
  seen(readings: number): void {
    if (this.mark || readings < this.total / 2) return;
    this.mark = { readings, cpu: procSample(this.pid)?.cpu ?? NaN };
  }
  /** µs per reading over each half, given the CPU and readings at the phase's end. */
  halves(cpuEnd: number, readings: number): [number, number] | undefined {
    const m = this.mark;
    if (!m || readings <= m.readings) return undefined;
    return [((m.cpu - this.cpu0) / m.readings) * 1e6, ((cpuEnd - m.cpu) / (readings - m.readings)) * 1e6];
  }
}

/**
 * Between a warm-up and its measured phase, for every consumer alike: waits until the consumer and the
 * broker are quiet, so the warm-up's deferred work (the anomaly worker judges after the store; a broker's
 * queues) does not run in the measured phase.
 */
async function settled(consumerPid: number | undefined, brokerPid: number, tag: string): Promise<void> {
  for (const pid of brokerPid === consumerPid ? [consumerPid] : [consumerPid, brokerPid]) {
    const began = Date.now();
    const cpu = await settleCpu(pid);
    // settleCpu gives up after 10 s: then the phase starts with the warm-up's work still running.
    if (Date.now() - began >= 10_000) log(`  ${tag}: ${pid === consumerPid ? 'the consumer' : 'the broker'} was still busy 10 s after the warm-up (${cpu.toFixed(1)} CPU s)`);
  }
}

export interface PhaseContext {
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
  /** How long the measured phase may take (default PHASE_TIMEOUT_MS); the sustained phase is longer than the others. */
  timeoutMs?: number;
}

/**
 * The publishers' CPU per reading, first chunk against the rest (logged; with BENCH_PROBE_LOG also
 * appended to `<file>.pub` as "<tag> <first µs> <rest µs>"): a cold load generator shows as a dear
 * first chunk, CPU taken from the consumer's cores in the phase's first moments.
 */
function logFirstChunk(tag: string, p: Published): void {
  if (p.firstChunkUs === undefined || p.restUs === undefined) return;
  const first = p.firstChunkUs.toFixed(1);
  const rest = p.restUs.toFixed(1);
  log(`  ${tag}: publishers' CPU ${first} µs per reading over each one's first readings, ${rest} after`);
  if (env.BENCH_PROBE_LOG) appendFileSync(`${env.BENCH_PROBE_LOG}.pub`, `${tag} ${first} ${rest}\n`);
}

/**
 * The measured phase's publishers: the warm-up's, given the measured job. BENCH_PUB_FRESH=1 forks
 * fresh ones instead (the method before 2026-11-30 23:20, kept for comparisons).
 */
async function measuredPublishers(warm: Publishers, ctx: PhaseContext, topicPrefix: string, prefix: string, probeDevice: string): Promise<Publishers> {
  if (env.BENCH_PUB_FRESH !== '1') return warm.reuse(prefix, ctx.readings ?? READINGS, probeDevice, ctx.rate);
  await warm.stop();
  return startPublishers(ctx.url, topicPrefix, prefix, ctx.batch, ctx.readings ?? READINGS, probeDevice, ctx.rate);
}

export async function storePhase(ctx: PhaseContext, target: StoreTarget): Promise<Row> {
  const tag = `${ctx.tag}-${target.consumer}`;
  await awaitSubscribed(ctx.url, target, tag);

  // Warm-up (WARM_MESSAGES, the same for every consumer): JIT, DuckDB table growth and connections, not measured.
  const warmPrefix = `${tag}-w`;
  const warm = await startPublishers(ctx.url, target.topicPrefix, warmPrefix, ctx.batch, warmReadings(ctx.batch));
  await withTimeout(warm.go(), PHASE_TIMEOUT_MS, 'warm-up acknowledgements');
  await waitCount(target, `${warmPrefix}-`, devicesOf(warmPrefix), warm.total, Date.now() + PHASE_TIMEOUT_MS);
  await settled(target.pid, ctx.brokerPid, tag);

  const prefix = `${tag}-m`;
  const probeDevice = `${tag}-probe`;
  // The warm-up's publishers, warm, go on with the measured load (the raw phase does the same).
  const pubs = await measuredPublishers(warm, ctx, target.topicPrefix, prefix, probeDevice);
  const consumerWatch = new ProcWatch(target.pid).begin();
  const brokerWatch = new ProcWatch(ctx.brokerPid).begin();
  const loadWatch = pubs.pids.map((pid) => new ProcWatch(pid).begin());
  const profiling = !!env.BENCH_PROFILE_DIR;
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

  const timeoutMs = ctx.timeoutMs ?? PHASE_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const { firstPublish, lastAck, note: ackNote } = await acknowledged(pubs, tag, timeoutMs);
  let note = ackNote;
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
  if (count < pubs.total) note ||= `timeout: ${count} of ${pubs.total} stored after ${timeoutMs / 1000} s`;
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
    earlyRss: usage.earlyRss,
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

export async function rawPhase(ctx: PhaseContext): Promise<Row> {
  const tag = `${ctx.tag}-raw`;
  const topicPrefix = 'bench/raw';
  const probeDevice = `${tag}-probe`;
  const cfg: RawSubscriberConfig = { url: ctx.url, filter: `${topicPrefix}/#`, expected: publishedReadings(warmReadings(ctx.batch), ctx.batch), batch: ctx.batch, probeTopic: `${topicPrefix}/${probeDevice}/telemetry` };
  const sub = fork(join(__dirname, 'raw-subscriber.js'), [JSON.stringify(cfg)], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...env, NODE_OPTIONS: CONSUMER_NODE_OPTIONS } });
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
    // The same warm-up as the store-backed consumers': readings, messages, publishers and the quiet after it.
    const warm = await startPublishers(ctx.url, topicPrefix, `${tag}-w`, ctx.batch, warmReadings(ctx.batch));
    const warmDone = next('complete');
    await withTimeout(warm.go(), PHASE_TIMEOUT_MS, 'warm-up acknowledgements');
    await withTimeout(warmDone, PHASE_TIMEOUT_MS, 'the raw warm-up');
    await settled(sub.pid, ctx.brokerPid, tag);

    const pubs = await measuredPublishers(warm, ctx, topicPrefix, `${tag}-m`, probeDevice);
    sub.send({ type: 'reset', expected: pubs.total });
    const half = new HalfMark(sub.pid, pubs.total);
    // The subscriber reports its progress unasked once past half the readings.
    const onHalf = (m: RawReport) => {
      if (m.type === 'progress') half.seen(m.readings);
    };
    sub.on('message', onHalf);
    const consumerWatch = new ProcWatch(sub.pid).begin();
    const brokerWatch = new ProcWatch(ctx.brokerPid).begin();
    const loadWatch = pubs.pids.map((pid) => new ProcWatch(pid).begin());
    const complete = next('complete');
    const timeoutMs = ctx.timeoutMs ?? PHASE_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const { firstPublish, lastAck, note: ackNote } = await acknowledged(pubs, tag, timeoutMs);
    let note = ackNote;
    let result: RawReport;
    try {
      result = await withTimeout(complete, Math.max(1, deadline - Date.now()), 'the raw subscriber');
    } catch {
      sub.send({ type: 'report' });
      result = await next('progress');
      note ||= `timeout: ${result.type === 'progress' ? result.readings : 0} of ${pubs.total} received`;
    }
    const cpuEnd = procSample(sub.pid)?.cpu ?? NaN;
    sub.off('message', onHalf);
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
      earlyRss: usage.earlyRss,
      consumerCores: usage.cores,
      brokerCores: brokerUsage.cores,
      loadCores: loads.reduce((n, l) => n + l.cores, 0),
      consumerCpu: usage.cpu,
      consumerMainCpu: usage.mainCpu,
      halves: half.halves(cpuEnd, result.readings),
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
