/** Starts Debian's mosquitto on a free loopback port, for the integration tests and the benchmark. */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports';
import { launchServer } from './server-process';
import { removeTempDir, tempDir } from './temp';

export interface Mosquitto {
  port: number;
  proc: ChildProcess;
  /** Stops mosquitto (SIGTERM: it saves its persistence file) and starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops mosquitto (SIGTERM) and keeps its port and files for up(). */
  down(): Promise<void>;
  /** Starts it again after down(). */
  up(): Promise<void>;
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
  /** Keep sessions, queued and retained messages in a file across restarts. */
  persistence?: boolean;
  /** More mosquitto.conf lines (e.g. `max_packet_size 1000`). */
  conf?: string[];
  /** How long to wait for the port to accept connections. */
  startTimeoutMs?: number;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = await freePort();
  const dir = tempDir('us-mosq-');
  const conf = join(dir, 'mosquitto.conf');
  // Run as root, mosquitto drops to its own user, which must be able to write its persistence file here.
  if (opts.persistence) chmodSync(dir, 0o777);
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    opts.persistence ? `persistence true\npersistence_location ${dir}/` : 'persistence false',
    'max_inflight_messages 100',
    `max_queued_messages ${opts.maxQueuedMessages ?? 100000}`,
    ...(opts.conf ?? []),
  ];
  writeFileSync(conf, lines.join('\n') + '\n');
  let proc = await launch(opts, conf, port).catch((err: unknown) => {
    removeTempDir(dir);
    throw err;
  });
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await gone;
    }
  };
  const handle: Mosquitto = {
    port,
    proc,
    restart: async () => {
      await handle.down();
      await handle.up();
    },
    down: kill,
    up: async () => {
      proc = await launch(opts, conf, port);
      handle.proc = proc;
    },
    stop: async () => {
      await kill();
      removeTempDir(dir);
    },
  };
  return handle;
}

function launch(opts: MosquittoOptions, conf: string, port: number): Promise<ChildProcess> {
  return launchServer({ command: opts.bin ?? 'mosquitto', args: ['-c', conf], name: 'mosquitto', apt: 'mosquitto', port, timeoutMs: opts.startTimeoutMs });
}
