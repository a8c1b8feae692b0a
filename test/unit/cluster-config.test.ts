/** Cluster member mode: the settings from the environment and the pack a member starts with. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterOptionsFromEnv } from '../../nodes/lib/cluster/config';
import { clusterPack, CLUSTER_CONNECTION_ID, type FlowNode } from '../../nodes/lib/cluster/pack';
import { normalizeSinks } from '../../nodes/lib/store/sinks';
import { CREDENTIAL_SLOTS } from '../../nodes/lib/store/sinks-influx';

const pack = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as FlowNode[];

test('without UPPERSTACK_CLUSTER_BROKER an instance runs on its own', () => {
  assert.equal(clusterOptionsFromEnv({}), undefined);
  assert.equal(clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: ' ' }), undefined);
});

test('a member needs a shared sink and names that fit topics; errors name the variable', () => {
  assert.throws(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883' }), /UPPERSTACK_CLUSTER_SINK/);
  assert.throws(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'b:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428' }), /UPPERSTACK_CLUSTER_BROKER must be a broker URL/);
  assert.throws(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_GROUP: 'a/b' }), /UPPERSTACK_CLUSTER_GROUP/);
  assert.throws(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_SINK_KIND: 'mysql' }), /UPPERSTACK_CLUSTER_SINK_KIND/);
  assert.throws(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_PARTITIONS: '0' }), /UPPERSTACK_CLUSTER_PARTITIONS/);
  assert.throws(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_CHECKPOINT_SECONDS: '0.5' }), /UPPERSTACK_CLUSTER_CHECKPOINT_SECONDS/);
  const o = clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883', UPPERSTACK_CLUSTER_SINK: 'http://influx:8086', UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb', UPPERSTACK_CLUSTER_MEMBER: 'm1' })!;
  assert.deepEqual({ ...o }, { broker: 'mqtt://b:1883', group: 'upperstack', member: 'm1', sink: { kind: 'influxdb', url: 'http://influx:8086', database: 'upperstack' }, partitions: 64, leaseMs: 15_000, checkpointMs: 10_000, login: false, tls: { ca: '', cert: '', key: '' } });
});

test('the member pack: shared subscription on the external broker, persistent MQTT 5 session, shared sink answering queries', () => {
  const o = clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_GROUP: 'g1', UPPERSTACK_CLUSTER_MEMBER: 'node-a' })!;
  const out = clusterPack(pack, o);
  const ins = out.filter((n) => n.type === 'upperstack-mqtt-in');
  assert.ok(ins.length >= 1);
  for (const n of ins) assert.deepEqual([n.source, n.connection, n.group, n.qos], ['external', CLUSTER_CONNECTION_ID, 'g1', 1]);
  const conn = out.find((n) => n.id === CLUSTER_CONNECTION_ID)!;
  assert.deepEqual([conn.type, conn.url, conn.clientId, conn.protocolVersion, conn.persistent], ['upperstack-mqtt-connection', 'mqtt://b:1883', 'upperstack-g1-node-a', 5, true]);
  const cfg = out.find((n) => n.type === 'upperstack-store-config')!;
  assert.equal(cfg.querySink, 'shared');
  const sinks = normalizeSinks(cfg.sinks, '/tmp');
  assert.deepEqual(sinks.map((s) => [s.id, s.kind]), [['main', 'duckdb'], ['shared', 'victoriametrics']]);
  // The pack it came from is untouched, and everything else is still there.
  assert.equal(pack.find((n) => n.type === 'upperstack-mqtt-in')!.source, 'embedded');
  // Store → partition → anomaly and alerts.
  const store = out.find((n) => n.type === 'upperstack-store')!;
  const part = out.find((n) => n.type === 'upperstack-partition')!;
  const storeOut = (store.wires as string[][])[0];
  assert.ok(storeOut.includes(part.id));
  assert.ok(!storeOut.includes('us_anomaly') && !storeOut.includes('us_alert'));
  // Whatever else the store fed (a dashboard link) it still feeds.
  const before = (pack.find((n) => n.type === 'upperstack-store')!.wires as string[][])[0];
  assert.deepEqual(storeOut.filter((id) => id !== part.id), before.filter((id) => id !== 'us_anomaly' && id !== 'us_alert'));
  assert.deepEqual([...(part.wires as string[][])[0]].sort(), ['us_alert', 'us_anomaly']);
  assert.deepEqual([part.broker, part.group, part.member, part.partitions, part.leaseSeconds, part.checkpointSeconds, part.connection], ['mqtt://b:1883', 'g1', 'node-a', 64, 15, 10, CLUSTER_CONNECTION_ID]);
  assert.equal(out.length, pack.length + 2);
  // The dashboard's live node cannot start from the shared server: it starts from none instead of warning at each start.
  assert.equal(pack.find((n) => n.type === 'upperstack-live')!.store, 'us_store_cfg');
  assert.equal(out.find((n) => n.type === 'upperstack-live')!.store, '');
});

test('a login in the broker URL goes to the connection\'s credentials, not into the flows; the nodes get the URL without it', () => {
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtts://member:p%40ss:w0rd@b:8883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const out = clusterPack(pack, clusterOptionsFromEnv(env)!);
  const conn = out.find((n) => n.id === CLUSTER_CONNECTION_ID)!;
  assert.equal(conn.url, 'mqtts://b:8883');
  assert.equal(out.find((n) => n.type === 'upperstack-partition')!.broker, 'mqtts://b:8883');
  // Split as MQTT.js splits a URL's login: percent-decoded, at the last colon.
  assert.deepEqual(conn.credentials, { username: 'member:p@ss', password: 'w0rd' });
  const { credentials: _sealed, ...inFlows } = conn;
  assert.ok(!JSON.stringify(out.filter((n) => n !== conn)).includes('w0rd') && !JSON.stringify(inFlows).includes('w0rd'));
  // The URL's login wins over the variables' (as MQTT.js has it); a URL with a user name only is left as it is.
  const both = clusterPack(pack, clusterOptionsFromEnv({ ...env, UPPERSTACK_CLUSTER_BROKER: 'mqtt://u:pw@b:1883', UPPERSTACK_CLUSTER_BROKER_USERNAME: 'x', UPPERSTACK_CLUSTER_BROKER_PASSWORD: 'y' })!);
  assert.deepEqual(both.find((n) => n.id === CLUSTER_CONNECTION_ID)!.credentials, { username: 'u', password: 'pw' });
  const userOnly = clusterPack(pack, clusterOptionsFromEnv({ ...env, UPPERSTACK_CLUSTER_BROKER: 'mqtt://u@b:1883' })!).find((n) => n.id === CLUSTER_CONNECTION_ID)!;
  assert.deepEqual([userOnly.url, userOnly.credentials], ['mqtt://u@b:1883', undefined]);
});

test('a login in the shared server\'s URL goes to the store config\'s credentials, in a slot of the shared sink\'s own; the sink gets the URL without it', () => {
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm%40user:s3cret@vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const out = clusterPack(pack, clusterOptionsFromEnv(env)!);
  const cfg = out.find((n) => n.type === 'upperstack-store-config')!;
  const sinks = cfg.sinks as Array<Record<string, unknown>>;
  const shared = sinks.find((s) => s.id === 'shared')!;
  // The default pack's InfluxDB sink has slot 1 (UPPERSTACK_INFLUX_USER/_PASSWORD/_TOKEN).
  assert.deepEqual([shared.url, shared.slot, sinks.find((s) => s.id === 'influx')!.slot], ['http://vm:8428', 2, 1]);
  assert.deepEqual(cfg.credentials, { user2: 'vm@user', password2: 's3cret' });
  const { credentials: _sealed, ...inFlows } = cfg;
  assert.ok(!JSON.stringify(inFlows).includes('s3cret'));
  // Without a login, the shared sink is as before.
  const plain = clusterPack(pack, clusterOptionsFromEnv({ ...env, UPPERSTACK_CLUSTER_SINK: 'http://vm:8428' })!).find((n) => n.type === 'upperstack-store-config')!;
  assert.deepEqual([(plain.sinks as Array<Record<string, unknown>>).find((s) => s.id === 'shared')!.slot, plain.credentials], [undefined, {}]);
  // Every slot taken: the URL is left as given rather than sharing another sink's login.
  const full = pack.map((n) => (n.type === 'upperstack-store-config' ? { ...n, sinks: Array.from({ length: CREDENTIAL_SLOTS }, (_, i) => ({ id: `s${i}`, kind: 'influxdb', url: 'http://x', slot: i + 1 })) } : n));
  const left = clusterPack(full, clusterOptionsFromEnv(env)!).find((n) => n.type === 'upperstack-store-config')!;
  assert.equal((left.sinks as Array<Record<string, unknown>>).find((s) => s.id === 'shared')!.url, env.UPPERSTACK_CLUSTER_SINK);
});

test('broker login and TLS from the environment: the password stays a reference to its variable, files are checked at start', () => {
  const base = { UPPERSTACK_CLUSTER_BROKER: 'mqtts://b:8883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const ca = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls', 'selfsigned-cert.pem');
  const o = clusterOptionsFromEnv({ ...base, UPPERSTACK_CLUSTER_BROKER_USERNAME: 'member', UPPERSTACK_CLUSTER_BROKER_PASSWORD: 'pw-123', UPPERSTACK_CLUSTER_BROKER_CA: ca })!;
  assert.deepEqual([o.login, o.tls], [true, { ca, cert: '', key: '' }]);
  const conn = clusterPack(pack, o).find((n) => n.id === CLUSTER_CONNECTION_ID)!;
  assert.equal(conn.ca, ca);
  assert.deepEqual(conn.credentials, { username: '${UPPERSTACK_CLUSTER_BROKER_USERNAME}', password: '${UPPERSTACK_CLUSTER_BROKER_PASSWORD}' });
  assert.ok(!JSON.stringify(clusterPack(pack, o)).includes('pw-123'));
  assert.equal(clusterPack(pack, clusterOptionsFromEnv(base)!).find((n) => n.id === CLUSTER_CONNECTION_ID)!.credentials, undefined, 'no login: no credentials');
  assert.throws(() => clusterOptionsFromEnv({ ...base, UPPERSTACK_CLUSTER_BROKER_CA: '/nonexistent/ca.pem' }), /UPPERSTACK_CLUSTER_BROKER_CA names a file that cannot be read/);
  assert.throws(() => clusterOptionsFromEnv({ ...base, UPPERSTACK_CLUSTER_BROKER_PASSWORD: 'pw' }), /without UPPERSTACK_CLUSTER_BROKER_USERNAME/);
});
