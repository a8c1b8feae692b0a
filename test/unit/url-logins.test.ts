/**
 * moveUrlLogins (nodes/lib/flows/url-logins.ts) and the credentials file it writes to
 * (nodes/lib/flows/credentials-file.ts): a broker login an older cluster member's first start left in clear in
 * the flows moves into the connection's credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { moveUrlLogins } from '../../nodes/lib/flows/url-logins';
import { openCredentials, sealCredentials } from '../../nodes/lib/flows/credentials-file';
import { moveFlowsUrlLogins } from '../../scripts/url-login-migration';
import { tempDir } from '../helpers/temp';

const URL = 'mqtt://member:s3cret@broker:1883';
const tab = { id: 't1', type: 'tab', label: 'Upperstack' };
const conn = { id: 'us_cluster_broker', type: 'upperstack-mqtt-connection', name: 'cluster broker (upperstack)', url: URL, clientId: 'upperstack-upperstack-m1', configVersion: 1 };
const partition = { id: 'us_cluster_partition', type: 'upperstack-partition', z: 't1', name: 'partition by device', broker: URL, connection: 'us_cluster_broker', configVersion: 2, wires: [['a']] };
const store = { id: 'us_store_cfg', type: 'upperstack-store-config', sinks: [{ id: 'shared', url: 'http://vm:8428' }] };
const older = [tab, store, partition, conn];
const secret = 'data-folder-credential-secret';

test('a cluster member\'s URL login goes to its connection\'s credentials; both URLs lose it; nothing else changes', () => {
  const storeCreds = { user1: '${UPPERSTACK_INFLUX_USER}' };
  const m = moveUrlLogins(older, { us_store_cfg: storeCreds }, {});
  assert.deepEqual(m.flows, [tab, store, { ...partition, broker: 'mqtt://broker:1883' }, { ...conn, url: 'mqtt://broker:1883' }]);
  assert.deepEqual(m.credentials, { us_store_cfg: storeCreds, us_cluster_broker: { username: 'member', password: 's3cret' } });
  assert.ok(!JSON.stringify(m.flows).includes('s3cret'));
  assert.equal(m.moved.length, 1);
  assert.match(m.moved[0], /^moved the login \(user "member"\) in the URL of the MQTT connection node "cluster broker \(upperstack\)" \(us_cluster_broker\) and of the partition node "partition by device" \(us_cluster_partition\) into the connection's credentials; its URL is now mqtt:\/\/broker:1883$/);
  assert.ok(!m.moved[0].includes('s3cret'));
  assert.deepEqual(m.left, []);
  // The input is not changed.
  assert.equal(conn.url, URL);
});

test('moving again changes nothing', () => {
  const once = moveUrlLogins(older, {}, {});
  const twice = moveUrlLogins(once.flows, once.credentials, {});
  assert.deepEqual([twice.flows, twice.credentials, twice.moved, twice.left], [once.flows, once.credentials, [], []]);
});

test('the URL login replaces the connection\'s credentials (MQTT.js let it win), split as MQTT.js splits it; a URL with a user name only is left', () => {
  const vars = { username: '${UPPERSTACK_CLUSTER_BROKER_USERNAME}', password: '${UPPERSTACK_CLUSTER_BROKER_PASSWORD}', other: 'kept' };
  const m = moveUrlLogins([{ ...conn, url: 'mqtts://member:p%40ss:w0rd@b:8883/x' }], { us_cluster_broker: vars }, {});
  assert.deepEqual(m.credentials.us_cluster_broker, { username: 'member:p@ss', password: 'w0rd', other: 'kept' });
  assert.equal((m.flows[0] as { url: string }).url, 'mqtts://b:8883/x');
  const userOnly = moveUrlLogins([{ ...conn, url: 'mqtt://member@b:1883' }], {}, {});
  assert.deepEqual([userOnly.flows, userOnly.credentials, userOnly.moved], [[{ ...conn, url: 'mqtt://member@b:1883' }], {}, []]);
});

test('a partition\'s login that is its connection\'s (as the variables give it) is taken out; another one stays, and is said', () => {
  const bare = { ...conn, url: 'mqtt://broker:1883' };
  const vars = { username: '${U}', password: '${P}' };
  const same = moveUrlLogins([bare, partition], { us_cluster_broker: vars }, { U: 'member', P: 's3cret' });
  assert.equal((same.flows[1] as { broker: string }).broker, 'mqtt://broker:1883');
  assert.deepEqual(same.credentials.us_cluster_broker, vars);
  assert.match(same.moved[0], /^took the login \(user "member"\) out of the broker URL of the partition node "partition by device" \(us_cluster_partition\): it is the login of the MQTT connection node .*, which has it in its credentials$/);

  const other = moveUrlLogins([bare, partition], { us_cluster_broker: vars }, { U: 'member', P: 'another' });
  assert.deepEqual([other.flows, other.moved], [[bare, partition], []]);
  assert.equal(other.left.length, 1);
  assert.match(other.left[0], /^the partition node "partition by device" \(us_cluster_partition\) has a login in its broker URL \(mqtt:\/\/member:\*\*\*@broker:1883\), not the login of its connection, .*: it stays there in clear; to move it, give the connection node that login in the editor/);
  const alone = moveUrlLogins([{ ...partition, connection: '' }], {}, {});
  assert.match(alone.left[0], /and it has no connection node to hold a login/);
  assert.ok(!JSON.stringify([other.left, alone.left]).includes('s3cret'));
});

test('the credentials file: sealed as Node-RED seals it, opened again; a wrong secret is said, not read as nothing', () => {
  const creds = { us_cluster_broker: { username: 'member', password: 's3cret' } };
  const text = sealCredentials(creds, secret);
  assert.ok(!text.includes('s3cret'));
  assert.deepEqual(openCredentials(text, secret), creds);
  assert.deepEqual(openCredentials('', secret), {});
  assert.deepEqual(openCredentials('{}\n', secret), {});
  assert.throws(() => openCredentials(text, 'another secret'), /cannot be opened with the data folder's credential secret/);
});

test('the data folder: flows and credentials rewritten (the backups too), the flows as indented as they were; a second start writes nothing', () => {
  const dir = tempDir('us-url-logins-');
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(older, null, 4));
  writeFileSync(join(dir, 'flows_cred.json'), sealCredentials({ us_store_cfg: { user1: 'x' } }, secret));
  writeFileSync(join(dir, '.flows.json.backup'), JSON.stringify(older));
  const first = moveFlowsUrlLogins(dir, secret, {});
  assert.equal(first.moved.length, 2);
  assert.match(first.moved[0], /^flows\.json held a password in clear \(in a URL, left by a start from before logins went to the credentials file or by an imported flow\): moved the login/);
  assert.match(first.moved[1], /^Node-RED's backup of the flows \(\.flows\.json\.backup\)/);
  const flows = readFileSync(join(dir, 'flows.json'), 'utf8');
  assert.equal(flows, JSON.stringify([tab, store, { ...partition, broker: 'mqtt://broker:1883' }, { ...conn, url: 'mqtt://broker:1883' }], null, 4));
  assert.deepEqual(openCredentials(readFileSync(join(dir, 'flows_cred.json'), 'utf8'), secret), { us_store_cfg: { user1: 'x' }, us_cluster_broker: { username: 'member', password: 's3cret' } });
  assert.deepEqual(openCredentials(readFileSync(join(dir, '.flows_cred.json.backup'), 'utf8'), secret), { us_cluster_broker: { username: 'member', password: 's3cret' } });
  assert.ok(!readFileSync(join(dir, '.flows.json.backup'), 'utf8').includes('s3cret'));
  const sealed = readFileSync(join(dir, 'flows_cred.json'), 'utf8');
  assert.deepEqual(moveFlowsUrlLogins(dir, secret, {}), { moved: [], warnings: [] });
  assert.equal(readFileSync(join(dir, 'flows_cred.json'), 'utf8'), sealed);
});

test('a login in the URL of an MQTT connection an imported flow brought is moved alike, and the line does not say a start wrote it', () => {
  const dir = tempDir('us-url-logins-');
  const imported = [
    { id: 'f1', type: 'tab', label: 'plant' },
    { id: 'plant_conn', type: 'upperstack-mqtt-connection', name: 'plant broker', url: 'mqtt://plant:pl4nt@plant.example:1883', configVersion: 1 },
  ];
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(imported));
  const r = moveFlowsUrlLogins(dir, secret, {});
  assert.equal(r.moved.length, 1);
  assert.match(r.moved[0], /^flows\.json held a password in clear \(in a URL, left by a start from before logins went to the credentials file or by an imported flow\): moved the login \(user "plant"\) in the URL of the MQTT connection node "plant broker" \(plant_conn\)/);
  assert.doesNotMatch(r.moved[0], /written by a start/);
  assert.ok(!readFileSync(join(dir, 'flows.json'), 'utf8').includes('pl4nt'));
  assert.deepEqual(openCredentials(readFileSync(join(dir, 'flows_cred.json'), 'utf8'), secret), { plant_conn: { username: 'plant', password: 'pl4nt' } });
});

test('credentials that cannot be opened: the login stays where it is, and the start says why', () => {
  const dir = tempDir('us-url-logins-');
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(older, null, 4));
  writeFileSync(join(dir, 'flows_cred.json'), sealCredentials({}, 'another secret'));
  const r = moveFlowsUrlLogins(dir, secret, {});
  assert.deepEqual(r.moved, []);
  assert.match(r.warnings[0], /^flows\.json has a login in clear in a URL, left there: the credentials file cannot be opened/);
  assert.equal(readFileSync(join(dir, 'flows.json'), 'utf8'), JSON.stringify(older, null, 4));
});

test('a store config\'s server sink: its URL login goes to a credential slot of its own, the others\' untouched', () => {
  const cfg = {
    id: 'us_store_cfg',
    type: 'upperstack-store-config',
    sinks: [
      { id: 'main', kind: 'duckdb' },
      { id: 'influx', kind: 'influxdb', url: '${UPPERSTACK_INFLUX_URL}', slot: 1 },
      { id: 'shared', kind: 'victoriametrics', url: 'http://vm-user:s3cret@vm:8428' },
      { id: 'own', kind: 'influxdb', url: 'https://reader:pw@influx:8086', slot: 3 },
    ],
  };
  const influxCreds = { user1: '${UPPERSTACK_INFLUX_USER}', password1: '${UPPERSTACK_INFLUX_PASSWORD}', token1: '${UPPERSTACK_INFLUX_TOKEN}', user3: 'old', token3: 'old-token' };
  const m = moveUrlLogins([cfg], { us_store_cfg: influxCreds }, {});
  assert.deepEqual((m.flows[0] as typeof cfg).sinks, [
    cfg.sinks[0],
    cfg.sinks[1],
    { id: 'shared', kind: 'victoriametrics', url: 'http://vm:8428', slot: 2 },
    { id: 'own', kind: 'influxdb', url: 'https://influx:8086', slot: 3 },
  ]);
  // The shared sink read slot 1 with the InfluxDB sink: it gets slot 2; "own" keeps its slot, the URL's login replacing what was there.
  assert.deepEqual(m.credentials.us_store_cfg, { ...influxCreds, user2: 'vm-user', password2: 's3cret', token2: '', user3: 'reader', password3: 'pw', token3: '' });
  assert.equal(m.moved.length, 2);
  assert.match(m.moved[0], /^moved the login \(user "vm-user"\) in the URL of the sink "shared" of the store config node us_store_cfg into its credentials \(slot 2\); its URL is now http:\/\/vm:8428$/);
  assert.ok(!JSON.stringify([m.flows, m.moved]).includes('s3cret'));
  const again = moveUrlLogins(m.flows, m.credentials, {});
  assert.deepEqual([again.flows, again.credentials, again.moved], [m.flows, m.credentials, []]);
});
