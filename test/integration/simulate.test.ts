/**
 * `upperstack simulate` as a user runs it: against the real runtime's embedded
 * broker (readings reach the query API, /metrics counts them, the ground truth
 * is written, the progress line shows) and against Debian's mosquitto with
 * 10,000 devices from one process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { eventually, freeUdpPort, startRuntime, type Runtime } from '../helpers/runtime';
import { startMosquitto } from '../helpers/mosquitto';
import { readBack, storedReadings } from '../helpers/read-back';
import { simulateCli } from '../helpers/simulate-cli';
import { tempDir } from '../helpers/temp';
import { CoapTransport, HttpTransport, MqttTransport, type Transport } from '../../nodes/lib/sim/transports';
import { sendInParts } from '../../nodes/lib/sim/split';
import { encode } from '../../nodes/lib/codec';
import type { Reading } from '../../nodes/lib/reading';
import type { SimDevice } from '../../nodes/lib/sim/simulator';

const simulate = (args: string[]) => simulateCli(args);

let rt: Runtime;
let coapPort = 0;
before(async () => {
  coapPort = await freeUdpPort();
  rt = await startRuntime({ env: { UPPERSTACK_COAP_PORT: String(coapPort) } });
});
after(async () => {
  await rt?.stop();
});

/** Sends one device's readings through the transport as the simulator does (in parts where needed), counting the events. */
async function sendCounted(transport: Transport, readings: Reading[], fleet: SimDevice[]) {
  const counts = { sent: 0, acked: 0, split: 0, failed: [] as string[] };
  await transport.open(fleet);
  try {
    await sendInParts(transport, { id: readings[0].device, profile: 'env', index: 0 }, readings, 'json', 'application/json', {
      sent: () => void counts.sent++,
      acked: () => void counts.acked++,
      split: () => void counts.split++,
      failed: (err) => void counts.failed.push(String(err)),
      abandoned: () => false,
    });
  } finally {
    await transport.close();
  }
  return counts;
}

test('simulated devices over MQTT reach the store through the default pack; acked = sent, progress shown, ground truth written', { timeout: 180_000 }, async () => {
  const dir = tempDir('us-simcli-');
  const truth = join(dir, 'truth.json');
  // Three simulated hours of 30 devices in about 6 s, many anomalies.
  const r = await simulate(['--devices', '30', '--rate', '1/min', '--plug-rate', '2/min', '--duration', '3h', '--speed', '1800', '--start', '-3h', '--anomalies', '20', '--url', `mqtt://127.0.0.1:${rt.mqttPort}`, '--truth', truth, '--progress', '1s', '--seed', '9']);
  assert.equal(r.code, 0, r.stderr);
  const m = /(\d+) messages \((\d+) readings\) sent .*?, (\d+) acked, (\d+) failed/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const [, messages, readings, acked, failed] = m!.map(Number);
  assert.equal(acked, messages);
  assert.equal(failed, 0);
  assert.match(r.stderr, /devices 30 · sent \d+\/s · acked \d+ · errors 0/);

  const doc = JSON.parse(readFileSync(truth, 'utf8')) as { seed: number; anomalies: Array<{ device: string; kind: string; from: string; to: string }> };
  assert.equal(doc.seed, 9);
  assert.ok(doc.anomalies.length > 10, `${doc.anomalies.length} anomalies labelled`);

  // Every reading sent is queryable (sim-01 .. sim-30), and /metrics counted the messages.
  const fleet = Array.from({ length: 30 }, (_, i) => `sim-${String(i + 1).padStart(2, '0')}`);
  const total = await readBack(rt, fleet, readings, `all ${readings} readings stored`, { ms: 60_000 });
  assert.equal(total, readings);
  const metrics = await (await rt.get('/metrics')).text();
  const received = Number(/^upperstack_messages_received_total\{protocol="mqtt"\} (\d+)/m.exec(metrics)?.[1]);
  assert.ok(received >= messages, `received ${received} ≥ ${messages}`);
});

