/**
 * Redeploying the running default pack while devices keep sending: every reading
 * whose send was acknowledged is stored, once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { adminToken, eventually, startRuntime, type Runtime } from '../helpers/runtime';

type FlowNode = Record<string, unknown> & { id: string; type: string };

describe('redeploying while devices send', () => {
  let rt: Runtime;
  let token = '';
  before(async () => {
    rt = await startRuntime();
    token = await adminToken(rt);
  });
  after(async () => {
    await rt?.stop();
  });

  const deploy = async (type: 'nodes' | 'flows', change: (flows: FlowNode[]) => void) => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
    const current = (await (await fetch(`${rt.url}/flows`, { headers })).json()) as { rev: string; flows: FlowNode[] };
    change(current.flows);
    const res = await fetch(`${rt.url}/flows`, { method: 'POST', headers: { ...headers, 'Node-RED-Deployment-Type': type }, body: JSON.stringify(current) });
    assert.equal(res.status, 200, await res.text());
  };

  /** The times (ms after t0) stored for a device, one entry per row. */
  const stored = async (device: string, t0: number): Promise<number[]> => {
    const out: number[] = [];
    let cursor = '';
    for (;;) {
      const res = await rt.get(`/api/v1/readings?device=${device}&from=${new Date(t0).toISOString()}&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      const body = (await res.json()) as { readings: Array<{ ts: string }>; next?: string };
      out.push(...body.readings.map((r) => Date.parse(r.ts) - t0));
      if (!body.next) return out;
      cursor = body.next;
    }
  };

  /**
   * Publishes readings of `device` at QoS 1 with a window in flight, as a busy device or gateway does, while each
   * deploy runs; then every acknowledged reading must be stored, once.
   */
  const sendThrough = async (device: string, deploys: Array<() => Promise<void>>) => {
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: `${device}-client`, clean: false, reconnectPeriod: 100 });
    const acked: number[] = [];
    let sending = true;
    let n = 0;
    const sender = async () => {
      while (sending) {
        const i = n++;
        // A publish the client gives up on when the connection drops (the broker restarts with the deploy) is not
        // acknowledged: the device would send it again, and nothing is owed for it.
        const ok = await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ temperature: i % 40, ts: t0 + i }), { qos: 1 }).then(
          () => true,
          () => false,
        );
        if (ok) acked.push(i);
        else await new Promise((r) => setTimeout(r, 50));
      }
    };
    const senders = Array.from({ length: 8 }, sender);
    try {
      await eventually(async () => (acked.length >= 200 ? true : undefined), 30_000, 'publishes before the deploy');
      for (const d of deploys) {
        const before = acked.length;
        await d();
        await eventually(async () => (acked.length >= before + 300 ? true : undefined), 30_000, 'publishes acknowledged after the deploy');
      }
    } finally {
      sending = false;
      await Promise.all(senders);
      await client.endAsync();
    }
    const rows = await eventually(async () => {
      const got = await stored(device, t0);
      return got.length >= acked.length ? got : undefined;
    }, 30_000, `${acked.length} acknowledged readings stored`).catch(async () => stored(device, t0));
    const have = new Set(rows);
    const missing = acked.filter((i) => !have.has(i));
    assert.deepEqual(missing, [], `acknowledged but not stored (of ${acked.length})`);
    assert.equal(rows.length, have.size, 'no reading stored twice');
  };

  test('MQTT publishes acknowledged while the MQTT input restarts in a deploy are stored, each once', async () => {
    // Only the input restarts ("nodes": the modified node), the broker it subscribes on stays.
    const rename = (name: string) => () => deploy('nodes', (flows) => void (flows.find((f) => f.id === 'us_mqtt_in')!.name = name));
    await sendThrough('redeploy-1', [rename('device telemetry (edited)'), rename('device telemetry')]);
  });

  test('readings on their way to a store the deploy restarts are stored, while the input runs on', async () => {
    // A store config setting: the store config and the nodes using it restart, the MQTT input does not.
    const batch = (size: number) => () => deploy('nodes', (flows) => void (flows.find((f) => f.id === 'us_store_cfg')!.batchSize = size));
    await sendThrough('redeploy-2', [batch(500), batch(1000)]);
    // Settled too: /health shows no message waiting in a journal (a store's answer comes just after its commit).
    await eventually(async () => {
      const health = await fetch(`${rt.url}/health`);
      const body = (await health.json()) as { journals: Array<{ pending: number }> };
      return health.status === 200 && body.journals.every((j) => j.pending === 0) ? true : undefined;
    }, 30_000, '/health 200 with nothing unsettled');
  });
});
