/** The load side of a phase: publisher processes, timeouts and waiting for a process to go quiet. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { procSample, sleep, type PublisherConfig, type PublisherReport } from './common';
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


export interface Publishers {
  total: number;
  /** Starts publishing; resolves when every message is acknowledged. */
  go(): Promise<{ firstPublish: number; lastAck: number }>;
  pids: number[];
  stop(): Promise<void>;
}

export async function startPublishers(url: string, topicPrefix: string, devicePrefix: string, batch: number, readings: number, probeDevice?: string, readingsPerSec?: number): Promise<Publishers> {
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
