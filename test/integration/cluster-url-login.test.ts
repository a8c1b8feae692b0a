/**
 * A cluster member's data folder from before a login in UPPERSTACK_CLUSTER_BROKER's URL went to the credentials:
 * its flows hold the URL as given, password included, in the MQTT connection node's url and the partition node's
 * broker (and in Node-RED's backup of the flows, made at a deploy), its start record the URL as given. The next
 * start, against mosquitto with a password file, moves the login into the sealed credentials file and says so
 * once: the password is nowhere in the data folder afterwards, the member still logs in, and a reading published
 * is stored and answered by the query API. A start after that changes nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { CLUSTER_CONNECTION_ID, PARTITION_NODE_ID } from '../../nodes/lib/cluster/pack';
import { eventually, startRuntime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';
import { filesHolding } from '../helpers/files-holding';

const PASSWORD = 'member-s3cret-Pw';
const SINK_PASSWORD = 'sink-s3cret-Pw';
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;

let mosq: Mosquitto;
let influx: TsdbServer;

before(async () => {
  mosq = await startMosquitto({ users: { member: PASSWORD, sensor: 'sensor-pw' } });
  influx = await startInfluxd();
});

after(async () => {
  await influx?.destroy();
  await mosq?.stop();
});

test('an older member\'s data folder: the URL login moves to the sealed credentials, once; the member still logs in and stores readings', { timeout: 240_000 }, async () => {
  const dataDir = tempDir('us-url-login-data-');
  const bare = `mqtt://127.0.0.1:${mosq.port}`;
  const withLogin = `mqtt://member:${PASSWORD}@127.0.0.1:${mosq.port}`;
  const cluster = { UPPERSTACK_CLUSTER_GROUP: 'old', UPPERSTACK_CLUSTER_MEMBER: 'm1', UPPERSTACK_CLUSTER_PARTITIONS: '4', UPPERSTACK_CLUSTER_SINK: influx.url, UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb' };
  // The data folder as an older first start left it: made without a login (the broker refuses the member), then
  // given the URL as that start wrote it.
  const first = await startRuntime({ dataDir, env: { ...cluster, UPPERSTACK_CLUSTER_BROKER: bare }, ready: 'answering' });
  await first.stop();
  const flowFile = join(dataDir, 'flows.json');
  const flows = JSON.parse(readFileSync(flowFile, 'utf8')) as Array<Record<string, unknown>>;
  flows.find((n) => n.id === CLUSTER_CONNECTION_ID)!.url = withLogin;
  flows.find((n) => n.id === PARTITION_NODE_ID)!.broker = withLogin;
  // And the shared server's URL as given (influxd here does not ask for a login, and takes one).
  const sinks = flows.find((n) => n.type === 'upperstack-store-config')!.sinks as Array<Record<string, unknown>>;
  const shared = sinks.find((s) => s.id === 'shared')!;
  shared.url = influx.url.replace('://', `://reader:${SINK_PASSWORD}@`);
  writeFileSync(flowFile, JSON.stringify(flows, null, 4));
  copyFileSync(flowFile, join(dataDir, '.flows.json.backup'));
  copyFileSync(join(dataDir, 'flows_cred.json'), join(dataDir, '.flows_cred.json.backup'));
  writeFileSync(join(dataDir, 'upperstack-first-start.json'), JSON.stringify({ packs: [], store: 'duckdb', cluster: withLogin }));
  assert.ok(filesHolding(dataDir, PASSWORD).length >= 3);

  const env = { ...cluster, UPPERSTACK_CLUSTER_BROKER: withLogin };
  const rt = await startRuntime({ dataDir, env });
  let sensor: mqtt.MqttClient | undefined;
  try {
    const said = rt.output().split('\n').filter((l) => l.includes('held a password in clear'));
    assert.equal(said.length, 2, rt.output());
    assert.match(said[0], /^upperstack: flows\.json held a password in clear .*: moved the login \(user "member"\) in the URL of the MQTT connection node "cluster broker \(old\)" \(us_cluster_broker\) and of the partition node "partition by device" \(us_cluster_partition\) into the connection's credentials; its URL is now mqtt:\/\/127\.0\.0\.1:\d+; .*\. It is now only in flows_cred\.json, sealed/);
    assert.ok(!rt.output().includes(PASSWORD) && !rt.output().includes(SINK_PASSWORD));
    assert.deepEqual(filesHolding(dataDir, PASSWORD), []);
    assert.deepEqual(filesHolding(dataDir, SINK_PASSWORD), []);
    assert.match(said[0], /; moved the login \(user "reader"\) in the URL of the sink "shared" of the store config node .* into its credentials \(slot 2\)/);
    const now = JSON.parse(readFileSync(flowFile, 'utf8')) as Array<Record<string, unknown>>;
    assert.equal(now.find((n) => n.id === CLUSTER_CONNECTION_ID)!.url, bare);
    assert.equal(now.find((n) => n.id === PARTITION_NODE_ID)!.broker, bare);
    // The member logs in with the login it was given: a reading published is stored and answered.
    sensor = await mqtt.connectAsync(bare, { protocolVersion: 5, reconnectPeriod: 0, username: 'sensor', password: 'sensor-pw' });
    await sensor.publishAsync('devices/old1/telemetry', JSON.stringify({ ts: T0, v: 42 }), { qos: 1 });
    await eventually(async () => {
      const res = await rt.get('/api/v1/readings?device=old1');
      const body = (await res.json()) as { readings?: Array<{ fields: { v: number } }> };
      return body.readings?.[0]?.fields.v === 42 ? true : undefined;
    }, 60_000, 'the reading answered by the query API');
  } finally {
    await sensor?.endAsync();
    await rt.stop();
  }

  const files = ['flows.json', 'flows_cred.json'].map((f) => readFileSync(join(dataDir, f), 'utf8'));
  const next = await startRuntime({ dataDir, env });
  try {
    assert.doesNotMatch(next.output(), /held a password in clear|is not applied/);
    assert.deepEqual(['flows.json', 'flows_cred.json'].map((f) => readFileSync(join(dataDir, f), 'utf8')), files);
  } finally {
    await next.stop();
  }
});
