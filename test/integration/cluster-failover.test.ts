/**
 * Analytics state moving with a partition: three cluster members (`npm start`
 * with UPPERSTACK_CLUSTER_BROKER) on Debian's mosquitto and influxd, on
 * loopback. On one partition owned by member A:
 * - device Y's alert fires on A (a rule with a 60 s duration);
 * - device W's anomaly detector learns 300 steady readings on A;
 * - device X's alert is pending on A (40 s of the 60 s held).
 * A is stopped (SIGSTOP) and the readings that follow are posted to a
 * surviving member, which stores them and republishes them for the partition
 * while its owner cannot take them; then A is killed (SIGKILL). On the member
 * that takes the partition over:
 * - X's alert fires exactly once, with the reading that completes 60 s since
 *   X's first hot reading (the pending duration carried over; the readings
 *   published in between reached it);
 * - Y's alert does not fire a second time;
 * - W's first spike is judged anomalous (its detector did not start its
 *   warm-up again) and fires W's anomaly alert;
 * - the dead-man alert of Z (a listed device of the partition that never
 *   reports) fired once, on the partition's owner, and no other member has it.
 * Without the checkpoints, X never fires (20 s of hot readings on the new
 * owner), Y fires twice and W's spike meets a detector still warming up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { checkpointTopic, decodeCheckpoint } from '../../nodes/lib/cluster/state';
import { partitionOf, targetOwner } from '../../nodes/lib/cluster/partitions';
import { memberAlert as alert, shareRules, startClusterMembers } from '../helpers/cluster';
import { eventually, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';
import type { AlertRecord } from '../../nodes/lib/rules/types';

const P = 64;
const GROUP = 'fo';
const MEMBERS = ['m1', 'm2', 'm3'];
const STEP = 4000;
// Recent times: the embedded store's default retention refuses readings for buckets it has sealed.
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
/** Never reports; in the partition of boiler-x, the partition A owns in the test. */
const Z = devicesIn(partitionOf('boiler-x', P), 'silent-z', 1)[0];
const RULES = [
  { id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 50, for: '60s' }, clear: { op: 'below', value: 40, for: '0s' }, severity: 'warning' },
  { id: 'ping', name: 'Ping', devices: { all: true }, when: { field: 'ping', op: 'above', value: 0 }, severity: 'info' },
  { id: 'quiet', name: 'Quiet', devices: { list: [Z] }, when: { op: 'not-reported', for: '5s' }, severity: 'critical' },
  { id: 'odd', name: 'Odd level', devices: { all: true }, when: { field: 'level', op: 'anomalous' }, clear: { for: '5m' }, severity: 'warning' },
];

let mosq: Mosquitto;
let influx: TsdbServer;
const members = new Map<string, Runtime>();

/** Device names in partition p. */
function devicesIn(p: number, prefix: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (partitionOf(`${prefix}${i}`, P) === p) out.push(`${prefix}${i}`);
  return out;
}

before(async () => {
  mosq = await startMosquitto();
  influx = await startInfluxd();
  await startClusterMembers(MEMBERS, { broker: mosq, sink: influx, group: GROUP, env: { UPPERSTACK_CLUSTER_LEASE_SECONDS: '6', UPPERSTACK_CLUSTER_CHECKPOINT_SECONDS: '2' } }, members);
  // Rules made on one member are in force on every member (shared through the cluster broker).
  await shareRules(members.values(), RULES);
});

after(async () => {
  for (const rt of members.values()) await rt.stop();
  await influx?.destroy();
  await mosq?.stop();
});

