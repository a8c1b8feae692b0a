/** What a later start says of the first-start-only variables it does not apply (scripts/start-record.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepStartRecord, notAppliedLines, START_RECORD } from '../../scripts/start-record';
import { verifySecret } from '../../nodes/lib/devices/secret';
import { tempDir } from '../helpers/temp';

test('a cluster broker set, changed or dropped after the first start is said not to be applied, with the password its URL may carry hidden', () => {
  const dir = tempDir('us-start-record-');
  keepStartRecord(dir, { packs: [], store: 'duckdb', cluster: '' });
  assert.deepEqual(notAppliedLines(dir, {}, 'duckdb'), []);
  const [joined] = notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtts://member:s3cret@broker.example:8883' }, 'duckdb');
  assert.match(joined, /^UPPERSTACK_CLUSTER_BROKER=mqtts:\/\/member:\*\*\*@broker\.example:8883 is not applied: this data folder got its flows as no cluster member \(first start\); to change it, start with a new data folder/);
  assert.doesNotMatch(joined, /s3cret/);

  keepStartRecord(dir, { packs: [], store: 'duckdb', cluster: 'mqtt://broker-a:1883' });
  assert.deepEqual(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: ' mqtt://broker-a:1883 ' }, 'duckdb'), []);
  assert.match(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtt://broker-b:1883' }, 'duckdb')[0], /=mqtt:\/\/broker-b:1883 is not applied: this data folder got its flows as a member of the cluster at mqtt:\/\/broker-a:1883/);
  assert.match(notAppliedLines(dir, {}, 'duckdb')[0], /^UPPERSTACK_CLUSTER_BROKER \(unset\) is not applied: this data folder got its flows as a member of the cluster at mqtt:\/\/broker-a:1883/);
});

test('the broker URL\'s password is not written to the record, yet a changed password is still noticed', () => {
  const dir = tempDir('us-start-record-');
  const broker = 'mqtts://member:s3cret@broker.example:8883';
  keepStartRecord(dir, { packs: [], store: 'duckdb', cluster: broker });
  const file = readFileSync(join(dir, START_RECORD), 'utf8');
  assert.doesNotMatch(file, /s3cret/);
  assert.equal(JSON.parse(file).cluster, 'mqtts://member:***@broker.example:8883');
  assert.deepEqual(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: broker }, 'duckdb'), []);
  const [changed] = notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtts://member:other@broker.example:8883' }, 'duckdb');
  assert.match(changed, /^UPPERSTACK_CLUSTER_BROKER=mqtts:\/\/member:\*\*\*@broker\.example:8883 is not applied: this data folder got its flows as a member of the cluster at mqtts:\/\/member:\*\*\*@broker\.example:8883 with another password \(first start\)/);
  // The password the shown URL puts in its place is not the password.
  assert.equal(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtts://member:***@broker.example:8883' }, 'duckdb').length, 1);
  assert.equal(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtts://member@broker.example:8883' }, 'duckdb').length, 1);
  // Salted: the same password kept twice gives two digests.
  const again = tempDir('us-start-record-');
  keepStartRecord(again, { packs: [], store: 'duckdb', cluster: broker });
  assert.notEqual(JSON.parse(readFileSync(join(again, START_RECORD), 'utf8')).clusterPassword, JSON.parse(file).clusterPassword);
});

test('a record from before the password was digested, with the URL as given, still compares and is rewritten without the password', () => {
  const dir = tempDir('us-start-record-');
  const broker = 'mqtt://member:s3cret@broker-a:1883';
  writeFileSync(join(dir, START_RECORD), JSON.stringify({ packs: ['alerts'], store: 'duckdb', cluster: broker }, null, 2) + '\n');
  assert.deepEqual(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: broker }, 'duckdb'), []);
  const file = readFileSync(join(dir, START_RECORD), 'utf8');
  assert.doesNotMatch(file, /s3cret/);
  assert.deepEqual(Object.keys(JSON.parse(file)), ['packs', 'store', 'cluster', 'clusterPassword']);
  assert.equal(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: broker, UPPERSTACK_PACKS: 'alerts' }, 'duckdb').length, 0);
  assert.match(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtt://member:new@broker-a:1883' }, 'duckdb')[0], /as a member of the cluster at mqtt:\/\/member:\*\*\*@broker-a:1883/);
  // One without a password is left as it is.
  const plain = tempDir('us-start-record-');
  const old = JSON.stringify({ packs: [], store: 'duckdb', cluster: 'mqtt://broker-a:1883' });
  writeFileSync(join(plain, START_RECORD), old);
  assert.deepEqual(notAppliedLines(plain, { UPPERSTACK_CLUSTER_BROKER: 'mqtt://broker-a:1883' }, 'duckdb'), []);
  assert.equal(readFileSync(join(plain, START_RECORD), 'utf8'), old);
});

test('the password\'s digest is the secrets\' scrypt hash; a digest kept in the earlier `scrypt:<salt>:<hash>` form still compares', async () => {
  const dir = tempDir('us-start-record-');
  const broker = 'mqtt://member:s3cret@broker-a:1883';
  keepStartRecord(dir, { packs: [], store: 'duckdb', cluster: broker });
  const digest = (JSON.parse(readFileSync(join(dir, START_RECORD), 'utf8')) as { clusterPassword: string }).clusterPassword;
  assert.match(digest, /^scrypt\$14\$8\$1\$/);
  assert.equal(await verifySecret('s3cret', digest), true);

  // As records were written before: Node's scryptSync defaults, 32 bytes, salt and hash in base64url.
  const salt = randomBytes(16);
  const older = `scrypt:${salt.toString('base64url')}:${scryptSync('s3cret', salt, 32).toString('base64url')}`;
  const record = JSON.stringify({ packs: [], store: 'duckdb', cluster: 'mqtt://member:***@broker-a:1883', clusterPassword: older });
  writeFileSync(join(dir, START_RECORD), record);
  assert.deepEqual(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: broker }, 'duckdb'), []);
  assert.match(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtt://member:other@broker-a:1883' }, 'duckdb')[0], /with another password/);
  assert.equal(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtt://member@broker-a:1883' }, 'duckdb').length, 1);
  // Read as it is, not rewritten.
  assert.equal(readFileSync(join(dir, START_RECORD), 'utf8'), record);
  writeFileSync(join(dir, START_RECORD), JSON.stringify({ packs: [], store: 'duckdb', cluster: 'mqtt://member:***@broker-a:1883', clusterPassword: 'scrypt:bad' }));
  assert.equal(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: broker }, 'duckdb').length, 1);
});

test('a record from before the cluster broker was kept: a broker set now may differ', () => {
  const dir = tempDir('us-start-record-');
  keepStartRecord(dir, { packs: [], store: 'duckdb' });
  assert.deepEqual(notAppliedLines(dir, {}, 'duckdb'), []);
  assert.match(notAppliedLines(dir, { UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883' }, 'duckdb')[0], /is not applied: it is used only when the data folder gets its flows \(first start\), and this one's may differ/);
});

test('packs and store left unset at a later start ask for nothing and are not said to be unapplied', () => {
  const dir = tempDir('us-start-record-');
  keepStartRecord(dir, { packs: ['alerts', 'reports-invoices'], store: 'influxdb', cluster: '' });
  // `UPPERSTACK_PACKS=alerts,reports-invoices UPPERSTACK_STORE=influxdb npm start`, then `npm start`.
  assert.deepEqual(notAppliedLines(dir, {}, 'duckdb'), []);
  assert.deepEqual(notAppliedLines(dir, { UPPERSTACK_PACKS: ' ', UPPERSTACK_STORE: '' }, 'duckdb'), []);
  const [packs, store] = notAppliedLines(dir, { UPPERSTACK_PACKS: 'alerts', UPPERSTACK_STORE: 'duckdb' }, 'duckdb');
  assert.match(packs, /^UPPERSTACK_PACKS=alerts is not applied: this data folder got its flows with alerts,reports-invoices beside the default pack/);
  assert.match(store, /^UPPERSTACK_STORE=duckdb is not applied: this data folder got its flows with the store influxdb/);
});
