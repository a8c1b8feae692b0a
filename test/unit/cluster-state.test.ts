/** The partition node's config migrations, and checkpoints of per-device state as the broker carries them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { partitionMigrations, type PartitionOptions } from '../../nodes/partition/options';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { encodeCbor } from '../../nodes/lib/codec/cbor';
import { checkpointTopic, decodeCheckpoint, deviceStateRegistry, encodeCheckpoint, encodeCheckpointV1, type Checkpoint, type DeviceStateHolder } from '../../nodes/lib/cluster/state';
import { AnomalyEngine, type EngineState } from '../../nodes/lib/anomaly/engine';
import type { Reading } from '../../nodes/lib/reading';

test('partition node v0 → v2: every option present, numbers as numbers', () => {
  const c = migrate<PartitionOptions>({ broker: 'mqtt://b:1883', partitions: '16' }, partitionMigrations);
  assert.deepEqual(
    { ...c },
    { broker: 'mqtt://b:1883', member: '', prefix: 'upperstack/p', group: 'upperstack', partitions: 16, leaseSeconds: 15, checkpointSeconds: 10, connection: '', configVersion: 2 },
  );
});

test('partition node v1 → v2: checkpoint cadence and connection added, the rest kept', () => {
  const v1 = { broker: 'mqtt://b:1883', member: 'm1', prefix: 'x/p', group: 'g', partitions: 8, leaseSeconds: 4, configVersion: 1 };
  const c = migrate<PartitionOptions>(v1, partitionMigrations);
  assert.deepEqual({ ...c }, { ...v1, checkpointSeconds: 10, connection: '', configVersion: 2 });
  assert.equal(migrate<PartitionOptions>({ ...v1, checkpointSeconds: 30, connection: 'c1' }, partitionMigrations).checkpointSeconds, 30);
});

test('a checkpoint survives its trip as an MQTT payload; an empty or foreign payload is no checkpoint', () => {
  const cp: Checkpoint = { version: 2, partition: 3, holder: 'upperstack-alert:a', member: 'm1', at: 1_767_225_600_000, state: { devices: [{ id: 'd1' }] } };
  const payload = encodeCheckpoint(cp);
  assert.deepEqual(decodeCheckpoint(payload), cp);
  assert.equal(decodeCheckpoint(Buffer.alloc(0)), undefined);
  assert.equal(decodeCheckpoint(Buffer.from('{"version":1}')), undefined);
  assert.equal(decodeCheckpoint(payload.subarray(0, payload.length - 3)), undefined, 'a truncated checkpoint');
  assert.equal(decodeCheckpoint(gzipSync('{"version":1,"holder":"h"')), undefined, 'gzip of broken JSON');
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

/** Two busy devices with two fields each, 2,000 readings at a 10 s cadence; deterministic. */
function busyEngine(): { engine: AnomalyEngine; next: (i: number) => Reading[] } {
  const engine = new AnomalyEngine({ clock: () => 1_767_225_600_000 });
  let seed = 7;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  const t0 = 1_767_225_600_000;
  const next = (i: number): Reading[] =>
    ['d1', 'd2'].map((device, k) => ({
      device,
      ts: t0 + i * 10_000 + k,
      fields: { temperature: Math.round((20 + 3 * Math.sin(i / 40 + k) + rnd()) * 100) / 100, load: rnd() * 4 },
      tags: {},
    }));
  for (let i = 0; i < 2000; i++) engine.process(next(i));
  return { engine, next };
}

// Against gzip'd JSON of the same state. Since windows save regular times as a first time and gaps (anomaly/window.ts),
// that JSON shrank too (76 → 53 kB here) while the binary form stayed at 35 kB: 46% of it before, 65% now.
test('a detector checkpoint is binary: the same state as the JSON one, at most 70% of its gzip size', () => {
  const { engine } = busyEngine();
  const state = engine.exportDevices(() => true);
  const cp: Checkpoint = { version: 2, partition: 5, holder: 'upperstack-anomaly:n1', member: 'm1', at: 1, state };
  const binary = encodeCheckpoint(cp);
  const json = encodeCheckpointV1(cp);
  assert.equal(binary.subarray(0, 5).toString('latin1'), 'USCP\u0002', 'format 2');
  assert.ok(binary.length < 0.7 * json.length, `format 2 ${binary.length} bytes, gzip'd JSON ${json.length}`);
  // The import gets what JSON would have given it, number for number.
  assert.deepEqual(decodeCheckpoint(binary)?.state, JSON.parse(JSON.stringify(state)));
});

test('detectors restored from a binary checkpoint judge the next readings exactly as the originals', () => {
  const { engine, next } = busyEngine();
  const restored = new AnomalyEngine({ clock: () => 1_767_225_600_000 });
  const cp = decodeCheckpoint(encodeCheckpoint({ version: 2, partition: 0, holder: 'h', member: 'm', at: 1, state: engine.exportDevices(() => true) }));
  restored.importDevices(cp!.state as EngineState);
  for (let i = 2000; i < 2300; i++) {
    const rs = next(i);
    if (i === 2200) rs[0].fields.temperature = 60;
    assert.deepEqual(restored.process(rs), engine.process(rs), `reading ${i}`);
  }
});

test('a checkpoint written by a member of the previous version (gzip\'d JSON) is still read', () => {
  const cp: Checkpoint = { version: 1, partition: 2, holder: 'upperstack-alert:a', member: 'old', at: 5, state: { devices: [{ id: 'd1', last: 3 }], records: [] } };
  assert.deepEqual(decodeCheckpoint(encodeCheckpointV1(cp)), cp);
});

test('number arrays of every kind come back as they went: short, integer, far apart, with nulls, nested', () => {
  const big = Array.from({ length: 40 }, (_, i) => (i % 2 ? 2 ** 40 : -(2 ** 40)) + i);
  const state = {
    short: [1, 2, 3],
    ints: Array.from({ length: 20 }, (_, i) => 1_767_225_600_000 + i * 10_000),
    big,
    floats: Array.from({ length: 20 }, (_, i) => i / 3),
    decimals: Array.from({ length: 20 }, (_, i) => Math.round((21.5 - i * 0.37) * 100) / 100),
    almost: [...Array.from({ length: 20 }, (_, i) => i / 10), 0.1 + 0.2, -1e-7, 1e300],
    wide: Array.from({ length: 20 }, (_, i) => (i % 2 ? 1e6 : -1e6) + i / 1000),
    withNull: [...Array.from({ length: 20 }, (_, i) => i), null],
    strings: Array.from({ length: 20 }, (_, i) => `s${i}`),
    nested: [{ a: Array.from({ length: 17 }, (_, i) => -i * 0.1) }, [Array.from({ length: 16 }, () => 0)]],
    empty: [],
    look: { s: 'x', i: 1 },
  };
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint({ version: 2, partition: 1, holder: 'h', member: 'm', at: 1, state }))?.state, state);
});

test('a checkpoint nested deeper than any holder writes is not read (and does not overflow the stack)', () => {
  let deep: Record<string, unknown> = { v: 1 };
  for (let i = 0; i < 100; i++) deep = { d: deep };
  // Written without the encoder's own walk, as a foreign member might.
  const body = encodeCbor({ version: 2, partition: 1, holder: 'h', member: 'm', at: 1, state: deep });
  assert.equal(decodeCheckpoint(Buffer.concat([Buffer.from('USCP\u0002', 'latin1'), deflateRawSync(body)])), undefined);
});
