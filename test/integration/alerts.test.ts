/**
 * Alerts on the real runtime with the default flow pack: the issue's example
 * rule created through the API, readings over MQTT, the alert's lifecycle with
 * hysteresis, its transitions on upperstack/alerts/<device>; then kill -9 three
 * seconds into a pending duration and a restart: the alert fires about 2 s
 * after the first reading after the restart (the time left), not 5 and not at once.
 * Time is asserted on the alert's recorded timestamps against the readings'.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import type { AlertEvent, AlertRecord } from '../../nodes/lib/rules/types';

const RULE = {
  id: 'hot',
  name: 'Too hot',
  devices: { all: true },
  when: { field: 'temperature', op: 'above', value: 30, for: '5s' },
  clear: { op: 'below', value: 28, for: '0s' },
  severity: 'warning',
  message: '{device}: {field} is {value} (above 30 since {since})',
};

let rt: Runtime;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api(r: Runtime, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(r.url + path, { method, headers: { authorization: `Bearer ${r.apiKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function alert(r: Runtime, id: string): Promise<(AlertRecord & { events: AlertEvent[] }) | undefined> {
  const res = await api(r, 'GET', `/api/v1/alerts/${encodeURIComponent(id)}`);
  return res.status === 200 ? ((await res.json()) as AlertRecord & { events: AlertEvent[] }) : undefined;
}

/** Publishes temperature readings (QoS 1, the reading's own ts) every `every` ms until stopped. */
function publisher(client: MqttClient, device: string, temperature: () => number, every: number) {
  const sent: number[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const ts = Date.now();
      try {
        await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts, temperature: temperature() }), { qos: 1 });
        sent.push(ts);
      } catch {
        // the runtime is down; the client reconnects
      }
      await sleep(every);
    }
  })();
  return { sent, stop: async () => void ((stop = true), await done) };
}

before(async () => {
  rt = await startRuntime();
});
after(async () => {
  await rt?.stop();
});

test('the example rule through the API: 31 °C for 8 s fires once, 29 keeps it firing, 27 clears it; each transition on MQTT', { timeout: 120_000 }, async () => {
  const created = await api(rt, 'POST', '/api/v1/rules', RULE);
  assert.equal(created.status, 201, await created.clone().text());
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'alerts-e2e', username: 'apikey', password: rt.apiKey });
  const seen: AlertEvent[] = [];
  await client.subscribeAsync('upperstack/alerts/#', { qos: 1 });
  client.on('message', (topic, payload) => {
    if (topic === 'upperstack/alerts/room-1') seen.push(JSON.parse(payload.toString()) as AlertEvent);
  });
  let temperature = 31;
  const pub = publisher(client, 'room-1', () => temperature, 250);
  await sleep(8000);
  const coolAt = Date.now();
  temperature = 29;
  const firing = await eventually(async () => {
    const a = await alert(rt, 'hot:room-1');
    return a?.state === 'firing' ? a : undefined;
  }, 20_000, 'a firing alert');
  const first = pub.sent[0];
  const fired = firing.events.find((e) => e.event === 'firing')!;
  assert.equal(firing.since, first, 'the alert began with the first reading above 30');
  assert.ok(fired.ts - first >= 5000, `fired ${fired.ts - first} ms after the first hot reading, not before the 5 s`);
  // While the condition held: no later than the first reading of 29 (however slow the machine, so no clock bound).
  const firstCool = pub.sent.find((ts) => ts >= coolAt);
  assert.ok(firstCool === undefined || fired.ts <= firstCool, `fired at ${fired.ts}, after the first reading of 29 at ${firstCool}`);
  // 29: inside the hysteresis band; the readings are stored and judged, the alert stays.
  const at29 = Date.now();
  await eventually(async () => {
    const res = await api(rt, 'GET', `/api/v1/readings?device=room-1&from=${at29 + 1000}&fields=temperature`);
    const body = (await res.json()) as { readings: Array<{ fields: { temperature: number } }> };
    return body.readings.filter((r) => r.fields.temperature === 29).length >= 4 ? true : undefined;
  }, 20_000, 'readings of 29 stored');
  await sleep(500);
  assert.equal((await alert(rt, 'hot:room-1'))?.state, 'firing', '29 °C keeps it firing');
  temperature = 27;
  const cleared = await eventually(async () => {
    const a = await alert(rt, 'hot:room-1');
    return a?.state === 'cleared' ? a : undefined;
  }, 20_000, 'the alert cleared');
  await pub.stop();
  assert.equal(cleared.occurrences, 1);
  assert.deepEqual(cleared.events.map((e) => e.event), ['pending', 'firing', 'cleared'], 'one firing, one alert');
  await eventually(async () => (seen.length >= 3 ? true : undefined), 30_000, 'transitions on MQTT');
  assert.deepEqual(seen.map((e) => e.event), ['pending', 'firing', 'cleared']);
  // And rows in the store (written after the MQTT message, so waited for).
  const stored = async (): Promise<string[]> => {
    const rows = (await (await api(rt, 'GET', '/api/v1/readings?device=room-1&fields=alert.hot')).json()) as { readings: Array<{ fields: Record<string, string> }> };
    return rows.readings.map((r) => r.fields['alert.hot']);
  };
  await eventually(async () => ((await stored()).length >= 3 ? true : undefined), 30_000, 'transitions in the store');
  assert.deepEqual(await stored(), ['pending', 'firing', 'cleared']);
  await client.endAsync();
});