test('10,000 devices from one process against mosquitto: every device publishes and every message is acknowledged', { timeout: 300_000 }, async () => {
  const broker = await startMosquitto();
  const seen = new Set<string>();
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
  sub.on('message', (topic) => seen.add(topic.split('/')[1]));
  await sub.subscribeAsync('devices/+/telemetry', { qos: 0 });
  try {
    // One report per device every 10 s for 12 s: about 1000 messages a second.
    const r = await simulate(['--devices', '10000', '--rate', '1/10s', '--plug-rate', '1/10s', '--duration', '12s', '--anomalies', '0', '--url', `mqtt://127.0.0.1:${broker.port}`, '--connections', '20', '--truth', join(tempDir('us-sim10k-'), 't.json')]);
    assert.equal(r.code, 0, r.stderr);
    const m = /(\d+) messages .*?, (\d+) acked, (\d+) failed/.exec(r.stdout)!;
    assert.equal(Number(m[2]), Number(m[1]));
    assert.ok(Number(m[1]) >= 10_000, r.stdout);
    await eventually(async () => (seen.size === 10_000 ? true : undefined), 30_000, `all 10,000 devices seen (${seen.size})`);
    assert.ok(seen.has('sim-00001') && seen.has('sim-10000'));
  } finally {
    await sub.endAsync();
    await broker.stop();
  }
});

test('over HTTP (bearer token) and CoAP (CBOR) to the default pack\'s inputs: every message acknowledged and stored', { timeout: 120_000 }, async () => {
  const dir = tempDir('us-simhttp-');
  const http = await simulate(['--protocol', 'http', '--url', rt.url, '--token', rt.apiKey, '--devices', '4', '--mix', 'env', '--duration', '3s', '--prefix', 'web-', '--anomalies', '0', '--truth', join(dir, 'a.json')]);
  assert.equal(http.code, 0, http.stdout + http.stderr);
  const coap = await simulate(['--protocol', 'coap', '--url', `coap://127.0.0.1:${coapPort}`, '--codec', 'cbor', '--devices', '4', '--mix', 'env', '--duration', '3s', '--prefix', 'udp-', '--anomalies', '0', '--truth', join(dir, 'b.json')]);
  assert.equal(coap.code, 0, coap.stdout + coap.stderr);
  for (const [r, prefix] of [[http, 'web-'], [coap, 'udp-']] as const) {
    const m = /(\d+) messages \((\d+) readings\) sent .*?, (\d+) acked, 0 failed/.exec(r.stdout)!;
    assert.equal(m[1], m[3], `${prefix}: acked = sent`);
    const readings = Number(m[2]);
    await readBack(rt, [1, 2, 3, 4].map((i) => `${prefix}${i}`), readings, `${prefix}: ${readings} readings stored`, { limit: 1000 });
  }
});

test('over CoAP, a batch larger than a CoAP packet goes block-wise (Block1) to the default pack\'s CoAP input and is stored', { timeout: 120_000 }, async () => {
  // The simulator's CoAP transport with what a busy device sends: the readings that waited, as one body.
  // Sent as one datagram it was refused before sending ("Max packet size is 1280").
  const transport = new CoapTransport({ url: `coap://127.0.0.1:${coapPort}` });
  await transport.open();
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const batch = Array.from({ length: 120 }, (_, i) => ({ ts: t0 + i * 1000, temperature: 20 + (i % 10) / 10, humidity: 40 + (i % 7), battery: 90 }));
  const body = Buffer.from(JSON.stringify(batch));
  assert.ok(body.length > 4 * 1024, `${body.length} bytes: several blocks`);
  try {
    await transport.send({ id: 'blk-1', profile: 'env', index: 0 }, body, 'application/json');
  } finally {
    await transport.close();
  }
  await readBack(rt, ['blk-1'], batch.length, `${batch.length} readings of blk-1 stored`, { limit: 1000 });
});

