/**
 * upperstack-partition on two members (two nodes in one runtime, each its own
 * member) against Debian's mosquitto: readings put into one member come out
 * once, at the member that owns the device's partition; when a member goes,
 * the other takes its partitions and every device's readings come out there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import type { Node } from 'node-red';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import type { Reading } from '../../nodes/lib/reading';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { eventually } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const partitionNode = require('../../nodes/partition/partition');
helper.init(require.resolve('node-red'));

let mosq: Mosquitto;
let watcher: mqtt.MqttClient | undefined;
before(async () => {
  mosq = await startMosquitto();
  // A data folder of its own: without one the nodes would keep their files in <os temp>/upperstack.
  helper.settings({ upperstack: { dataDir: tempDir('us-partition-node-') } });
});
after(async () => {
  // Also when an assertion failed half-way: an open client would keep the file running until its timeout.
  await watcher?.endAsync(true);
  await helper.unload();
  await mosq?.stop();
});

interface Out {
  payload: Reading[];
  partition: number;
}

test('each reading comes out once, at its partition’s owner; a member leaving hands its partitions over', async () => {
  const broker = `mqtt://127.0.0.1:${mosq.port}`;
  const common = { type: 'upperstack-partition', broker, group: 'pn', partitions: 16, leaseSeconds: 6, prefix: 'upperstack/p', checkpointSeconds: 5, connection: '', configVersion: 2 };
  await helper.load(partitionNode, [
    { id: 'p1', ...common, member: 'm1', wires: [['h1']] },
    { id: 'p2', ...common, member: 'm2', wires: [['h2']] },
    { id: 'h1', type: 'helper' },
    { id: 'h2', type: 'helper' },
  ]);
  const got: Record<'h1' | 'h2', Out[]> = { h1: [], h2: [] };
  for (const h of ['h1', 'h2'] as const) (helper.getNode(h) as Node).on('input', (msg: object) => got[h].push(msg as Out));
  const p1 = helper.getNode('p1') as Node & { receive(msg: object): void };
  // Who owns what, as the broker holds it: the retained claims.
  watcher = await mqtt.connectAsync(broker, { protocolVersion: 5 });
  const claims = new Map<number, string>();
  watcher.on('message', (topic, payload) => {
    const p = Number(topic.split('/').pop());
    if (payload.length === 0) claims.delete(p);
    else claims.set(p, (JSON.parse(payload.toString()) as { member: string }).member);
  });
  await watcher.subscribeAsync('upperstack/cluster/pn/claims/+', { qos: 1 });
  const ownedBy = (m: string) => [...claims.values()].filter((x) => x === m).length;
  const owners = () => eventually(async () => (claims.size === 16 && ownedBy('m1') > 0 && ownedBy('m2') > 0 ? true : undefined), 20_000, 'both members owning partitions');
  await owners();
  // A partition's session exists from its first owner's subscription on: wait until every partition is read.
  const probe = Array.from({ length: 16 }, (_, p) => {
    for (let i = 0; ; i++) if (partitionOf(`probe${i}`, 16) === p) return `probe${i}`;
  });
  await eventually(async () => {
    p1.receive({ payload: probe.map((device) => ({ device, ts: 1_767_225_500_000, fields: { v: 0 }, tags: {} })) });
    await new Promise((r) => setTimeout(r, 300));
    const out = new Set(got.h1.concat(got.h2).map((m) => m.partition));
    return out.size === 16 ? true : undefined;
  }, 20_000, 'every partition read by its owner');
  got.h1.length = 0;
  got.h2.length = 0;

  const readings: Reading[] = [];
  for (let i = 0; i < 100; i++) for (let k = 0; k < 5; k++) readings.push({ device: `d${i}`, ts: 1_767_225_600_000 + k, fields: { v: k }, tags: {} });
  p1.receive({ payload: readings });
  await eventually(async () => (got.h1.concat(got.h2).flatMap((m) => m.payload).length >= readings.length ? true : undefined), 20_000, 'all readings out');
  const seen = new Map<string, string>();
  for (const h of ['h1', 'h2'] as const) {
    for (const m of got[h]) {
      for (const r of m.payload) {
        assert.equal(partitionOf(r.device, 16), m.partition);
        const key = `${r.device}@${r.ts}`;
        assert.ok(!seen.has(key), `${key} came out twice`);
        seen.set(key, h);
      }
    }
  }
  assert.equal(seen.size, readings.length);
  // One owner per device: all of a device's readings at the same member, and both members used.
  const byDevice = new Map<string, Set<string>>();
  for (const [key, h] of seen) {
    const d = key.split('@')[0];
    byDevice.set(d, (byDevice.get(d) ?? new Set()).add(h));
  }
  assert.ok([...byDevice.values()].every((s) => s.size === 1));
  assert.ok(got.h1.length > 0 && got.h2.length > 0);

  // Member 2 leaves (its node is closed): member 1 takes every partition.
  const p2 = helper.getNode('p2') as Node & { close(removed: boolean): Promise<void> };
  await p2.close(true);
  await eventually(async () => (ownedBy('m1') === 16 ? true : undefined), 20_000, 'member 1 owning all 16');
  got.h1.length = 0;
  got.h2.length = 0;
  p1.receive({ payload: readings.map((r) => ({ ...r, ts: r.ts + 1000 })) });
  await eventually(async () => (got.h1.flatMap((m) => m.payload).length >= readings.length ? true : undefined), 20_000, 'all readings at member 1');
  assert.equal(got.h2.length, 0);
  await watcher.endAsync();
  watcher = undefined;
});