test('kill -9 three seconds into a pending duration: after the restart it fires about 2 s after the first new reading', { timeout: 180_000 }, async () => {
  const exists = await api(rt, 'GET', '/api/v1/rules/hot');
  if (exists.status === 404) assert.equal((await api(rt, 'POST', '/api/v1/rules', RULE)).status, 201);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'alerts-crash', reconnectPeriod: 500 });
  client.on('error', () => undefined);
  const pub = publisher(client, 'room-2', () => 31, 200);
  let start!: number;
  let killedAt!: number;
  let restartedAt!: number;
  // The publisher is back on the restarted broker before the runtime reports healthy (on a loaded machine by
  // seconds, long enough for the alert to fire): readings stamped from its reconnection on are the new ones.
  let killed = false;
  let reconnectedAt: number | undefined;
  client.on('connect', () => {
    if (killed && reconnectedAt === undefined) reconnectedAt = Date.now();
  });
  let firing: AlertRecord & { events: AlertEvent[] };
  try {
    const pending = await eventually(async () => {
      const a = await alert(rt, 'hot:room-2');
      return a?.state === 'pending' ? a : undefined;
    }, 20_000, 'a pending alert');
    start = pending.since;
    // 3 s into the 5 s: the plug is pulled.
    await sleep(Math.max(0, start + 3000 - Date.now()));
    await rt.kill9();
    killedAt = Date.now();
    killed = true;
    rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort });
    // Healthy, so the alert node has restored its state; readings stamped from here on are new.
    restartedAt = Date.now();
    firing = await eventually(async () => {
      const a = await alert(rt, 'hot:room-2');
      return a?.state === 'firing' ? a : undefined;
    }, 60_000, 'the alert firing after the restart');
  } finally {
    await pub.stop();
    await client.endAsync();
  }
  const fired = firing.events.find((e) => e.event === 'firing')!;
  // (A reading the client held while the runtime was down keeps its time from before the restart.)
  const backAt = Math.min(reconnectedAt ?? restartedAt, restartedAt);
  const firstNew = pub.sent.find((ts) => ts >= backAt);
  assert.ok(firstNew !== undefined, 'readings arrived after the restart');
  const down = backAt - killedAt;
  const wait = fired.ts - firstNew;
  assert.equal(firing.since, start, 'the alert keeps the time the condition began');
  // What had held before the crash (the readings it journaled, up to the last one sent before the kill) counts;
  // only the rest of the 5 s is waited for after the restart. A loaded machine may pull the plug later than
  // 3 s in, so the rest is computed from what was sent, not assumed to be 2 s.
  const held = Math.max(...pub.sent.filter((ts) => ts < killedAt)) - start;
  assert.ok(held >= 1000 && held < 5000, `${held} ms held before the crash`);
  assert.ok(wait >= 5000 - held - 500, `fired ${wait} ms after the first reading after the restart (down ${down} ms, ${held} ms held before): not before the rest of the 5 s`);
  assert.ok(wait < 5000, `fired ${wait} ms after the first reading after the restart: the rest of the 5 s, not a whole new 5 s`);
  assert.ok(fired.ts - start >= 5000 + down - 1000, 'the downtime did not count towards the 5 s');
});
