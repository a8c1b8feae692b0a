/**
 * Per-device state handed over with its partition (nodes/lib/cluster/analytics.ts)
 * through Debian's mosquitto: two members, each with a holder that counts the
 * readings it was given per device (a stand-in for a detector's state). While
 * readings keep coming, one member leaves (graceful: its partitions are
 * checkpointed before their claims are cleared), then a new member joins and
 * takes its share (checkpointed by the member handing it over). At the end
 * every device's count, wherever it lives, equals the readings published for
 * it: the state moved with each partition and no reading published during a
 * hand-over was lost or counted twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionAnalytics } from '../../nodes/lib/cluster/analytics';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import { deviceStateRegistry, type DeviceStateHolder } from '../../nodes/lib/cluster/state';
import type { Reading } from '../../nodes/lib/reading';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { eventually } from '../helpers/runtime';

const P = 8;
const DEVICES = Array.from({ length: 40 }, (_, i) => `d${i}`);
let mosq: Mosquitto;

before(async () => {
  mosq = await startMosquitto();
});
after(async () => {
  await mosq?.stop();
});

/** A member whose analytics count readings per device. */
function member(name: string) {
  const counts = new Map<string, number>();
  const registry = deviceStateRegistry(`handover-test-${name}`);
  const holder: DeviceStateHolder = {
    key: 'counter:c1',
    exportDevices: async (keep) => Object.fromEntries([...counts].filter(([d]) => keep(d))),
    importDevices: async (state) => {
      for (const [d, n] of Object.entries(state as Record<string, number>)) counts.set(d, n);
    },
    forgetDevices: async (drop) => {
      for (const d of [...counts.keys()]) if (drop(d)) counts.delete(d);
    },
  };
  registry.register(holder);
  const cluster = new PartitionAnalytics({
    broker: `mqtt://127.0.0.1:${mosq.port}`,
    group: 'handover',
    member: name,
    partitions: P,
    leaseMs: 3000,
    prefix: 'upperstack/p',
    checkpointMs: 60_000,
    registry,
    deliver: (_p, readings: Reading[]) => {
      for (const r of readings) counts.set(r.device, (counts.get(r.device) ?? 0) + 1);
    },
  });
  return { name, counts, cluster };
}

test('state moves with each partition on leave and join; readings published meanwhile are counted once', { timeout: 90_000 }, async () => {
  const a = member('a');
  const b = member('b');
  await a.cluster.start();
  await b.cluster.start();
  const live = [a, b];
  await eventually(async () => (a.cluster.fed().length + b.cluster.fed().length === P && a.cluster.fed().length > 0 && b.cluster.fed().length > 0 ? true : undefined), 20_000, 'both members reading partitions');
  const sent = new Map<string, number>();
  let ts = 1_767_225_600_000;
  const round = async () => {
    ts += 1000;
    await a.cluster.publish(DEVICES.map((device) => ({ device, ts, fields: { v: 1 }, tags: {} })));
    for (const d of DEVICES) sent.set(d, (sent.get(d) ?? 0) + 1);
  };
  const total = (ms: Array<ReturnType<typeof member>>) => ms.reduce((n, m) => n + [...m.counts.values()].reduce((x, y) => x + y, 0), 0);
  for (let i = 0; i < 5; i++) await round();
  await eventually(async () => (total(live) === 5 * DEVICES.length ? true : undefined), 20_000, 'the first rounds counted');
  assert.ok(b.counts.size > 0, 'b holds devices');

  // b leaves while readings keep coming.
  let publishing = true;
  const stream = (async () => {
    while (publishing) {
      await round();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await b.cluster.stop();
  live.splice(live.indexOf(b), 1);
  await eventually(async () => (a.cluster.fed().length === P ? true : undefined), 20_000, 'a reading every partition');
  // c joins and takes its share from a.
  const c = member('c');
  await c.cluster.start();
  live.push(c);
  await eventually(async () => (c.cluster.fed().length > 0 && a.cluster.fed().length + c.cluster.fed().length === P ? true : undefined), 20_000, 'c reading its share');
  await new Promise((r) => setTimeout(r, 300));
  publishing = false;
  await stream;
  const want = [...sent.values()].reduce((x, y) => x + y, 0);
  await eventually(async () => (total(live) >= want ? true : undefined), 20_000, `${want} readings counted`).catch(() => undefined);
  for (const d of DEVICES) {
    const at = live.filter((m) => m.counts.has(d));
    assert.equal(at.length, 1, `${d} held by one member`);
    assert.equal(at[0].counts.get(d), sent.get(d), `${d}: every reading counted once, state carried over`);
    assert.ok(at[0].cluster.fed().includes(partitionOf(d, P)), `${d} held where its partition is read`);
  }
  assert.ok(c.counts.size > 0, 'c took devices over with their counts');
  await a.cluster.stop();
  await c.cluster.stop();
});
