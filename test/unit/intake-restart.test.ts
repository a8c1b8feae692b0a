/**
 * The shared intake across restarts: what the last run left unsettled replays
 * (old record format included, unreadable records settled once), and what
 * close() does with what is in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../nodes/lib/journal/journal';
import { RECORD_ENCODER as LEGACY_ENCODER, type ReceivedMessage } from '../../nodes/lib/mqtt/record';
import { open, rec, tmp, turn } from '../helpers/intake';

test('what the last run left unsettled is replayed on the next open, in order, and only that', async () => {
  const dir = tmp();
  const first = open({ dir, id: 'replay-node' });
  for (const n of ['r1', 'r2', 'r3']) first.intake.receive(rec(n));
  await first.intake.submit([{ source: 'http:/ingest', payload: Buffer.from('r4'), receivedAt: 1767225600000, remote: '192.0.2.1:4000', contentType: 'application/json', device: 'dev9' }]);
  const items = first.all();
  first.settle([items[1]]);
  first.intake.close();

  const second = open({ dir, id: 'replay-node' });
  assert.equal(second.replayCount, 3);
  assert.equal(second.emitted.length, 0, 'nothing is sent before replay()');
  second.intake.replay();
  second.intake.replay();
  assert.equal(second.emitted.length, 1, 'replay() sends once');
  assert.equal(second.emitted[0].replayed, true);
  const replayed = second.emitted[0].items;
  assert.deepEqual(replayed.map((i) => i.rec.payload.toString()), ['r1', 'r3', 'r4']);
  assert.deepEqual(replayed[2].rec, { source: 'http:/ingest', payload: Buffer.from('r4'), receivedAt: 1767225600000, remote: '192.0.2.1:4000', contentType: 'application/json', device: 'dev9' });
  second.settle(replayed);
  second.intake.close();
  const third = open({ dir, id: 'replay-node' });
  assert.equal(third.replayCount, 0);
  third.intake.close();
});

test('a journal written by the MQTT-only record of earlier releases replays after the upgrade, next to new records', async () => {
  const dir = tmp();
  // The previous release: its own encoder, killed before anything settled (no close).
  const old = new Journal({ dir });
  old.open();
  const legacy: ReceivedMessage[] = [
    { topic: 'devices/old1/telemetry', payload: Buffer.from('{"t":1}'), qos: 1, receivedAt: Date.UTC(2026, 0, 1) },
    { topic: 'devices/old2/telemetry', payload: Buffer.from([0xa1, 0x61, 0x74, 0x02]), qos: 2, contentType: 'application/cbor', receivedAt: Date.UTC(2026, 0, 1, 0, 0, 1) },
  ];
  old.appendGroup(legacy, LEGACY_ENCODER);
  old.close();

  const upgraded = open({ dir, id: 'upgraded' });
  assert.equal(upgraded.replayCount, 2);
  // The upgraded run receives more, then dies too.
  upgraded.intake.receive(rec('{"t":3}', 'mqtt:devices/new/telemetry'));
  await turn();
  upgraded.intake.close();

  const next = open({ dir, id: 'upgraded' });
  next.intake.replay();
  const items = next.all();
  assert.deepEqual(
    items.map((i) => [i.rec.source, i.rec.qos, i.rec.contentType, i.rec.payload.toString('hex'), i.rec.receivedAt]),
    [
      ['mqtt:devices/old1/telemetry', 1, undefined, Buffer.from('{"t":1}').toString('hex'), Date.UTC(2026, 0, 1)],
      ['mqtt:devices/old2/telemetry', 2, 'application/cbor', 'a1617402', Date.UTC(2026, 0, 1, 0, 0, 1)],
      ['mqtt:devices/new/telemetry', 1, undefined, Buffer.from('{"t":3}').toString('hex'), items[2].rec.receivedAt],
    ],
  );
  assert.equal(next.intake.stats().oldestUnsettledAt, Date.UTC(2026, 0, 1), 'the age of the backlog counts from the old record');
  next.settle(items);
  next.intake.close();
});

test('an unsettled record that cannot be read is reported once and settled, not replayed forever', () => {
  const dir = tmp();
  const j = new Journal({ dir });
  j.open();
  j.append(Buffer.from([9, 9, 9, 9]));
  j.close();
  const seen: number[] = [];
  const first = open({ dir, id: 'unreadable', unreadable: (seq) => seen.push(seq) });
  assert.equal(first.replayCount, 1);
  first.intake.replay();
  assert.equal(seen.length, 1);
  assert.equal(first.emitted.length, 0);
  first.intake.close();
  const defaults = open({ dir: tmp(), id: 'unreadable-default' });
  defaults.intake.close();
  // Without a handler the intake settles it itself.
  const d2 = tmp();
  const j2 = new Journal({ dir: d2 });
  j2.open();
  j2.append(Buffer.from([7]));
  j2.close();
  const a = open({ dir: d2, id: 'u2' });
  a.intake.replay();
  a.intake.close();
  const b = open({ dir: d2, id: 'u2' });
  assert.equal(b.replayCount, 0);
  b.intake.close();
});

test('close() journals and acknowledges what the turn has not written yet, sends nothing, refuses what comes after, and the next start replays it', async () => {
  const dir = tmp();
  const { intake, emitted, all } = open({ dir, id: 'closing' });
  const acked: string[] = [];
  intake.receive(rec('c1'), () => acked.push('c1'));
  await turn();
  intake.receive(rec('c2'), () => acked.push('c2'));
  const late = intake.submit([rec('c3', 'http:/x')]);
  intake.close();
  assert.deepEqual(acked, ['c1', 'c2'], 'journaled on close, so acknowledged');
  const submitted = await late;
  assert.ok('accepted' in submitted, 'a submit of the closing turn is durable and accepted');
  assert.equal(emitted.length, 1, 'the closing turn is not sent into a stopping flow');
  assert.equal(all().length, 1);
  let failed: Error | undefined;
  intake.receive(rec('c4'), () => acked.push('c4'), (err) => (failed = err));
  assert.ok(failed, 'after close a message is failed, not acknowledged');
  assert.equal(acked.length, 2);
  const refused = await intake.submit([rec('c5', 'http:/x')]);
  assert.ok('refused' in refused && refused.refused === 'closed');
  const again = open({ dir, id: 'closing' });
  again.intake.replay();
  assert.deepEqual(again.all().map((i) => i.rec.payload.toString()), ['c1', 'c2', 'c3']);
  again.settle(again.all());
  again.intake.close();
});

test('close() releases the acks the gate holds: their messages are journaled and replay at the next start', async () => {
  const dir = tmp();
  const { intake } = open({ dir, id: 'closing-held', highWater: 1, lowWater: 0 });
  const acked: string[] = [];
  intake.receive(rec('h1'), () => acked.push('h1'));
  await turn();
  assert.equal(acked.length, 0, 'one unsettled at a mark of one: held');
  intake.close();
  assert.deepEqual(acked, ['h1']);
  const again = open({ dir, id: 'closing-held' });
  assert.equal(again.replayCount, 1);
  again.intake.close();
});
