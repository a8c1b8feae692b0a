/**
 * Starts Debian's InfluxDB 1.x (`influxd`) and VictoriaMetrics on free loopback
 * ports, for the integration tests and the benchmark. Each server can be stopped
 * and started again on the same port and data folder (an outage), or killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports';
import { killBeforeCleanup, removeTempDir, tempDir } from './temp';

export interface TsdbServer {
  url: string;
  port: number;
  dir: string;
  /** Whether the process is running. */
  running(): boolean;
  /** SIGTERM and wait for the exit; the data folder stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder; resolves once it answers. */
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP): the kernel still takes connections and requests for it, nothing answers. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT); it answers what it was sent meanwhile. */
  resume(): void;
  /** Stops it and removes its data folder. */
  destroy(): Promise<void>;
  /** What the server printed (the last 64 KiB), for failure messages. */
  output(): string;
  /**
   * Makes what it has taken searchable now (VictoriaMetrics: /internal/force_flush; it does so by itself
   * within seconds); nothing to do for InfluxDB, whose writes are searchable once answered.
   */
  flush(): Promise<void>;
}

interface ServerSpec {
  name: string;
  bin: string;
  args: string[];
  aptPackage: string;
  /** A path that answers 2xx once the server takes requests. */
  readyPath: string;
  /** A path that makes what the server took searchable at once. */
  flushPath?: string;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function managed(spec: ServerSpec, port: number, dir: string, startTimeoutMs: number): TsdbServer {
  let proc: ChildProcess | undefined;
  let out = '';
  const url = `http://127.0.0.1:${port}`;
  const running = () => proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  const server: TsdbServer = {
    url,
    port,
    dir,
    running,
    output: () => out,
    async flush() {
      if (!spec.flushPath) return;
      const res = await fetch(`${url}${spec.flushPath}`);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${spec.name} ${spec.flushPath}: ${res.status}`);
    },
    async start() {
      if (running()) return;
      const p = spawn(spec.bin, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      killBeforeCleanup(p);
      const keep = (d: Buffer) => {
        out = (out + d.toString()).slice(-65536);
      };
      p.stdout!.on('data', keep);
      p.stderr!.on('data', keep);
      const failed = new Promise<never>((_, reject) => p.once('error', (e) => reject(new Error(`cannot start ${spec.name} (apt-get install ${spec.aptPackage}): ${e.message}`))));
      const exited = new Promise<never>((_, reject) => p.once('exit', (code) => reject(new Error(`${spec.name} exited with ${code} before it answered:\n${out}`))));
      failed.catch(() => undefined);
      exited.catch(() => undefined);
      const ready = (async () => {
        const end = performance.now() + startTimeoutMs;
        while (performance.now() < end) {
          if (await answers(url + spec.readyPath)) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`${spec.name} did not answer on ${url} within ${startTimeoutMs} ms:\n${out}`);
      })();
      try {
        await Promise.race([ready, failed, exited]);
      } catch (err) {
        p.kill('SIGKILL');
        throw err;
      }
    },
    async stop() {
      const p = proc;
      if (!p || !running()) return;
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
    pause() {
      if (running()) proc!.kill('SIGSTOP');
    },
    resume() {
      if (running()) proc!.kill('SIGCONT');
    },
    async destroy() {
      // A paused process would not see the SIGTERM of stop().
      server.resume();
      await server.stop();
      removeTempDir(dir);
    },
  };
  return server;
}

export interface ServerOptions {
  /** How long to wait for the server to answer (default 30 s: influxd opens its shards first). */
  startTimeoutMs?: number;
  /** InfluxDB 1.x only: require a user and password (an admin user is created by the helper). */
  auth?: { user: string; password: string };
}

/**
 * InfluxDB 1.x (Debian ships 1.6.7). It needs a config file: the RPC bind
 * address (8088 by default) must not collide with another instance, and
 * reporting and the _internal monitor database are off.
 */
export async function startInfluxd(opts: ServerOptions = {}): Promise<TsdbServer> {
  const port = await freePort();
  const rpc = await freePort();
  const dir = tempDir('us-influxd-');
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    [
      `reporting-disabled = true`,
      `bind-address = "127.0.0.1:${rpc}"`,
      `[meta]`,
      `  dir = "${join(dir, 'meta')}"`,
      `[data]`,
      `  dir = "${join(dir, 'data')}"`,
      `  wal-dir = "${join(dir, 'wal')}"`,
      `  query-log-enabled = false`,
      `[http]`,
      `  bind-address = "127.0.0.1:${port}"`,
      `  log-enabled = false`,
      `  auth-enabled = ${opts.auth ? 'true' : 'false'}`,
      `  max-body-size = 0`,
      `[monitor]`,
      `  store-enabled = false`,
      `[continuous_queries]`,
      `  enabled = false`,
      '',
    ].join('\n'),
  );
  const server = managed({ name: 'influxd', bin: 'influxd', args: ['-config', conf], aptPackage: 'influxdb', readyPath: '/ping' }, port, dir, opts.startTimeoutMs ?? 30_000);
  await server.start();
  if (opts.auth) {
    // With auth on and no user yet, 1.x lets the first request create an admin.
    const q = `CREATE USER "${opts.auth.user}" WITH PASSWORD '${opts.auth.password}' WITH ALL PRIVILEGES`;
    const res = await fetch(`${server.url}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
    if (!res.ok) throw new Error(`cannot create the InfluxDB admin user: ${res.status} ${await res.text()}`);
  }
  return server;
}

/** VictoriaMetrics single-node (Debian's victoria-metrics). */
export async function startVictoria(opts: ServerOptions = {}): Promise<TsdbServer> {
  const port = await freePort();
  const dir = tempDir('us-vm-');
  const args = [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${join(dir, 'data')}`, '-retentionPeriod=100y', '-search.latencyOffset=0s', '-loggerLevel=ERROR'];
  const server = managed({ name: 'victoria-metrics', bin: 'victoria-metrics', args, aptPackage: 'victoria-metrics', readyPath: '/health', flushPath: '/internal/force_flush' }, port, dir, opts.startTimeoutMs ?? 30_000);
  await server.start();
  return server;
}

/** InfluxQL on a 1.x server; resolves the JSON answer, rejects on an HTTP or query error. */
export async function influxQuery(server: { url: string }, q: string, db?: string, auth?: { user: string; password: string }): Promise<InfluxQlResult[]> {
  const params = new URLSearchParams({ q, epoch: 'ms' });
  if (db) params.set('db', db);
  // 1.x reads u and p from the URL only.
  const creds = auth ? `?${new URLSearchParams({ u: auth.user, p: auth.password })}` : '';
  const res = await fetch(`${server.url}/query${creds}`, { method: 'POST', body: params });
  const text = await res.text();
  if (!res.ok) throw new Error(`InfluxQL ${q}: ${res.status} ${text}`);
  const body = JSON.parse(text) as { results: InfluxQlResult[] };
  for (const r of body.results) if (r.error) throw new Error(`InfluxQL ${q}: ${r.error}`);
  return body.results;
}

export interface InfluxQlResult {
  error?: string;
  series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
}
