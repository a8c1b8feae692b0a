/**
 * The notification window of a cluster member: two members (`npm start` with
 * UPPERSTACK_CLUSTER_BROKER) on Debian's mosquitto and influxd, on loopback,
 * both started with the test hook UPPERSTACK_TEST_KILL_BEFORE_SEND=boom: a
 * member whose alert rule "boom" fires dies (SIGKILL, by its own hand) after
 * the broker confirmed the checkpoint that has the transition and before the
 * transition is sent anywhere. The checkpoint records the transition as still
 * to send; the member that takes the partition over sends it (here: published
 * on its upperstack/alerts/<device>), with the idempotency key the dead member
 * gave it, and its next checkpoint records it as sent.
 * Without the outbox the transition is lost: the new owner imports an alert
 * that is firing and sends nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { checkpointTopic, decodeCheckpoint } from '../../nodes/lib/cluster/state';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import type { AlertEvent, AlertRecord } from '../../nodes/lib/rules/types';
import { eventually, freePort, startRuntime, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

const P = 64;
const GROUP = 'ob';
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
const RULES = [
  { id: 'ping', name: 'Ping', devices: { all: true }, when: { field: 'ping', op: 'above', value: 0 }, severity: 'info' },
  { id: 'boom', name: 'Boom', devices: { all: true }, when: { field: 'boom', op: 'above', value: 0 }, severity: 'critical' },
];

let mosq: Mosquitto;
let influx: TsdbServer;
const members = new Map<string, Runtime>();

async function api(r: Runtime, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(r.url + path, { method, headers: { authorization: `Bearer ${r.apiKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function alert(r: Runtime, id: string): Promise<AlertRecord | undefined> {
  const res = await api(r, 'GET', `/api/v1/alerts/${encodeURIComponent(id)}`);
  return res.status === 200 ? ((await res.json()) as AlertRecord) : undefined;
}

before(async () => {
  mosq = await startMosquitto();
  influx = await startInfluxd();
  for (const name of ['m1', 'm2']) {
    const rt = await startRuntime({
      dataDir: tempDir(`us-outbox-${name}-`),
      httpPort: await freePort(),
      mqttPort: await freePort(),
      env: {
        UPPERSTACK_CLUSTER_BROKER: `mqtt://127.0.0.1:${mosq.port}`,
        UPPERSTACK_CLUSTER_GROUP: GROUP,
        UPPERSTACK_CLUSTER_MEMBER: name,
        UPPERSTACK_CLUSTER_SINK: influx.url,
        UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb',
        UPPERSTACK_CLUSTER_LEASE_SECONDS: '6',
        UPPERSTACK_CLUSTER_CHECKPOINT_SECONDS: '2',
        UPPERSTACK_TEST_KILL_BEFORE_SEND: 'boom',
      },
    });
    members.set(name, rt);
  }
  // Rules made on one member are in force on every member (shared through the cluster broker).
  const [first] = members.values();
  for (const rule of RULES) assert.equal((await api(first, 'POST', '/api/v1/rules', rule)).status, 201);
  for (const rt of members.values()) {
    await eventually(async () => ((await (await api(rt, 'GET', '/api/v1/rules')).json()) as { rules: unknown[] }).rules.length === RULES.length || undefined, 30_000, 'the rules on every member');
  }
});

after(async () => {
  for (const rt of members.values()) await rt.stop();
  await influx?.destroy();
  await mosq?.stop();
});

test('a member killed between the checkpoint and the send: the next owner sends the transition, with its key', { timeout: 150_000 }, async (t) => {
  const broker = `mqtt://127.0.0.1:${mosq.port}`;
  const watcher = await mqtt.connectAsync(broker, { protocolVersion: 5 });
  const claims = new Map<number, string>();
  const checkpoints = new Map<string, Buffer>();
  watcher.on('message', (topic, payload) => {
    if (topic.includes('/state/')) {
      checkpoints.set(topic, payload);
      return;
    }
    const p = Number(topic.split('/').pop());
    if (payload.length === 0) claims.delete(p);
    else claims.set(p, (JSON.parse(payload.toString()) as { member: string }).member);
  });
  await watcher.subscribeAsync([`upperstack/cluster/${GROUP}/claims/+`, `upperstack/cluster/${GROUP}/state/+/+`], { qos: 1 });
  const device: MqttClient = await mqtt.connectAsync(broker, { protocolVersion: 5, clientId: 'ob-devices' });
  const send = (id: string, body: Record<string, number>) => device.publishAsync(`devices/${id}/telemetry`, JSON.stringify(body), { qos: 1 });
  const heard: MqttClient[] = [];
  try {
    await eventually(async () => (claims.size === P && new Set(claims.values()).size === 2 ? true : undefined), 60_000, 'the partitions owned by the two members');
    const d = 'tank-7';
    const p = partitionOf(d, P);
    const a = claims.get(p)!;
    const rtA = members.get(a)!;
    const [b] = [...members.keys()].filter((m) => m !== a);
    const rtB = members.get(b)!;
    // What B publishes of d's alerts (its embedded broker).
    const onB: AlertEvent[] = [];
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${rtB.mqttPort}`, { username: 'apikey', password: rtB.apiKey, clientId: 'ob-alerts-b' });
    heard.push(sub);
    sub.on('message', (_topic, payload) => onB.push(JSON.parse(payload.toString()) as AlertEvent));
    await sub.subscribeAsync(`upperstack/alerts/${d}`, { qos: 1 });
    await eventually(async () => {
      await send(d, { ts: T0, ping: 1 });
      return (await alert(rtA, `ping:${d}`)) ? true : undefined;
    }, 30_000, 'the partition read on its owner');

    const died = new Promise<NodeJS.Signals | null>((resolve) => rtA.proc.once('exit', (_code, signal) => resolve(signal)));
    await send(d, { ts: T0 + 1000, boom: 1 });
    assert.equal(await died, 'SIGKILL', 'A dies by the hook, after the checkpoint and before the send');
    members.delete(a);
    const topic = checkpointTopic(GROUP, p, 'upperstack-alert:us_alert');
    const outboxOf = () => (decodeCheckpoint(checkpoints.get(topic)!)?.state as { outbox?: AlertEvent[] } | undefined)?.outbox ?? [];
    const toSend = outboxOf().filter((e) => e.rule === 'boom');
    assert.deepEqual(toSend.map((e) => [e.event, e.key]), [['firing', `boom:${d}:1`]], 'the confirmed checkpoint has the transition to send');

    await eventually(async () => (claims.get(p) === b ? true : undefined), 30_000, 'the partition taken over by B');
    const boom = await eventually(async () => onB.find((e) => e.rule === 'boom'), 30_000, 'the transition sent by B');
    assert.equal(boom.event, 'firing');
    assert.equal(boom.key, `boom:${d}:1`, 'the key A gave it');
    assert.equal(boom.ts, T0 + 1000);
    assert.equal((await alert(rtB, `boom:${d}`))?.state, 'firing');
    // Marked sent in B's next checkpoint; sent once.
    await eventually(async () => (checkpoints.has(topic) && !outboxOf().some((e) => e.rule === 'boom') ? true : undefined), 30_000, 'the transition recorded as sent');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(onB.filter((e) => e.rule === 'boom').length, 1, JSON.stringify(onB));
    t.diagnostic(`sent by ${b} after ${a} died before sending`);
  } finally {
    for (const c of heard) await c.endAsync();
    await device.endAsync();
    await watcher.endAsync();
  }
});
