/**
 * The real runtime with devices registered through its API with the admin key, as an operator registers
 * them, and the ways the device tests reach it: the API with that key, mosquitto_pub, the readings stored
 * and the audit log.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRuntime, type Runtime, type StartOptions } from './runtime';

const run = promisify(execFile);

/** A device to register: its id alone, or the body POST /api/v1/devices takes (e.g. `signing: true`). */
export type DeviceToAdd = string | { id: string; signing?: boolean };

export interface ApiAnswer {
  status: number;
  json: Record<string, unknown>;
}

/** What mosquitto_pub printed (stdout then stderr) and its exit code; it exits 0 with a warning when a v5 PUBACK refuses. */
export interface PubResult {
  code: number;
  out: string;
}

export type StoredReading = { fields: Record<string, unknown> };

/** The audit log's entries in `dataDir`, oldest first. */
export function auditEntries(dataDir: string): Array<Record<string, unknown>> {
  return readFileSync(join(dataDir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface DeviceRuntime {
  dataDir: string;
  /** Each registered device's secret by id, as registering answered it once; a test that rotates one writes the new one here. */
  secrets: Record<string, string>;
  /** The signing key of each device registered with `signing: true`, by id. */
  signingKeys: Record<string, Buffer>;
  /** Starts the runtime on `dataDir` (with `opts`) and registers `devices`, each answered 201. */
  start(devices: DeviceToAdd[], opts?: Omit<StartOptions, 'dataDir'>): Promise<Runtime>;
  /** A request to the API with the admin key; a body goes as JSON. */
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** mosquitto_pub to the runtime's broker with these arguments after -h and -p. */
  pub(args: string[]): Promise<PubResult>;
  /** The readings of `device`, up to 1,000, as the query API gives them. */
  readings(device: string): Promise<StoredReading[]>;
  audit(): Array<Record<string, unknown>>;
}

/** Call at the top of a test file; `start` it in a `before` hook (the file stops the runtime it returns). */
export function deviceRuntime(dataDir: string): DeviceRuntime {
  let started: Runtime | undefined;
  const rt = (): Runtime => {
    if (!started) throw new Error('the runtime is not started');
    return started;
  };
  const secrets: Record<string, string> = {};
  const signingKeys: Record<string, Buffer> = {};

  async function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const res = await fetch(`${rt().url}${path}`, {
      method,
      headers: { authorization: `Bearer ${rt().apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  return {
    dataDir,
    secrets,
    signingKeys,
    async start(devices, opts = {}) {
      started = await startRuntime({ ...opts, dataDir });
      for (const device of devices) {
        const body = typeof device === 'string' ? { id: device } : device;
        const r = await api('POST', '/api/v1/devices', body);
        assert.equal(r.status, 201);
        secrets[body.id] = r.json.secret as string;
        if (typeof r.json.signingKey === 'string') signingKeys[body.id] = Buffer.from(r.json.signingKey, 'base64url');
      }
      return started;
    },
    api,
    async pub(args) {
      try {
        const { stdout, stderr } = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt().mqttPort), ...args], { timeout: 20_000 });
        return { code: 0, out: `${stdout}${stderr}` };
      } catch (e) {
        const x = e as { code: number; stdout: string; stderr: string };
        return { code: x.code, out: `${x.stdout}${x.stderr}` };
      }
    },
    async readings(device) {
      const res = await rt().get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=1000`);
      return ((await res.json()) as { readings: StoredReading[] }).readings;
    },
    audit: () => auditEntries(dataDir),
  };
}
