/**
 * Alert rules and device records shared by every member of a cluster group
 * through the cluster broker (nodes/lib/cluster/shared.ts): two members
 * (`npm start` with UPPERSTACK_CLUSTER_BROKER) on Debian's mosquitto (with
 * `persistence true`) and influxd, on loopback, and a third member started
 * later on a data folder that still has a rule deleted meanwhile.
 * - A rule made through member A's API fires on member B for a device of a
 *   partition B owns; a change made on B and a delete made on A reach the other.
 * - mosquitto restarted: the retained rules are still there, and members
 *   reconnect and go on sharing.
 * - The late member has the cluster's rules (and not the deleted one) before
 *   it takes partitions.
 * - A device registered on A logs in over HTTP and CoAP on B; disabled on A,
 *   B refuses it (403 DEVICE_DISABLED); its secret rotated on A, B takes only
 *   the new one; removed on A, B refuses it (401).
 * Without the sharing, B has no rule (no alert) and does not know the device.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import type { Rule } from '../../nodes/lib/rules/types';
import { memberAlert as alert, memberApi as api, startClusterMember } from '../helpers/cluster';
import { eventually, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

const P = 8;
const GROUP = 'share';
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
const HOT = { id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 50 }, severity: 'warning' };
const COLD = { id: 'cold', name: 'Too cold', devices: { all: true }, when: { field: 'temperature', op: 'below', value: -20 }, severity: 'info' };

let mosq: Mosquitto;
let influx: TsdbServer;
const members = new Map<string, Runtime>();

async function member(name: string, dataDir?: string): Promise<Runtime> {
  const env = {
    UPPERSTACK_CLUSTER_PARTITIONS: String(P),
    UPPERSTACK_CLUSTER_LEASE_SECONDS: '6',
    // No anonymous devices, loopback included: an unknown device is refused.
    UPPERSTACK_REQUIRE_AUTH: 'true',
  };
  const rt = await startClusterMember(name, { broker: mosq, sink: influx, group: GROUP, env }, dataDir);
  members.set(name, rt);
  return rt;
}

async function rule(r: Runtime, id: string): Promise<Rule | undefined> {
  const res = await api(r, 'GET', `/api/v1/rules/${id}`);
  return res.status === 200 ? ((await res.json()) as Rule) : undefined;
}

/** coap-client-notls POST to a member's CoAP input; its output (the answer code and text). */
function coap(rt: Runtime, path: string, payload: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('coap-client-notls', ['-m', 'post', '-t', '50', '-e', payload, `coap://127.0.0.1:${rt.coapPort}${path}`], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

before(async () => {
  mosq = await startMosquitto({ persistence: true });
  influx = await startInfluxd();
  await member('a');
  await member('b');
});

after(async () => {
  for (const rt of members.values()) await rt.stop();
  await influx?.destroy();
  await mosq?.stop();
});

test('a rule made on one member is in force on every member; changes and deletes follow; a member started later gets the rules', { timeout: 240_000 }, async () => {
  const a = members.get('a')!;
  const b = members.get('b')!;
  const broker = `mqtt://127.0.0.1:${mosq.port}`;
  const watcher = await mqtt.connectAsync(broker, { protocolVersion: 5 });
  const claims = new Map<number, string>();
  watcher.on('message', (topic, payload) => {
    const p = Number(topic.split('/').pop());
    if (payload.length === 0) claims.delete(p);
    else claims.set(p, (JSON.parse(payload.toString()) as { member: string }).member);
  });
  await watcher.subscribeAsync(`upperstack/cluster/${GROUP}/claims/+`, { qos: 1 });
  const sensor = await mqtt.connectAsync(broker, { protocolVersion: 5, clientId: 'share-sensor' });
  try {
    await eventually(async () => (claims.size === P && new Set(claims.values()).size === 2 ? true : undefined), 60_000, 'the partitions owned by both members');
    // A device of a partition B owns.
    let device = '';
    for (let i = 0; !device; i++) if (claims.get(partitionOf(`oven-${i}`, P)) === 'b') device = `oven-${i}`;

    assert.equal((await api(a, 'POST', '/api/v1/rules', HOT)).status, 201);
    await eventually(() => rule(b, 'hot'), 30_000, 'the rule made on A on B');
    let k = 0;
    await eventually(async () => {
      await sensor.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: T0 + k++ * 1000, temperature: 70 }), { qos: 1 });
      return (await alert(b, `hot:${device}`))?.state === 'firing' ? true : undefined;
    }, 60_000, 'the rule made on A firing on B for a device B owns');
    assert.equal(await alert(a, `hot:${device}`), undefined, 'judged by the partition owner only');

    // Changed on B (threshold, then disabled): on A.
    const changed = { ...HOT, when: { ...HOT.when, value: 90 } };
    assert.equal((await api(b, 'PUT', '/api/v1/rules/hot', changed)).status, 200);
    await eventually(async () => ((await rule(a, 'hot'))?.when as { value?: number } | undefined)?.value === 90 || undefined, 30_000, 'the change made on B on A');
    assert.equal((await api(b, 'PUT', '/api/v1/rules/hot', { ...changed, enabled: false })).status, 200);
    await eventually(async () => (await rule(a, 'hot'))?.enabled === false || undefined, 30_000, 'the rule disabled on B, disabled on A');

    // mosquitto restarted (persistence true): the retained rules are still there; members reconnect and share on.
    await mosq.restart();
    const reader = await mqtt.connectAsync(broker, { protocolVersion: 5 });
    const retained = new Map<string, string>();
    reader.on('message', (topic, payload) => retained.set(topic, payload.toString()));
    await reader.subscribeAsync(`upperstack/cluster/${GROUP}/shared/rules/+`, { qos: 1 });
    await eventually(async () => (retained.has(`upperstack/cluster/${GROUP}/shared/rules/hot`) ? true : undefined), 30_000, 'the rule retained across the broker restart');
    assert.equal((JSON.parse(retained.get(`upperstack/cluster/${GROUP}/shared/rules/hot`)!) as { doc: Rule }).doc.enabled, false);
    await reader.endAsync();
    assert.equal((await api(a, 'POST', '/api/v1/rules', COLD)).status, 201);
    await eventually(() => rule(b, 'cold'), 30_000, 'a rule made after the broker restart on B');

    // Deleted on A: gone on B.
    assert.equal((await api(a, 'DELETE', '/api/v1/rules/hot')).status, 204);
    await eventually(async () => ((await api(b, 'GET', '/api/v1/rules/hot')).status === 404 ? true : undefined), 30_000, 'the rule deleted on A gone on B');

    // A member started later, on a data folder that still has "hot" (deleted meanwhile) and a rule of its own.
    const dir = tempDir('us-share-c-');
    mkdirSync(join(dir, 'alerts'), { recursive: true });
    const own = { ...COLD, id: 'own', name: 'Own' };
    writeFileSync(join(dir, 'alerts', 'rules.json'), JSON.stringify({ version: 1, rules: [HOT, own] }));
    const c = await member('c', dir);
    // The rules are in as soon as the member answers (they are read before it takes partitions).
    await eventually(() => rule(c, 'cold'), 30_000, 'the cluster’s rules on the late member');
    assert.equal((await api(c, 'GET', '/api/v1/rules/hot')).status, 404, 'the delete made while it was away');
    await eventually(() => rule(a, 'own'), 30_000, 'the late member’s own rule on A');
    await eventually(() => rule(b, 'own'), 30_000, 'the late member’s own rule on B');
  } finally {
    await sensor.endAsync();
    await watcher.endAsync();
  }
});

