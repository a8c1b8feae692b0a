/** Starts Debian's mosquitto on a free loopback port, for the integration tests and the benchmark. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './runtime';

export interface Mosquitto {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** The binary; `mosquitto` on the PATH by default. */
  bin?: string;
  /**
   * QoS 1/2 messages mosquitto queues per client before it drops them. The
   * benchmark lets a slow subscriber fall far behind without losing any, so
   * that every phase can complete.
   */
  maxQueuedMessages?: number;
  /** How long to wait for the port to accept connections. */
  startTimeoutMs?: number;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'us-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 100\nmax_queued_messages ${opts.maxQueuedMessages ?? 100000}\n`);
  const proc = spawn(opts.bin ?? 'mosquitto', ['-c', conf], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => proc.once('error', (e) => reject(new Error(`cannot start mosquitto (apt-get install mosquitto): ${e.message}`))));
  const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`mosquitto exited with ${code} before it listened`))));
  const ready = (async () => {
    const end = Date.now() + (opts.startTimeoutMs ?? 5000);
    while (Date.now() < end) {
      const ok = await new Promise<boolean>((r) => {
        const s = createConnection(port, '127.0.0.1', () => {
          s.end();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('mosquitto did not start listening');
  })();
  failed.catch(() => undefined);
  exited.catch(() => undefined);
  try {
    await Promise.race([ready, failed, exited]);
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    proc,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
