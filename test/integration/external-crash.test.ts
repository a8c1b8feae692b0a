/**
 * Nothing acknowledged is lost on the external broker either: 20,000 numbered
 * QoS 1 readings go to a real mosquitto (which acknowledges them to the device
 * and queues them for the runtime's persistent session), the runtime is killed
 * with SIGKILL while it works through the first of them (the rest are published
 * while it is down), restarted on the same data, and
 * every reading must be stored exactly once. What the runtime had acknowledged
 * to mosquitto is only in its journal; what it had not, mosquitto sends again.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startRuntime, type Runtime } from '../helpers/runtime';
import { pipelineOnConnection } from '../helpers/packs';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { tempDir } from '../helpers/temp';

const TOTAL = 20_000;
const DEVICE = 'extcrash';

let mosq: Mosquitto | undefined;
after(async () => {
  await mosq?.stop();
});

async function count(rt: Runtime, field: string): Promise<number> {
  const res = await rt.get(`/api/v1/readings/aggregate?device=${DEVICE}&field=${field}&fn=count&every=10000d`);
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { points: Array<{ value: number }> };
  return body.points.reduce((n, p) => n + p.value, 0);
}

async function storedSeqs(rt: Runtime): Promise<number[]> {
  const seqs: number[] = [];
  let cursor = '';
  for (;;) {
    const res = await rt.get(`/api/v1/readings?device=${DEVICE}&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { readings: Array<{ fields: { seq: number } }>; next?: string };
    for (const r of body.readings) seqs.push(r.fields.seq);
    if (!body.next) return seqs;
    cursor = body.next;
  }
}

test('kill -9 while the runtime reads 20,000 QoS 1 readings from mosquitto, most of them queued there while it is down: after the restart each is stored once', { timeout: 300_000 }, async () => {
  mosq = await startMosquitto();
  const dataDir = tempDir('us-extcrash-');
  const flows = pipelineOnConnection({ id: 'ext_conn', name: 'mosquitto', url: `mqtt://127.0.0.1:${mosq.port}`, clientId: 'upperstack-extcrash', protocolVersion: 4, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 });
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  const first = await startRuntime({ dataDir });

  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: 'extcrash-device' });
  // Recent times: the default pack keeps raw readings for 30 days, and a restart runs the retention pass.
  const base = Date.now() - 3_600_000;
  async function publish(from: number, to: number): Promise<void> {
    for (let seq = from; seq < to; seq += 500) {
      const sends: Array<Promise<unknown>> = [];
      for (let s = seq; s < Math.min(to, seq + 500); s++) {
        sends.push(device.publishAsync(`devices/${DEVICE}/telemetry`, JSON.stringify({ ts: base + s, seq: s, value: s * 0.5 }), { qos: 1 }));
      }
      await Promise.all(sends);
    }
  }
  // The first quarter goes out while the runtime reads; the kill comes once it has stored some of it
  // (however fast it is, the rest is not published yet), and the other three quarters wait in
  // mosquitto for the dead runtime's persistent session.
  const FIRST = TOTAL / 4;
  await publish(0, FIRST);

  // Pull the plug once the runtime is partway through the stream.
  const until = performance.now() + 120_000;
  let before = 0;
  while (performance.now() < until) {
    before = await count(first, 'seq');
    if (before >= 1000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await first.kill9();
  assert.ok(before >= 1000, `killed with ${before} of ${TOTAL} stored`);
  await publish(FIRST, TOTAL);
  await device.endAsync();

  const second = await startRuntime({ dataDir, httpPort: first.httpPort, mqttPort: first.mqttPort });
  try {
    let stored = 0;
    for (const end = performance.now() + 120_000; performance.now() < end; ) {
      stored = await count(second, 'seq');
      if (stored >= TOTAL) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const seqs = await storedSeqs(second);
    const unique = new Set(seqs);
    const missing: number[] = [];
    for (let s = 0; s < TOTAL && missing.length < 20; s++) if (!unique.has(s)) missing.push(s);
    assert.deepEqual(missing, [], `${TOTAL - unique.size} of ${TOTAL} readings are missing (${before} were stored at the kill)`);
    assert.equal(seqs.length, TOTAL, 'no reading is stored twice');
  } finally {
    await second.stop();
  }
});
