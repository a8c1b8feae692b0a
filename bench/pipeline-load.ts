/** The load side of a phase: publisher processes, timeouts and waiting for a process to go quiet. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { procSample, sleep, type PublisherConfig, type PublisherJob, type PublisherReport } from './common';
import { CLIENTS, INFLIGHT, PROBE_EVERY_MS, PUBLISHERS, env } from './pipeline-knobs';

/**
 * Waits until a process is quiet (under a tenth of a core over 200 ms, at most 10 s) and returns the
 * CPU seconds it used meanwhile: work a consumer defers past the phase would otherwise be charged to
 * the next consumer measured on the same cores.
 */
export async function settleCpu(pid: number | undefined): Promise<number> {
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


export interface Published {
  firstPublish: number;
  lastAck: number;
  /** The publishers' CPU per reading over their first readings (each process's first chunk) and over the rest. */
  firstChunkUs?: number;
  restUs?: number;
}

export interface Publishers {
  total: number;
  /** Starts publishing; resolves when every message is acknowledged. */
  go(): Promise<Published>;
  /**
   * The same processes and connections for the next job (the measured phase after the warm-up): a
   * fresh process spends its first thousands of messages compiling MQTT.js's publish path, CPU that
   * would otherwise land in the phase's first second on the cores the consumer uses.
   */
  reuse(devicePrefix: string, readings: number, probeDevice?: string, readingsPerSec?: number): Publishers;
  pids: number[];
  stop(): Promise<void>;
}

/** Messages each client publishes for about `readings` readings in messages of `batch` (at least one). */
function messagesPerClientOf(readings: number, batch: number): number {
  return Math.max(1, Math.floor(readings / (PUBLISHERS * CLIENTS * batch)));
}

/** The readings startPublishers sends for about `readings`: every consumer's warm-up and phase is cut the same way. */
export function publishedReadings(readings: number, batch: number): number {
  return messagesPerClientOf(readings, batch) * PUBLISHERS * CLIENTS * batch;
}

export async function startPublishers(url: string, topicPrefix: string, devicePrefix: string, batch: number, readings: number, probeDevice?: string, readingsPerSec?: number): Promise<Publishers> {
  const procs: ChildProcess[] = [];
  const ready: Array<Promise<void>> = [];
  const job = (prefix: string, count: number, probe: string | undefined, rate: number | undefined) => {
    const messagesPerClient = messagesPerClientOf(count, batch);
    return {
      total: messagesPerClient * PUBLISHERS * CLIENTS * batch,
      of: (i: number): PublisherJob => ({
        devicePrefix: prefix,
        messagesPerClient,
        probeDevice: i === 0 ? probe : undefined,
        rate: rate ? rate / (PUBLISHERS * CLIENTS * batch) : undefined,
      }),
    };
  };
  const first = job(devicePrefix, readings, probeDevice, readingsPerSec);
  for (let i = 0; i < PUBLISHERS; i++) {
    const cfg: PublisherConfig = { url, topicPrefix, clients: CLIENTS, batch, index: i, inflight: INFLIGHT, probeEveryMs: PROBE_EVERY_MS, ...first.of(i) };
    // execArgv: [] keeps a --cpu-prof or --inspect of this process away from the load generator.
    const p = fork(join(__dirname, 'publisher.js'), [JSON.stringify(cfg)], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...env, NODE_OPTIONS: '' } });
    procs.push(p);
    ready.push(reportOf(p, i, 'ready').then(() => undefined));
  }
  await withTimeout(Promise.all(ready), 20_000, 'publishers to connect');
  const pids = procs.map((p) => p.pid!);
  const stop = async () => {
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
  };
  const publishers = (j: ReturnType<typeof job>, sendJob: boolean): Publishers => ({
    total: j.total,
    pids,
    stop,
    async go() {
      const done = procs.map((p, i) => reportOf(p, i, 'done'));
      for (const d of done) d.catch(() => undefined);
      procs.forEach((p, i) => p.send(sendJob ? { type: 'go', job: j.of(i) } : { type: 'go' }));
      const reports = await Promise.all(done);
      const sum = (f: (r: (typeof reports)[number]) => number) => reports.reduce((n, r) => n + f(r), 0);
      const chunked = reports.every((r) => r.firstChunk);
      const firstReadings = sum((r) => r.firstChunk?.readings ?? 0);
      const firstCpu = sum((r) => r.firstChunk?.cpuUs ?? 0);
      return {
        firstPublish: Math.min(...reports.map((r) => r.firstPublish)),
        lastAck: Math.max(...reports.map((r) => r.lastAck)),
        firstChunkUs: chunked ? firstCpu / firstReadings : undefined,
        restUs: chunked ? (sum((r) => r.cpuUs) - firstCpu) / (sum((r) => r.readings) - firstReadings) : undefined,
      };
    },
    reuse: (prefix, count, probe, rate) => publishers(job(prefix, count, probe, rate), true),
  });
  return publishers(first, false);
}

/** The next report of `type` from publisher i; rejects on its error report or its exit. */
function reportOf<T extends PublisherReport['type']>(p: ChildProcess, i: number, type: T): Promise<Extract<PublisherReport, { type: T }>> {
  return new Promise((resolve, reject) => {
    const off = () => {
      p.off('message', onMsg);
      p.off('exit', onExit);
    };
    const onMsg = (m: PublisherReport) => {
      if (m.type === 'error') {
        off();
        reject(new Error(`publisher ${i}: ${m.message}`));
      } else if (m.type === type) {
        off();
        resolve(m as Extract<PublisherReport, { type: T }>);
      }
    };
    const onExit = (code: number | null) => {
      off();
      reject(new Error(`publisher ${i} exited with ${code}`));
    };
    p.on('message', onMsg);
    p.once('exit', onExit);
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
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
