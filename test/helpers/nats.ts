/**
 * Starts Debian's nats-server with its MQTT listener (MQTT 3.1.1 only, QoS 0 and 1, JetStream on) on free
 * loopback ports, for the tests of Upperstack on a broker users run that speaks no MQTT 5.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports';
import { launchServer } from './server-process';
import { removeTempDir, tempDir } from './temp';

export interface Nats {
  /** The MQTT listener's port. */
  port: number;
  /** Kills nats-server (SIGKILL) and starts it again on the same ports and JetStream store. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startNats(): Promise<Nats> {
  const port = await freePort();
  const clientPort = await freePort();
  const dir = tempDir('us-nats-');
  const conf = join(dir, 'nats.conf');
  // The MQTT listener keeps sessions and QoS 1 messages in JetStream, which needs a server name.
  writeFileSync(conf, [`server_name: us-test`, `listen: 127.0.0.1:${clientPort}`, `jetstream { store_dir: "${join(dir, 'js')}" }`, `mqtt { host: 127.0.0.1, port: ${port} }`].join('\n') + '\n');
  let proc = await launch(conf, port).catch((err: unknown) => {
    removeTempDir(dir);
    throw err;
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill(signal);
      await gone;
    }
  };
  return {
    port,
    restart: async () => {
      await kill('SIGKILL');
      proc = await launch(conf, port);
    },
    stop: async () => {
      await kill('SIGTERM');
      removeTempDir(dir);
    },
  };
}

function launch(conf: string, port: number): Promise<ChildProcess> {
  return launchServer({ command: 'nats-server', args: ['-c', conf], name: 'nats-server', apt: 'nats-server', port, env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` } });
}
