/** The partition node's config migrations, and checkpoints of per-device state as the broker carries them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { partitionMigrations, type PartitionOptions } from '../../nodes/partition/options';
import { checkpointTopic, decodeCheckpoint, deviceStateRegistry, encodeCheckpoint, type Checkpoint, type DeviceStateHolder } from '../../nodes/lib/cluster/state';

test('partition node v0 → v2: every option present, numbers as numbers', () => {
  const c = migrate<PartitionOptions>({ broker: 'mqtt://b:1883', partitions: '16' }, partitionMigrations);
  assert.deepEqual(
    { ...c },
    { broker: 'mqtt://b:1883', member: '', prefix: 'upperstack/p', group: 'upperstack', partitions: 16, leaseSeconds: 15, checkpointSeconds: 30, connection: '', configVersion: 2 },
  );
});

test('partition node v1 → v2: checkpoint cadence and connection added, the rest kept', () => {
  const v1 = { broker: 'mqtt://b:1883', member: 'm1', prefix: 'x/p', group: 'g', partitions: 8, leaseSeconds: 4, configVersion: 1 };
  const c = migrate<PartitionOptions>(v1, partitionMigrations);
  assert.deepEqual({ ...c }, { ...v1, checkpointSeconds: 30, connection: '', configVersion: 2 });
  assert.equal(migrate<PartitionOptions>({ ...v1, checkpointSeconds: 30, connection: 'c1' }, partitionMigrations).checkpointSeconds, 30);
});

test('a checkpoint survives its trip as an MQTT payload; an empty or foreign payload is no checkpoint', () => {
  const cp: Checkpoint = { version: 1, partition: 3, holder: 'upperstack-alert:a', member: 'm1', at: 1_767_225_600_000, state: { devices: [{ id: 'd1' }] } };
  const payload = encodeCheckpoint(cp);
  assert.deepEqual(decodeCheckpoint(payload), cp);
  assert.equal(decodeCheckpoint(Buffer.alloc(0)), undefined);
  assert.equal(decodeCheckpoint(Buffer.from('{"version":1}')), undefined);
  assert.equal(checkpointTopic('g', 3, 'upperstack-alert:a/b+'), 'upperstack/cluster/g/state/3/upperstack-alert%3Aa%2Fb%2B', 'no level or wildcard from a node id');
});

test('holders register per runtime and unregister only themselves', () => {
  const r = deviceStateRegistry('/tmp/cluster-state-test');
  assert.equal(deviceStateRegistry('/tmp/cluster-state-test'), r);
  assert.notEqual(deviceStateRegistry('/tmp/cluster-state-other'), r);
  const holder = (key: string): DeviceStateHolder => ({ key, exportDevices: async () => ({}), importDevices: async () => undefined, forgetDevices: async () => undefined });
  const first = r.register(holder('k'));
  r.register(holder('k'));
  first();
  assert.equal(r.holders.size, 1, 'a replaced holder’s unregister leaves its successor');
});
