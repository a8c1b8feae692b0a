/**
 * Nothing acknowledged is lost: 20,000 numbered QoS 1 readings, the runtime is
 * killed with SIGKILL midway, restarted on the same data, and every reading the
 * broker acknowledged must be in the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startRuntime, type Runtime } from '../helpers/runtime';

const TOTAL = 20_000;

async function storedSeqs(rt: Runtime, device: string): Promise<Set<number>> {
  const seen = new Set<number>();
  let cursor = '';
  for (;;) {
    const res = await rt.get(`/api/v1/readings?device=${device}&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { readings: Array<{ fields: { seq: number } }>; next?: string };
    for (const r of body.readings) seen.add(r.fields.seq);
    if (!body.next) return seen;
    cursor = body.next;
  }
}

test('kill -9 midway through 20,000 QoS 1 readings loses none that were acknowledged', { timeout: 300_000 }, async () => {
  const first = await startRuntime();
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, { clientId: 'crash-device', reconnectPeriod: 0 });
  client.on('error', () => undefined);
  const acked = new Set<number>();
  // Recent times: the default pack keeps raw readings for 30 days, and a restart runs the retention pass.
  const base = Date.now() - 3_600_000;
  let killed = false;
  const sends: Array<Promise<void>> = [];
  for (let seq = 0; seq < TOTAL; seq++) {
    const payload = JSON.stringify({ ts: base + seq, seq, value: seq * 0.5 });
    sends.push(
      client.publishAsync('devices/crash/telemetry', payload, { qos: 1 }).then(
        () => void acked.add(seq),
        () => undefined,
      ),
    );
    // Keep up to a few hundred in flight, and pull the plug halfway through.
    if (seq % 200 === 199) await Promise.race([Promise.all(sends.slice(-200)), new Promise((r) => setTimeout(r, 2000))]);
    if (!killed && acked.size >= TOTAL / 2) {
      killed = true;
      await first.kill9();
      break;
    }
  }
  assert.ok(killed, 'the runtime was killed midway');
  client.end(true);
  await Promise.allSettled(sends);
  const ackedAtKill = new Set(acked);
  assert.ok(ackedAtKill.size >= TOTAL / 2 && ackedAtKill.size < TOTAL, `acknowledged ${ackedAtKill.size}`);

  const second = await startRuntime({ dataDir: first.dataDir, httpPort: first.httpPort, mqttPort: first.mqttPort });
  try {
    // Replay and writing take a moment after the restart; give them up to a minute.
    let lost: number[] = [];
    let stored = new Set<number>();
    for (const end = performance.now() + 60_000; performance.now() < end; ) {
      stored = await storedSeqs(second, 'crash');
      lost = [...ackedAtKill].filter((s) => !stored.has(s));
      if (lost.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${ackedAtKill.size} acknowledged readings are missing (${stored.size} stored)`);
  } finally {
    await second.stop();
  }
});
