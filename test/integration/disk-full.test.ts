/**
 * A full disk on the real runtime: the data folder is a 120 MB tmpfs mounted by the test (it needs root, as
 * CI runs; without it the mount fails and so does the test). A device publishes numbered QoS 1 readings while
 * the disk is filled and freed again. Nothing may wait for good: every publish is acknowledged once there is
 * room (the device resends over a new connection), every reading is stored, and /health is 200 again, all
 * without a restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { fill, mountTmpfs, unmount } from '../helpers/full-disk';

const TOTAL = 300;

let mountPoint = '';
let rt: Runtime | undefined;
let client: mqtt.MqttClient | undefined;

before(() => {
  mountPoint = mountTmpfs('us-diskfull-');
});

after(async () => {
  client?.end(true);
  await rt?.stop();
  unmount(mountPoint);
});

async function storedSeqs(r: Runtime, device: string): Promise<Set<number>> {
  const res = await r.get(`/api/v1/readings?device=${device}&limit=10000`);
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { readings: Array<{ fields: { seq: number } }> };
  return new Set(body.readings.map((x) => x.fields.seq));
}

test('a full disk holds the device back, and once there is room every reading is acknowledged and stored and /health is 200, without a restart', { timeout: 240_000 }, async () => {
  rt = await startRuntime({ dataDir: join(mountPoint, 'data'), env: { UPPERSTACK_HEALTH_UNSETTLED_SECONDS: '5' } });
  const device = mqtt.connect(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'diskfull-device', reconnectPeriod: 200 });
  client = device;
  device.on('error', () => undefined);
  let closes = 0;
  device.on('close', () => closes++);
  await new Promise<void>((resolve) => device.once('connect', () => resolve()));
  const acked = new Set<number>();
  const failed: string[] = [];
  const base = Date.now() - 60_000;
  // MQTT.js fails a publish it had not written yet when the connection closes ("Connection closed"): a device
  // sends that one again, as it would any publish its client reports failed.
  const send = (seq: number): void => {
    device.publish('devices/diskfull/telemetry', JSON.stringify({ ts: base + seq, seq, value: seq }), { qos: 1 }, (err) => {
      if (!err) return void acked.add(seq);
      failed.push(`${seq}: ${err.message}`);
      setTimeout(() => send(seq), 100);
    });
  };
  const filler = join(mountPoint, 'filler');
  for (let seq = 0; seq < TOTAL; seq++) {
    if (seq === 50) fill(filler);
    send(seq);
    await new Promise((r) => setTimeout(r, 20));
  }
  // The disk is still full: the device is held back, not told its readings are safe.
  assert.ok(acked.size < TOTAL, `${acked.size} of ${TOTAL} acknowledged on a full disk`);
  // A full disk is not healthy: the input says at once that it cannot write its journal.
  const problems = await eventually(async () => {
    const res = await fetch(`${rt!.url}/health`);
    const body = (await res.json()) as { problems?: Array<{ component: string; code: string; message: string }> };
    return res.status === 503 ? body.problems : undefined;
  }, 30_000, '/health 503 while the disk is full');
  assert.ok(
    problems?.some((p) => p.code === 'JOURNAL_FAILING' && /ENOSPC/.test(p.message)),
    JSON.stringify(problems),
  );
  rmSync(filler);

  try {
    await eventually(async () => (acked.size === TOTAL ? true : undefined), 60_000, 'every publish acknowledged');
  } catch (err) {
    throw new Error(`${acked.size} of ${TOTAL} acknowledged, ${closes} disconnects, failed: ${failed.join(', ')}, missing: ${[...Array(TOTAL).keys()].filter((k) => !acked.has(k)).join(' ')}; the runtime's log ends:\n${rt.output().slice(-4000)}`, { cause: err });
  }
  assert.ok(closes >= 1, 'the device was disconnected while its readings could not be journaled, so it resent them');
  const seqs = await eventually(async () => {
    const s = await storedSeqs(rt!, 'diskfull');
    return s.size === TOTAL ? s : undefined;
  }, 90_000, 'every reading stored');
  assert.equal(seqs.size, TOTAL);
  await eventually(async () => {
    const res = await fetch(`${rt!.url}/health`);
    const body = await res.text();
    return res.status === 200 ? body : undefined;
  }, 90_000, '/health is 200 again');
});
