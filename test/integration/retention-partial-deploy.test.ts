/**
 * Retention's first pass after a partial deploy, on the real runtime (default pack, 30-day raw retention): a
 * deploy of type "nodes" or "flows" that changes the store config restarts it, and its new store's first pass
 * waits for the holds of that deploy (Node-RED's flows:started, emitted after every deploy type). It must run
 * then, not at the retention timer's first tick ten minutes later: readings 40 days old go within seconds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { adminToken, eventually, startRuntime, type Runtime } from '../helpers/runtime';

const HOUR = 3_600_000;

let rt: Runtime;
let token: string;
before(async () => {
  rt = await startRuntime();
  token = await adminToken(rt);
});
after(async () => {
  await rt?.stop();
});

/** Twelve hourly readings of `device` from 40 days ago, stored before the deploy. */
async function oldHistory(device: string): Promise<number> {
  const start = Math.floor((Date.now() - 40 * 24 * HOUR) / HOUR) * HOUR;
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: `partial-${device}` });
  try {
    await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify(Array.from({ length: 12 }, (_, h) => ({ ts: start + h * HOUR + 1000, v: h }))), { qos: 1 });
  } finally {
    await client.endAsync();
  }
  await eventually(async () => ((await stored(device, start)) === 12 ? true : undefined), 30_000, `${device}'s history stored`);
  return start;
}

async function stored(device: string, from: number): Promise<number> {
  const res = await rt.get(`/api/v1/readings?device=${device}&from=${new Date(from).toISOString()}&limit=1000`);
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { readings: unknown[] }).readings.length;
}

/** Deploys the flows with the store config's memory limit changed, so that deploy type restarts it. */
async function deployStoreChange(type: 'nodes' | 'flows'): Promise<void> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
  const current = (await (await fetch(`${rt.url}/flows`, { headers })).json()) as { rev: string; flows: Array<Record<string, unknown>> };
  const cfg = current.flows.find((n) => n.type === 'upperstack-store-config')!;
  const sinks = cfg.sinks as Array<Record<string, unknown>>;
  cfg.sinks = sinks.map((s) => (s.kind === 'duckdb' ? { ...s, memoryLimit: Number(s.memoryLimit) + 1 } : s));
  const res = await fetch(`${rt.url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': type }, body: JSON.stringify(current) });
  assert.equal(res.status, 200, await res.text());
}

for (const type of ['nodes', 'flows'] as const) {
  test(`a "${type}" deploy that restarts the store config runs retention's first pass once it has started`, { timeout: 120_000 }, async () => {
    const device = `partial-${type}`;
    const from = await oldHistory(device);
    await deployStoreChange(type);
    await eventually(async () => ((await stored(device, from)) === 0 ? true : undefined), 60_000, `the 40-day-old readings removed after the "${type}" deploy`);
  });
}