test('a pending alert fires once on the member that takes the partition over; a firing one does not fire again; learned anomaly state moves', { timeout: 300_000 }, async (t) => {
  const broker = `mqtt://127.0.0.1:${mosq.port}`;
  const watcher = await mqtt.connectAsync(broker, { protocolVersion: 5 });
  const claims = new Map<number, string>();
  const claimedAt = new Map<number, number>();
  const checkpoints = new Map<string, Buffer>();
  watcher.on('message', (topic, payload) => {
    const p = Number(topic.split('/').pop());
    if (topic.includes('/state/')) checkpoints.set(topic, payload);
    else if (payload.length === 0) claims.delete(p);
    else {
      const m = (JSON.parse(payload.toString()) as { member: string }).member;
      if (claims.get(p) !== m) claimedAt.set(p, Date.now());
      claims.set(p, m);
    }
  });
  await watcher.subscribeAsync([`upperstack/cluster/${GROUP}/claims/+`, `upperstack/cluster/${GROUP}/state/+/+`], { qos: 1 });
  const device: MqttClient = await mqtt.connectAsync(broker, { protocolVersion: 5, clientId: 'fo-devices' });
  // One message per batch: one member ingests it, so the partition's owner gets the readings in order.
  const send = (id: string, body: Record<string, number> | Array<Record<string, number>>) => device.publishAsync(`devices/${id}/telemetry`, JSON.stringify(body), { qos: 1 });
  try {
    // Every partition claimed by the member all three compute as its owner: no hand-over is left to come, so the
    // owner picked below keeps the partition until it is killed (all claimed is reached while some still move).
    await eventually(async () => (claims.size === P && [...claims].every(([q, m]) => m === targetOwner(q, MEMBERS)) ? true : undefined), 60_000, 'the partitions owned by their target members');
    const x = 'boiler-x';
    const p = partitionOf(x, P);
    const [y, w] = [devicesIn(p, 'boiler-y', 1)[0], devicesIn(p, 'pump-w', 1)[0]];
    const a = claims.get(p)!;
    const rtA = members.get(a)!;
    // The partition's reader is connected once a ping comes through to A's alerts.
    await eventually(async () => {
      await send(x, { ts: T0 - 1000, ping: 1 });
      return (await alert(rtA, `ping:${x}`)) ? true : undefined;
    }, 60_000, 'the partition read on its owner');

    // Y fires on A.
    await send(y, Array.from({ length: 16 }, (_, i) => ({ ts: T0 + i * STEP, temperature: 60 })));
    await eventually(async () => ((await alert(rtA, `hot:${y}`))?.state === 'firing' ? true : undefined), 30_000, 'Y firing on A');
    // W's detector learns a steady level on A.
    let seed = 7;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    await send(w, Array.from({ length: 300 }, (_, i) => ({ ts: T0 + i * 60_000, level: 50 + noise() })));
    const lastW = T0 + 299 * 60_000;
    await eventually(async () => {
      const payload = checkpoints.get(checkpointTopic(GROUP, p, 'upperstack-anomaly:us_anomaly'));
      const anomaly = payload && (decodeCheckpoint(payload)?.state as { devices: Array<{ device: string; lastTs: number }> } | undefined);
      return anomaly?.devices.some((d) => d.device === w && d.lastTs === lastW) ? true : undefined;
    }, 30_000, 'W’s learning in the partition’s checkpoint');
    // X pending on A: 40 s of the 60.
    await send(x, Array.from({ length: 11 }, (_, i) => ({ ts: T0 + i * STEP, temperature: 60 })));
    await eventually(async () => {
      const r = await alert(rtA, `hot:${x}`);
      return r?.state === 'pending' && r.lastSeen === T0 + 10 * STEP ? r : undefined;
    }, 30_000, 'X pending on A');
    // Z's dead-man alert fires on the partition's owner (A): the other members do not judge Z.
    await eventually(async () => ((await alert(rtA, `quiet:${Z}`))?.state === 'firing' ? true : undefined), 30_000, 'Z silent on A');
    // A's API shows a state before the checkpoint that has it is on the broker; stopped in between, A
    // would leave the next owner an older one (Z not yet fired, X's latest readings missing).
    await eventually(async () => {
      const payload = checkpoints.get(checkpointTopic(GROUP, p, 'upperstack-alert:us_alert'));
      const records = (payload && (decodeCheckpoint(payload)?.state as { records?: AlertRecord[] } | undefined)?.records) || [];
      const of = (id: string) => records.find((r) => r.id === id);
      return of(`quiet:${Z}`)?.state === 'firing' && of(`hot:${x}`)?.state === 'pending' && of(`hot:${x}`)?.lastSeen === T0 + 10 * STEP ? true : undefined;
    }, 30_000, 'Z firing and X pending in the partition’s alert checkpoint');
    const yBefore = await alert(rtA, `hot:${y}`);
    assert.equal(yBefore?.occurrences, 1);

    // A stops (SIGSTOP) and then dies (SIGKILL): what a survivor stores meanwhile is republished for the partition
    // while its owner cannot take it: X 20 s more (60 s in all) then cool; Y hot for another 80 s; W's first spike.
    rtA.proc.kill('SIGSTOP');
    members.delete(a);
    const [rtB] = [...members.values()];
    const post = async (id: string, body: Record<string, number>) => {
      const res = await fetch(`${rtB.url}/ingest/${id}`, { method: 'POST', headers: { authorization: `Bearer ${rtB.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(res.status, 202, await res.text());
    };
    for (let i = 11; i <= 15; i++) await post(x, { ts: T0 + i * STEP, temperature: 60 });
    await post(x, { ts: T0 + 16 * STEP, temperature: 20 });
    for (let i = 16; i <= 36; i++) await post(y, { ts: T0 + i * STEP, temperature: 60 });
    await post(w, { ts: lastW + 60_000, level: 500 });
    // Stored (and so republished) while A still holds the partition, frozen.
    const count = async (field: string, id: string) => {
      const [r] = await influxQuery(influx, `SELECT count(${field}) FROM telemetry WHERE device='${id}'`, 'upperstack');
      return Number(r.series?.[0]?.values[0][1] ?? 0);
    };
    await eventually(async () => ((await count('temperature', x)) === 17 && (await count('temperature', y)) === 37 && (await count('level', w)) === 301 ? true : undefined), 30_000, 'the readings stored');
    await new Promise((r) => setTimeout(r, 1000));
    await rtA.kill9();
    const killed = Date.now();

    await eventually(async () => (claims.get(p) && claims.get(p) !== a && members.has(claims.get(p)!) ? true : undefined), 30_000, 'the partition taken over');
    t.diagnostic(`the partition claimed by ${claims.get(p)} ${claimedAt.get(p)! - killed} ms after the kill`);
    const rtNew = members.get(claims.get(p)!)!;
    const xAlert = await eventually(async () => {
      const r = await alert(rtNew, `hot:${x}`);
      return r && r.state !== 'pending' ? r : undefined;
    }, 30_000, 'X no longer pending on the new owner');
    const xFired = xAlert.events.filter((e) => e.event === 'firing');
    assert.equal(xFired.length, 1, JSON.stringify(xAlert.events));
    assert.equal(xFired[0].ts, T0 + 15 * STEP, 'fired by the reading that completes 60 s');
    assert.equal(xFired[0].since, T0);
    // Y: readings up to 36 reached the new owner; still the one firing from A.
    const yAfter = await eventually(async () => {
      const r = await alert(rtNew, `hot:${y}`);
      return r && r.lastSeen === T0 + 36 * STEP ? r : undefined;
    }, 30_000, 'Y’s last reading judged on the new owner');
    assert.equal(yAfter.state, 'firing');
    assert.equal(yAfter.occurrences, 1, 'fired once in all');
    assert.equal(yAfter.events.filter((e) => e.event === 'firing').length, 0, 'no firing on the new owner');
    // W's spike, judged by the detector that learned on A.
    const odd = await eventually(async () => alert(rtNew, `odd:${w}`), 30_000, 'W’s anomaly alert on the new owner');
    assert.equal(odd.state, 'firing');
    // Z: still the one firing from A, not fired again.
    const zAfter = await alert(rtNew, `quiet:${Z}`);
    assert.equal(zAfter?.state, 'firing');
    assert.equal(zAfter.occurrences, 1, 'fired once in all');
    assert.equal(zAfter.events.filter((e) => e.event === 'firing').length, 0, 'no firing on the new owner');
    // No other member fired X, Y or Z.
    for (const rt of members.values()) {
      if (rt === rtNew) continue;
      assert.equal(await alert(rt, `quiet:${Z}`), undefined, 'Z is judged by its partition\'s owner only');
      assert.equal((await alert(rt, `hot:${x}`))?.events.filter((e) => e.event === 'firing').length ?? 0, 0);
      assert.equal((await alert(rt, `hot:${y}`))?.events.filter((e) => e.event === 'firing').length ?? 0, 0);
    }
  } finally {
    await device.endAsync();
    await watcher.endAsync();
  }
});
