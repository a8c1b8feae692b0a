/**
 * Dead-man rules over a device list on cluster members (docs/scaling.md):
 * each member sees the readings of its own partitions only, so each judges
 * silences of its own partitions' devices only, and the member that takes a
 * partition over goes on with the silences where the checkpoint left them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import type { AlertEvent, Rule } from '../../nodes/lib/rules/types';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const P = 8;

/** Member A owns the even partitions, member B the odd ones. */
const onA = (d: string) => partitionOf(d, P) % 2 === 0;
const onB = (d: string) => !onA(d);

/** Two devices of each member's partitions. */
function devices(): { a: string[]; b: string[] } {
  const a: string[] = [];
  const b: string[] = [];
  for (let i = 0; a.length < 2 || b.length < 2; i++) {
    const d = `sensor-${i}`;
    if (onA(d)) {
      if (a.length < 2) a.push(d);
    } else if (b.length < 2) b.push(d);
  }
  return { a, b };
}

const { a: A, b: B } = devices();
const SILENT: Rule = { id: 'silent', name: 'Silent', devices: { list: [...A, ...B] }, when: { op: 'not-reported', for: '10m' }, severity: 'critical' };
const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function members() {
  let now = T0;
  const clock = () => now;
  const a = new RuleEngine([SILENT], { clock });
  const b = new RuleEngine([SILENT], { clock });
  const events: Array<AlertEvent & { member: string }> = [];
  return {
    a,
    b,
    events,
    /** A reading reaches the member that owns its partition only. */
    send(owner: RuleEngine, device: string, ts: number) {
      now = Math.max(now, ts);
      owner.process({ device, ts, fields: { t: 1 }, tags: {} });
    },
    tick(at: number, aOwns: ((d: string) => boolean) | null, bOwns: (d: string) => boolean) {
      now = at;
      if (aOwns) events.push(...a.tick(at, aOwns).map((e) => ({ ...e, member: 'A' })));
      events.push(...b.tick(at, bOwns).map((e) => ({ ...e, member: 'B' })));
    },
    firing: () => events.filter((e) => e.event === 'firing').map((e) => `${e.member}:${e.device}`),
  };
}

describe('dead-man rules over a device list, partitioned between two members', () => {
  it('a silent device fires once, on the member that owns its partition', () => {
    const m = members();
    for (const d of [...A, ...B]) m.send(onA(d) ? m.a : m.b, d, T0);
    for (let t = T0 + MIN; t <= T0 + 30 * MIN; t += MIN) {
      // Everyone but A[1] keeps reporting.
      for (const d of [A[0], ...B]) m.send(onA(d) ? m.a : m.b, d, t);
      m.tick(t, onA, onB);
    }
    assert.deepEqual(m.firing(), [`A:${A[1]}`]);
    assert.equal(m.events[0].since, T0);
    assert.equal(m.b.alert(`silent:${A[1]}`), undefined, 'B does not judge A\'s devices');
  });

  it('the member that takes a partition over goes on with its silences: no fresh timeout, no second alert', () => {
    const m = members();
    for (const d of [...A, ...B]) m.send(onA(d) ? m.a : m.b, d, T0);
    for (let t = T0 + MIN; t <= T0 + 6 * MIN; t += MIN) {
      for (const d of [A[0], ...B]) m.send(onA(d) ? m.a : m.b, d, t);
      m.tick(t, onA, onB);
    }
    // A dies; B imports A's last checkpoint (A[1] silent for 6 min, no alert yet), then judges A's partitions too.
    m.b.importDevices(json(m.a.exportDevices(onA)));
    const all = () => true;
    for (let t = T0 + 7 * MIN; t <= T0 + 30 * MIN; t += MIN) {
      for (const d of [A[0], ...B]) m.send(m.b, d, t);
      m.tick(t, null, all);
      if (t === T0 + 10 * MIN) assert.deepEqual(m.firing(), [`B:${A[1]}`], 'ten minutes after its last reading, not ten after the take-over');
    }
    assert.deepEqual(m.firing(), [`B:${A[1]}`]);

    // B hands A's partitions back after the alert fired: A does not fire it again.
    const back = json(m.b.exportDevices(onA));
    m.b.forgetDevices(onA);
    m.a.forgetDevices(onA);
    m.a.importDevices(back);
    for (let t = T0 + 31 * MIN; t <= T0 + 60 * MIN; t += MIN) {
      for (const d of [A[0], ...B]) m.send(onA(d) ? m.a : m.b, d, t);
      m.tick(t, onA, onB);
    }
    assert.deepEqual(m.firing(), [`B:${A[1]}`]);
    assert.equal(m.a.alert(`silent:${A[1]}`)?.state, 'firing');
  });

  it('without an owner filter (a single instance) every listed device is judged, as before', () => {
    let now = T0;
    const e = new RuleEngine([SILENT], { clock: () => now });
    now = T0 + 10 * MIN;
    assert.deepEqual(e.tick().map((x) => x.device).sort(), [...A, ...B].sort());
  });
});
