/**
 * The alert outbox of a cluster member: a transition recorded "to send" in the
 * checkpoint is sent by the next owner when its predecessor died before
 * sending it, with the same idempotency key; a sent one leaves the next checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine, type EngineState } from '../../nodes/lib/rules/engine';
import type { AlertEvent, Rule } from '../../nodes/lib/rules/types';
import { Outbox } from '../../nodes/lib/cluster/outbox';
import { decodeCheckpoint, encodeCheckpoint } from '../../nodes/lib/cluster/state';

const T0 = Date.UTC(2026, 0, 5, 12);
const HOT: Rule = { id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 30, for: '5s' }, clear: { op: 'below', value: 28, for: '0s' }, severity: 'warning' };

/** One member's alert holder as the alert node builds it: engine + outbox, exported and imported together. */
function member() {
  let now = T0;
  const engine = new RuleEngine([HOT], { clock: () => now });
  const outbox = new Outbox<AlertEvent>();
  const sent: AlertEvent[] = [];
  return {
    engine,
    outbox,
    sent,
    /** Judges a reading; its transitions enter the outbox (they are about to be checkpointed). */
    read(device: string, temperature: number, ts: number): AlertEvent[] {
      now = ts;
      const events = engine.process({ device, ts, fields: { temperature }, tags: {} });
      outbox.add(events);
      return events;
    },
    send(events: AlertEvent[]): void {
      const still = events.filter((e) => outbox.has(e));
      sent.push(...still);
      outbox.sent(still);
    },
    checkpoint(keep: (d: string) => boolean = () => true): Buffer {
      return encodeCheckpoint({ version: 2, partition: 1, holder: 'upperstack-alert:a', member: 'm', at: now, state: { ...engine.exportDevices(keep), outbox: outbox.export(keep) } });
    },
    /** What the alert node does on a take-over: import, then send what the predecessor left to send. */
    takeOver(payload: Buffer): void {
      const state = decodeCheckpoint(payload)!.state;
      engine.importDevices(state as EngineState);
      const pending = Outbox.read<AlertEvent>(state);
      outbox.add(pending);
      this.send(pending);
    },
  };
}

test('killed between the checkpoint and the send: the next owner sends the transition, with the same key', () => {
  const a = member();
  for (let i = 0; i < 5; i++) a.send(a.read('dev1', 31, T0 + i * 1000));
  assert.deepEqual(a.sent.map((e) => e.event), ['pending']);
  const firing = a.read('dev1', 31, T0 + 5000);
  assert.deepEqual(firing.map((e) => e.event), ['firing']);
  // The checkpoint the broker confirmed before the send; then A dies without sending.
  const payload = a.checkpoint();
  const b = member();
  b.takeOver(payload);
  assert.deepEqual(b.sent.map((e) => [e.event, e.device, e.key]), [['firing', 'dev1', firing[0].key]]);
  assert.equal(firing[0].key, 'hot:dev1:2', 'rule, device, transition number (pending was 1)');
  assert.equal(b.engine.alert('hot:dev1')?.state, 'firing');
  // B's next checkpoint has nothing left to send: a third owner sends nothing.
  const c = member();
  c.takeOver(b.checkpoint());
  assert.deepEqual(c.sent, []);
});

test('sent before the kill and checkpointed as sent: the next owner sends nothing; transitions go on numbered from the checkpoint', () => {
  const a = member();
  for (let i = 0; i <= 5; i++) a.send(a.read('dev1', 31, T0 + i * 1000));
  assert.deepEqual(a.sent.map((e) => e.key), ['hot:dev1:1', 'hot:dev1:2']);
  assert.equal(a.outbox.size, 0);
  const b = member();
  b.takeOver(a.checkpoint());
  assert.deepEqual(b.sent, []);
  const cleared = b.read('dev1', 20, T0 + 7000);
  assert.deepEqual(cleared.map((e) => [e.event, e.key]), [['cleared', 'hot:dev1:3']]);
});

test('the outbox goes with the devices: only a partition\'s own transitions, and forgotten with them', () => {
  const a = member();
  for (let i = 0; i <= 5; i++) {
    a.read('dev1', 31, T0 + i * 1000);
    a.read('dev2', 31, T0 + i * 1000);
  }
  assert.equal(a.outbox.size, 4);
  const only1 = decodeCheckpoint(a.checkpoint((d) => d === 'dev1'))!.state;
  assert.deepEqual(Outbox.read<AlertEvent>(only1).map((e) => e.key), ['hot:dev1:1', 'hot:dev1:2']);
  a.outbox.forget((d) => d === 'dev1');
  assert.deepEqual(a.outbox.export(() => true).map((e) => e.key), ['hot:dev2:1', 'hot:dev2:2']);
  // A transition whose device was handed on while it waited for its checkpoint is not sent here.
  const [waiting] = a.outbox.export(() => true);
  a.outbox.forget(() => true);
  assert.equal(a.outbox.has(waiting), false);
});

test('a checkpoint\'s outbox from another member: entries that are not keyed transitions of a device are left out', () => {
  assert.deepEqual(Outbox.read({ outbox: [{ device: 'd', key: 'k:d:1' }, { device: 'd' }, { key: 'x' }, null, 'x', { device: 'd', key: '' }] }), [{ device: 'd', key: 'k:d:1' }]);
  assert.deepEqual(Outbox.read({}), []);
  assert.deepEqual(Outbox.read(null), []);
});
