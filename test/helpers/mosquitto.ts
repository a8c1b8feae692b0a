/** Starts Debian's mosquitto on a free loopback port for a test. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './runtime';

export interface Mosquitto {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startMosquitto(): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'us-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 100\nmax_queued_messages 100000\n`);
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => proc.once('error', (e) => reject(new Error(`cannot start mosquitto (apt-get install mosquitto): ${e.message}`))));
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
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
  await Promise.race([ready, failed]);
  return {
    port,
    proc,
    stop: () =>
      new Promise<void>((r) => {
        if (proc.exitCode !== null) return r();
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}
