/**
 * Starts Debian's mosquitto on a free loopback port, for the integration tests and the benchmark: its config,
 * and the files the config names (password file, access rules, certificates), in a folder of its own.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  /** The path of one of its files (`files` of the options, `passwords` with `users`). */
  file(name: string): string;
  /** Writes one of its files anew (access rules mosquitto reads at its next up()). */
  write(name: string, content: string | Buffer): void;
  /** Sets a login's password in its password file and has mosquitto read the file again (SIGHUP), as an admin would. */
  setPassword(user: string, password: string): Promise<void>;
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
  /** More mosquitto.conf lines (e.g. `max_packet_size 1000`); as a function, it is given `file` to name `files` by. */
  conf?: string[] | ((file: (name: string) => string) => string[]);
  /** Files for the config to name (access rules, certificates), by name, with their content. */
  files?: Record<string, string | Buffer>;
  /** Logins (user: password) in a password file, `passwords`; anonymous clients are then refused. */
  users?: Record<string, string>;
  /** How long to wait for the port to accept connections. */
  startTimeoutMs?: number;
}

const run = promisify(execFile);

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = await freePort();
  const dir = tempDir('us-mosq-');
  const conf = join(dir, 'mosquitto.conf');
  const file = (name: string) => join(dir, name);
  // Run as root, mosquitto drops to its own user, which must be able to write its persistence file here and
  // read the files its config names.
  if (opts.persistence) chmodSync(dir, 0o777);
  else if (opts.files || opts.users) chmodSync(dir, 0o755);
  const write = (name: string, content: string | Buffer) => {
    writeFileSync(file(name), content);
    chmodSync(file(name), 0o644);
  };
  for (const [name, content] of Object.entries(opts.files ?? {})) write(name, content);
  const users = Object.entries(opts.users ?? {});
  for (const [i, [user, password]] of users.entries()) await run('mosquitto_passwd', ['-b', ...(i === 0 ? ['-c'] : []), file('passwords'), user, password]);
  if (users.length) chmodSync(file('passwords'), 0o644);
  const lines = [
    `listener ${port} 127.0.0.1`,
    users.length ? `allow_anonymous false\npassword_file ${file('passwords')}` : 'allow_anonymous true',
    opts.persistence ? `persistence true\npersistence_location ${dir}/` : 'persistence false',
    'max_inflight_messages 100',
    `max_queued_messages ${opts.maxQueuedMessages ?? 100000}`,
    ...(typeof opts.conf === 'function' ? opts.conf(file) : (opts.conf ?? [])),
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
    file,
    write,
    setPassword: async (user, password) => {
      await run('mosquitto_passwd', ['-b', file('passwords'), user, password]);
      proc.kill('SIGHUP');
    },
  };
  return handle;
}

function launch(opts: MosquittoOptions, conf: string, port: number): Promise<ChildProcess> {
  return launchServer({ command: opts.bin ?? 'mosquitto', args: ['-c', conf], name: 'mosquitto', apt: 'mosquitto', port, timeoutMs: opts.startTimeoutMs });
}
