/**
 * Starts a server binary the tests run (mosquitto, nats-server) and waits until it accepts TCP on its
 * loopback port; a binary that is missing or exits first fails with how to install it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { killBeforeCleanup } from './temp';

export interface ServerLaunch {
  /** The binary and its arguments. */
  command: string;
  args: string[];
  /** Named in errors, e.g. "mosquitto". */
  name: string;
  /** The Debian package that installs it. */
  apt: string;
  port: number;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((r) => {
    const s = createConnection(port, '127.0.0.1', () => {
      s.end();
      r(true);
    });
    s.on('error', () => r(false));
  });
}

export async function launchServer(o: ServerLaunch): Promise<ChildProcess> {
  const proc = spawn(o.command, o.args, { stdio: 'ignore', env: o.env ?? process.env });
  killBeforeCleanup(proc);
  const failed = new Promise<never>((_, reject) => proc.once('error', (e) => reject(new Error(`cannot start ${o.name} (apt-get install ${o.apt}): ${e.message}`))));
  const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`${o.name} exited with ${code} before it listened`))));
  const ready = (async () => {
    const end = performance.now() + (o.timeoutMs ?? 30_000);
    while (performance.now() < end) {
      if (await accepts(o.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${o.name} did not start listening on ${o.port}`);
  })();
  failed.catch(() => undefined);
  exited.catch(() => undefined);
  try {
    await Promise.race([ready, failed, exited]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return proc;
}
