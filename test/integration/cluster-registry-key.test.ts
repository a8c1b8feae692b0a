/**
 * Cluster members must hold the same device registry key file
 * (upperstack-registry.key): signing devices' keys are shared sealed under it.
 * Two members (`npm start` with UPPERSTACK_CLUSTER_BROKER) on Debian's
 * mosquitto and influxd, on loopback:
 * - member B starts with a key file of its own: it does not start serving
 *   (/health failing with a message naming its key file; A stays healthy), and
 *   only a fingerprint of the key is on the broker, never the key.
 * - member A restarted with another key file: a device that signs, registered
 *   before, gets 503 JSON saying why (the key cannot be opened here), not a 500.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { eventually, freePort, startRuntime, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';
import { memberApi } from '../helpers/cluster';
import { tempDir } from '../helpers/temp';

const GROUP = 'keys';
let mosq: Mosquitto;
let influx: TsdbServer;
const started: Runtime[] = [];

function newKey(): string {
  return `${randomBytes(32).toString('base64url')}\n`;
}

async function member(name: string, dataDir: string, ready: 'healthy' | 'answering' = 'healthy', group = GROUP): Promise<Runtime> {
  const rt = await startRuntime({
    dataDir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    ready,
    env: {
      UPPERSTACK_CLUSTER_BROKER: `mqtt://127.0.0.1:${mosq.port}`,
      UPPERSTACK_CLUSTER_GROUP: group,
      UPPERSTACK_CLUSTER_MEMBER: name,
      UPPERSTACK_CLUSTER_PARTITIONS: '4',
      UPPERSTACK_CLUSTER_SINK: influx.url,
      UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb',
      UPPERSTACK_CLUSTER_LEASE_SECONDS: '6',
    },
  });
  started.push(rt);
  return rt;
}

function dataDir(name: string): string {
  return tempDir(`us-regkey-${name}-`);
}

interface Health {
  status: string;
  problems: Array<{ component: string; code: string; message: string }>;
}

async function health(rt: Runtime): Promise<{ status: number; body: Health; text: string }> {
  const res = await fetch(`${rt.url}/health`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Health, text };
}

before(async () => {
  mosq = await startMosquitto();
  influx = await startInfluxd();
});

after(async () => {
  for (const rt of started) await rt.stop().catch(() => undefined);
  await influx?.stop();
  await mosq?.stop();
});

test('a member whose registry key differs from the group\'s does not serve, and says which file', { timeout: 180_000 }, async () => {
  const a = await member('a', dataDir('a'));
  const bDir = dataDir('b');
  const bKey = newKey();
  writeFileSync(join(bDir, 'upperstack-registry.key'), bKey, { mode: 0o600 });
  const b = await member('b', bDir, 'answering');

  const bad = await eventually(async () => {
    const h = await health(b);
    return h.body.problems?.some((p) => p.component === 'cluster:b') ? h : undefined;
  }, 60_000, 'member B reporting its registry key on /health');
  assert.equal(bad.status, 503);
  const problem = bad.body.problems.find((p) => p.component === 'cluster:b')!;
  assert.ok(problem.message.includes(join(bDir, 'upperstack-registry.key')), problem.message);
  assert.match(problem.message, /is not the one cluster group "keys" uses .*published by member "a".*Copy upperstack-registry\.key/);
  assert.ok(!bad.text.includes(bKey.trim()), 'the key itself is not shown');
  // The log comes through its own pipe, which may be read after the /health answer.
  await eventually(async () => (/is not the one cluster group "keys" uses/.test(b.output()) ? true : undefined), 30_000, 'the mismatch logged as an error');
  assert.equal((await health(a)).status, 200, 'member A, whose key is the group\'s, stays healthy');

  // On the broker: a fingerprint, neither member's key.
  const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5 });
  const retained: string[] = [];
  reader.on('message', (_t, payload) => retained.push(payload.toString()));
  await reader.subscribeAsync(`upperstack/cluster/${GROUP}/shared/registry-key/+`, { qos: 1 });
  await eventually(async () => (retained.length ? true : undefined), 30_000, 'the retained fingerprint');
  await reader.endAsync();
  const aKey = readFileSync(join(a.dataDir, 'upperstack-registry.key'), 'utf8').trim();
  assert.match(retained[0], /"fingerprint":"[A-Za-z0-9_-]{22}"/);
  assert.ok(!retained[0].includes(aKey) && !retained[0].includes(bKey.trim()));
});

test('a signing device whose key cannot be opened on this member gets 503 JSON with the reason, not a 500', { timeout: 180_000 }, async () => {
  const aDir = dataDir('a2');
  writeFileSync(join(aDir, 'upperstack-registry.key'), newKey(), { mode: 0o600 });
  // Its own group, so this member's key is the group's at first.
  const a = await member('a', aDir, 'healthy', 'keys2');
  const made = await memberApi(a, 'POST', '/api/v1/devices', { id: 'signer', signing: true });
  assert.equal(made.status, 201, await made.clone().text());
  const { secret, signingKey } = (await made.json()) as { secret: string; signingKey: string };
  const key = Buffer.from(signingKey, 'base64url');
  const signed = (rt: Runtime, n: number) => {
    const ts = String(Date.now());
    const nonce = `n${n}`;
    const body = JSON.stringify({ ts: Date.now() - 60_000 + n, kwh: n });
    const sig = createHmac('sha256', key).update(`${ts}.${nonce}.`).update(body).digest('hex');
    return fetch(`${rt.url}/ingest/signer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'x-upperstack-timestamp': ts, 'x-upperstack-nonce': nonce, 'x-upperstack-signature': sig },
      body,
    });
  };
  assert.equal((await signed(a, 1)).status, 202);

  // The key file replaced (another member's copied over by mistake), the runtime restarted on the same data.
  await a.stop();
  writeFileSync(join(aDir, 'upperstack-registry.key'), newKey(), { mode: 0o600 });
  const again = await member('a', aDir, 'answering', 'keys2');
  const res = await eventually(async () => {
    const r = await signed(again, 2);
    return r.status === 503 ? r : undefined;
  }, 30_000, '503 for the signed device');
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const err = ((await res.json()) as { error: { code: string; message: string } }).error;
  assert.equal(err.code, 'SIGNING_KEY_UNAVAILABLE');
  assert.match(err.message, /device "signer" signs its messages, but this server cannot check them: .*upperstack-registry\.key/);
  await eventually(async () => ((await health(again)).body.problems?.some((p) => p.component === 'cluster:a') ? true : undefined), 60_000, 'the restarted member reporting its key on /health');
});
