/**
 * A cluster member on a broker that demands a login, over TLS: Debian's
 * mosquitto with a password file, anonymous clients refused, and a TLS
 * listener with the self-signed pair of test/fixtures/tls. The member gets
 * the broker's URL, user, password and CA file from the environment
 * (UPPERSTACK_CLUSTER_BROKER, _USERNAME, _PASSWORD, _CA): its telemetry
 * subscription and its partition node both log in over TLS (readings stored in
 * influxd, partitions claimed and read), and the password is in neither
 * flows.json nor, readable, in flows_cred.json.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import { eventually, freePort, startRuntime, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');
const PASSWORD = 'cluster-s3cret-Pw';
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;

let mosq: Mosquitto;
let influx: TsdbServer;
let rt: Runtime;
let tlsPort = 0;
let ca = '';

before(async () => {
  tlsPort = await freePort();
  mosq = await startMosquitto({
    users: { member: PASSWORD, sensor: 'sensor-pw' },
    files: { 'cert.pem': readFileSync(join(FIXTURES, 'selfsigned-cert.pem')), 'key.pem': readFileSync(join(FIXTURES, 'selfsigned-key.pem')) },
    conf: (file) => [`listener ${tlsPort} 127.0.0.1`, `certfile ${file('cert.pem')}`, `keyfile ${file('key.pem')}`],
  });
  ca = mosq.file('cert.pem');
  influx = await startInfluxd();
  rt = await startRuntime({
    env: {
      UPPERSTACK_CLUSTER_BROKER: `mqtts://localhost:${tlsPort}`,
      UPPERSTACK_CLUSTER_BROKER_USERNAME: 'member',
      UPPERSTACK_CLUSTER_BROKER_PASSWORD: PASSWORD,
      UPPERSTACK_CLUSTER_BROKER_CA: ca,
      UPPERSTACK_CLUSTER_GROUP: 'auth',
      UPPERSTACK_CLUSTER_MEMBER: 'm1',
      UPPERSTACK_CLUSTER_PARTITIONS: '8',
      UPPERSTACK_CLUSTER_SINK: influx.url,
      UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb',
    },
  });
});

after(async () => {
  await rt?.stop();
  await influx?.destroy();
  await mosq?.stop();
});

test('the broker refuses clients without a login, and TLS clients that do not trust its certificate', async () => {
  await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5, reconnectPeriod: 0 }), /Not authorized|Bad User Name or Password|refused/i);
  await assert.rejects(mqtt.connectAsync(`mqtts://localhost:${tlsPort}`, { protocolVersion: 5, reconnectPeriod: 0, username: 'member', password: PASSWORD }), /self.signed|certificate/i);
});

test('the member logs in over TLS with the login from the environment: telemetry stored, partitions claimed and read', async () => {
  const opts = { protocolVersion: 5 as const, ca: readFileSync(ca), reconnectPeriod: 0 };
  const sensor = await mqtt.connectAsync(`mqtts://localhost:${tlsPort}`, { ...opts, username: 'sensor', password: 'sensor-pw' });
  const watcher = await mqtt.connectAsync(`mqtts://localhost:${tlsPort}`, { ...opts, username: 'member', password: PASSWORD });
  const claims = new Map<number, string>();
  let read = 0;
  watcher.on('message', (topic, payload) => {
    if (topic.includes('/claims/') && payload.length) claims.set(Number(topic.split('/').pop()), (JSON.parse(payload.toString()) as { member: string }).member);
    if (topic.startsWith('upperstack/p/')) read++;
  });
  try {
    await watcher.subscribeAsync(['upperstack/cluster/auth/claims/+', 'upperstack/p/+/readings'], { qos: 1 });
    await eventually(async () => (claims.size === 8 && [...claims.values()].every((m) => m === 'm1') ? true : undefined), 60_000, 'the 8 partitions claimed by the member');
    // Each device's readings, ingested through the shared subscription, stored, then republished for its partition.
    const devices = ['a1', 'b2', 'c3', 'd4', 'e5'];
    for (let k = 0; k < 4; k++) for (const d of devices) await sensor.publishAsync(`devices/${d}/telemetry`, JSON.stringify({ ts: T0 + k * 1000, v: k }), { qos: 1 });
    await eventually(async () => {
      const [r] = await influxQuery(influx, 'SELECT count(v) FROM telemetry', 'upperstack');
      return Number(r.series?.[0]?.values[0][1] ?? 0) === 20 ? true : undefined;
    }, 60_000, 'the 20 readings in InfluxDB');
    await eventually(async () => (read > 0 ? true : undefined), 30_000, 'readings republished for their partitions');
    // The partition's own session logs in too: a reading reaches the member's alert rules.
    const rule = { id: 'seen', name: 'Seen', devices: { all: true }, when: { field: 'v', op: 'above', value: -1 }, severity: 'info' };
    const created = await fetch(`${rt.url}/api/v1/rules`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(rule) });
    assert.equal(created.status, 201);
    let k = 10;
    await eventually(async () => {
      await sensor.publishAsync('devices/a1/telemetry', JSON.stringify({ ts: T0 + k++ * 1000, v: 1 }), { qos: 1 });
      return (await rt.get('/api/v1/alerts/seen%3Aa1')).status === 200 ? true : undefined;
    }, 30_000, 'a reading judged by the partition owner’s alert rules');
    assert.ok(new Set(devices.map((d) => partitionOf(d, 8))).size > 1);
  } finally {
    await sensor.endAsync();
    await watcher.endAsync();
  }
});

test('the password is in neither the flows nor, readable, the credentials file', () => {
  const flows = readFileSync(join(rt.dataDir, 'flows.json'), 'utf8');
  assert.ok(!flows.includes(PASSWORD));
  assert.match(flows, /"ca": ".*cert\.pem"/, 'the CA file is named in the connection node');
  assert.ok(!readFileSync(join(rt.dataDir, 'flows_cred.json'), 'utf8').includes(PASSWORD));
});