test('a device registered on one member logs in on another; disabled or removed there, it no longer does', { timeout: 120_000 }, async () => {
  const a = members.get('a')!;
  const b = members.get('b')!;
  // Every shared device message from here on: the secrets must appear in none.
  const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5 });
  const seen: string[] = [];
  reader.on('message', (_t, payload) => seen.push(payload.toString()));
  await reader.subscribeAsync(`upperstack/cluster/${GROUP}/shared/devices/+`, { qos: 1 });
  const unknown = await fetch(`${b.url}/ingest/meter-1`, { method: 'POST', headers: { authorization: 'Bearer nobody-knows', 'content-type': 'application/json' }, body: '{"kwh":0}' });
  assert.equal(unknown.status, 401, 'a device nobody registered is refused');
  const made = await api(a, 'POST', '/api/v1/devices', { id: 'meter-1' });
  assert.equal(made.status, 201, await made.clone().text());
  const { secret } = (await made.json()) as { secret: string };
  const post = (rt: Runtime, n: number) => fetch(`${rt.url}/ingest/meter-1`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ ts: T0 + n * 1000, kwh: n }) });
  await eventually(async () => ((await post(b, 1)).status === 202 ? true : undefined), 30_000, 'the device registered on A logging in on B');
  assert.equal((await post(a, 2)).status, 202);
  const wrong = await fetch(`${b.url}/ingest/meter-1`, { method: 'POST', headers: { authorization: 'Bearer not-the-secret', 'content-type': 'application/json' }, body: '{"kwh":1}' });
  assert.equal(wrong.status, 401, 'a wrong secret is refused on B');

  assert.equal((await api(a, 'PATCH', '/api/v1/devices/meter-1', { enabled: false })).status, 200);
  await eventually(async () => ((await post(b, 3)).status === 403 ? true : undefined), 30_000, 'the device disabled on A refused on B (403 DEVICE_DISABLED)');
  assert.equal((await api(a, 'PATCH', '/api/v1/devices/meter-1', { enabled: true })).status, 200);
  await eventually(async () => ((await post(b, 4)).status === 202 ? true : undefined), 30_000, 'enabled again on A, accepted on B');
  assert.match(await coap(b, `/telemetry/meter-1?k=${secret}`, '{"kwh":4}'), /"accepted":1/, 'CoAP on B with the login made on A');

  // A new secret issued on A: the old one no longer works on B, the new one does.
  const rotated = await api(a, 'POST', '/api/v1/devices/meter-1/rotate');
  assert.equal(rotated.status, 200);
  const fresh = ((await rotated.json()) as { secret: string }).secret;
  await eventually(async () => ((await post(b, 5)).status === 401 ? true : undefined), 30_000, 'the old secret refused on B after the rotation on A');
  const withFresh = await fetch(`${b.url}/ingest/meter-1`, { method: 'POST', headers: { authorization: `Bearer ${fresh}`, 'content-type': 'application/json' }, body: JSON.stringify({ ts: T0 + 6000, kwh: 6 }) });
  assert.equal(withFresh.status, 202, 'the new secret accepted on B');
  assert.match(await coap(b, `/telemetry/meter-1?k=${secret}`, '{"kwh":6}'), /4\.01/, 'the old secret refused over CoAP on B');

  assert.equal((await api(a, 'DELETE', '/api/v1/devices/meter-1')).status, 200);
  await eventually(async () => ((await api(b, 'GET', '/api/v1/devices')).json() as Promise<{ devices: Array<{ id: string }> }>).then((l) => (l.devices.some((d) => d.id === 'meter-1') ? undefined : true)), 30_000, 'removed on A, gone from B’s registry');
  const removed = await fetch(`${b.url}/ingest/meter-1`, { method: 'POST', headers: { authorization: `Bearer ${fresh}`, 'content-type': 'application/json' }, body: '{"kwh":7}' });
  assert.equal(removed.status, 401, 'a removed device’s secret is refused on B');
  // Only the salted hash travelled: the secrets appear in no message, the hash in the first.
  await reader.endAsync();
  assert.ok(seen.length >= 5, `${seen.length} device messages`);
  assert.ok(seen.every((m) => !m.includes(secret) && !m.includes(fresh)));
  assert.match(seen[0], /"secretHash":"scrypt\$/);
});
