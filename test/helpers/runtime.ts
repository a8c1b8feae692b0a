/** Starts the real Upperstack runtime (`dist/scripts/start.js`) on free ports, for end-to-end tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIME_ENV, runtimeNodeFlags } from '../../scripts/runtime-flags';
import { killBeforeCleanup, tempDir } from './temp';
import { freePort, freeUdpPort } from './ports';

export { freePort, freeUdpPort } from './ports';

export interface Runtime {
  proc: ChildProcess;
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  /** UDP port of the default pack's CoAP input. */
  coapPort: number;
  apiKey: string;
  url: string;
  output: () => string;
  /** GET with the API key. */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  httpPort?: number;
  mqttPort?: number;
  env?: Record<string, string>;
  /** The runtime serves HTTPS (UPPERSTACK_HTTPS_* in env): its URL is https://localhost:<port>, trusted with this CA (PEM). */
  httpsCa?: string;
  /** 'answering': return once /health answers at all (a runtime expected to report a problem); default: once it answers 200. */
  ready?: 'healthy' | 'answering';
}

/**
 * Cluster members (UPPERSTACK_CLUSTER_BROKER) need the same device registry key file, as in a
 * deployment (docs/scaling.md): members started here get this one unless their data folder has one.
 */
const CLUSTER_REGISTRY_KEY = `${randomBytes(32).toString('base64url')}\n`;

/** GET over HTTPS trusting `ca`; the status (fetch takes no CA of its own). */
function httpsStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

const ROOT = join(__dirname, '..', '..', '..');

/**
 * The arguments `npm start` gives node (scripts/runtime-flags.ts), so tests and the bench run what
 * ships; a flag the runtime's NODE_OPTIONS sets (BENCH_RUNTIME_NODE_OPTIONS) replaces the default.
 */
export function runtimeCommand(startScript: string, nodeOptions?: string): string[] {
  return [...runtimeNodeFlags(nodeOptions), startScript];
}

/** The environment `npm start` gives the runtime (RUNTIME_ENV), under what `env` already sets. */
export function runtimeEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...RUNTIME_ENV, ...env };
}

/** Starts the runtime on ports reserved for this process (ports.ts) unless `opts` names them. */
export async function startRuntime(opts: StartOptions = {}): Promise<Runtime> {
  const dataDir = opts.dataDir ?? tempDir('us-e2e-');
  const httpPort = opts.httpPort ?? (await freePort());
  const mqttPort = opts.mqttPort ?? (await freePort());
  const coapPort = Number(opts.env?.UPPERSTACK_COAP_PORT ?? (await freeUdpPort()));
  const apiKey = 'test-key-0123456789';
  const keyFile = join(dataDir, 'upperstack-registry.key');
  if (opts.env?.UPPERSTACK_CLUSTER_BROKER && !existsSync(keyFile)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(keyFile, CLUSTER_REGISTRY_KEY, { mode: 0o600 });
  }
  const nodeOptions = opts.env?.NODE_OPTIONS ?? process.env.NODE_OPTIONS;
  const proc = spawn(process.execPath, runtimeCommand(join(ROOT, 'dist', 'scripts', 'start.js'), nodeOptions), {
    cwd: ROOT,
    env: {
      ...runtimeEnvironment(process.env),
      UPPERSTACK_DATA: dataDir,
      UPPERSTACK_HTTP_PORT: String(httpPort),
      UPPERSTACK_MQTT_PORT: String(mqttPort),
      UPPERSTACK_COAP_PORT: String(coapPort),
      UPPERSTACK_BIND: '127.0.0.1',
      UPPERSTACK_API_KEY: apiKey,
      UPPERSTACK_ADMIN_PASSWORD: 'test-admin-password',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killBeforeCleanup(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = opts.httpsCa ? `https://localhost:${httpPort}` : `http://127.0.0.1:${httpPort}`;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const rt: Runtime = {
    proc,
    dataDir,
    httpPort,
    mqttPort,
    coapPort,
    apiKey,
    url,
    output: () => out,
    get: (path, headers = {}) => fetch(url + path, { headers: { authorization: `Bearer ${apiKey}`, ...headers } }),
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`runtime exited with ${proc.exitCode}:\n${out}`);
    try {
      const status = opts.httpsCa ? await httpsStatus(`${url}/health`, opts.httpsCa) : (await fetch(`${url}/health`)).status;
      if (status === 200 || (opts.ready === 'answering' && status > 0)) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      await rt.stop();
      throw new Error(`runtime did not become healthy in 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return rt;
}

/** An access token for Node-RED's admin API (`/flows`, `/nodes`): the admin logged in as the editor does. */
export async function adminToken(rt: Runtime): Promise<string> {
  const login = await fetch(`${rt.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '', username: 'admin', password: 'test-admin-password' }),
  });
  if (login.status !== 200) throw new Error(`the admin login answered ${login.status}: ${await login.text()}`);
  return ((await login.json()) as { access_token: string }).access_token;
}

/** startRuntime, then the admin's token for Node-RED's admin API. */
export async function startRuntimeAsAdmin(opts: StartOptions = {}): Promise<{ rt: Runtime; token: string }> {
  const rt = await startRuntime(opts);
  return { rt, token: await adminToken(rt) };
}

/** Polls fn until it returns a value that is not undefined. */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 30_000, what = 'condition'): Promise<T> {
  const end = performance.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