test('a batch over an input\'s limit (CoAP 4.13 with Size1, HTTP 413) goes again in parts: every reading is stored, none failed', { timeout: 180_000 }, async () => {
  const t0 = Date.parse('2026-01-02T00:00:00Z');
  // What a device that waited long at a high --speed sends: more than the CoAP input's 256 KiB, more readings
  // than an HTTP request may hold (10,000).
  const batch = (device: string, n: number): Reading[] =>
    Array.from({ length: n }, (_, i) => ({ device, ts: t0 + i * 1000, fields: { temperature: 20 + (i % 10) / 10, humidity: 40 + (i % 7), battery: 90 - (i % 5) }, tags: {} }));
  const cases: Array<[Transport, Reading[]]> = [
    [new CoapTransport({ url: `coap://127.0.0.1:${coapPort}` }), batch('big-coap', 3000)],
    [new HttpTransport({ url: rt.url, credentials: () => ({ token: rt.apiKey }) }), batch('big-http', 12_000)],
  ];
  for (const [transport, readings] of cases) {
    const device = readings[0].device;
    if (transport.name === 'coap') assert.ok(encode('json', readings).length > 256 * 1024, 'over the CoAP input\'s limit');
    const counts = await sendCounted(transport, readings, []);
    assert.deepEqual(counts.failed, [], device);
    assert.ok(counts.split >= 1, `${device}: refused once for its size`);
    assert.equal(counts.acked + counts.split, counts.sent, device);
    // A query answers 10,000 readings at most: the first and second half of the batch's hours apart.
    const mid = new Date(t0 + 6000 * 1000).toISOString();
    await readBack(rt, [device], readings.length, `${readings.length} readings of ${device} stored`, { ranges: [`to=${mid}`, `from=${mid}`], ms: 60_000 });
  }
});

test('over MQTT, a batch over the input\'s 1 MiB goes as several messages: every reading is stored, none dead-lettered', { timeout: 180_000 }, async () => {
  // What a busy device sends after waiting at a high --speed (a day of history in a minute): up to 10,000
  // readings, over 1 MiB of JSON. The MQTT input acknowledges whatever it gets, so a message over its limit
  // was acknowledged and dead-lettered whole as PAYLOAD_TOO_LARGE while the simulator counted it acked.
  const t0 = Date.parse('2026-01-03T00:00:00Z');
  const device = 'big-mqtt';
  const readings: Reading[] = Array.from({ length: 9500 }, (_, i) => ({
    device,
    ts: t0 + i * 1000,
    fields: { temperature: 20 + (i % 10) / 10, humidity: 40.5 + (i % 7), illuminance: 18_000 + i, battery: 90 - (i % 5) / 100 },
    tags: {},
  }));
  assert.ok(encode('json', readings).length > 1024 * 1024, 'over the MQTT input\'s limit');
  const transport = new MqttTransport({ url: `mqtt://127.0.0.1:${rt.mqttPort}`, topic: 'devices/{device}/telemetry', connections: 1 });
  const counts = await sendCounted(transport, readings, [{ id: device, profile: 'env', index: 0 }]);
  assert.deepEqual(counts.failed, []);
  assert.equal(counts.acked, counts.sent);
  // Until every reading is stored, or a dead letter says why not.
  const { stored, letters } = await eventually(async () => {
    const got = await storedReadings(rt, device);
    const dead = ((await (await rt.get(`/api/v1/deadletters?device=${device}`)).json()) as { deadLetters: Array<{ code: string; reason: string }> }).deadLetters;
    return got.length === readings.length || dead.length > 0 ? { stored: got, letters: dead } : undefined;
  }, 60_000, `${readings.length} readings of ${device} stored`);
  assert.deepEqual(letters.map((l) => `${l.code}: ${l.reason}`), []);
  assert.equal(stored.length, readings.length);
  assert.equal(stored[0].ts, new Date(t0).toISOString());
  assert.equal(stored[readings.length - 1].ts, new Date(t0 + (readings.length - 1) * 1000).toISOString());
  assert.ok(counts.sent >= 2, `${counts.sent} messages`);
});
