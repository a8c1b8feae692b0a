/**
 * The decode node's batch of one turn's MQTT messages: the readings limit holds per device message, so
 * messages that together hold more than it leave as several messages of whole device messages, each
 * within the limit, and every receipt goes with the readings of its own message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBatch } from '../../nodes/decode/batch';
import { resolveLimits } from '../../nodes/lib/limits';
import type { Reading } from '../../nodes/lib/reading';
import type { BatchMessage } from '../../nodes/shared/mqtt-batch';

function batchOf(counts: number[]): BatchMessage {
  const payload: Buffer[] = [];
  const batch: BatchMessage['batch'] = [];
  counts.forEach((n, i) => {
    const device = `dev${i}`;
    const readings = Array.from({ length: n }, (_, k) => ({ ts: 1767225600000 + k * 1000, fields: { t: k } }));
    payload.push(Buffer.from(JSON.stringify(readings)));
    batch.push({ source: `mqtt:devices/${device}/telemetry`, topic: `devices/${device}/telemetry`, device, qos: 1, receivedAt: 1767225600000 });
  });
  return { _msgid: 'turn', topic: 'devices/+/telemetry', payload, batch, receivedAt: 1767225600000, upperstack: { receipts: counts.map((_, i) => ({ j: 'in', s: i + 1 })) } };
}

let ids = 0;
const newId = () => `id${++ids}`;

test('messages that together pass the readings limit leave as several messages, each within it, none split', () => {
  const limits = resolveLimits({ maxReadings: 10 });
  const { outs, failures } = decodeBatch(batchOf([6, 6, 3, 1, 10, 2]), { format: 'auto', limits }, newId);
  assert.deepEqual(failures, []);
  const sizes = outs.map((o) => (o.payload as Reading[]).length);
  assert.deepEqual(sizes, [6, 10, 10, 2]);
  // Each device message's readings stay in one message with its receipt.
  assert.deepEqual(
    outs.map((o) => [...new Set((o.payload as Reading[]).map((r) => r.device))]),
    [['dev0'], ['dev1', 'dev2', 'dev3'], ['dev4'], ['dev5']],
  );
  assert.deepEqual(
    outs.map((o) => o.upperstack?.receipts?.map((r) => r.s)),
    [[1], [2, 3, 4], [5], [6]],
  );
  // Distinct messages: the first keeps the turn's id, the others get their own.
  assert.equal(new Set(outs.map((o) => o._msgid)).size, outs.length);
  assert.equal(outs[0]._msgid, 'turn');
  for (const o of outs) assert.equal(o.format, 'json');
});

test('a turn within the limit still leaves as one message', () => {
  const { outs } = decodeBatch(batchOf([3, 4, 3]), { format: 'auto', limits: resolveLimits({ maxReadings: 10 }) }, newId);
  assert.equal(outs.length, 1);
  assert.equal((outs[0].payload as Reading[]).length, 10);
  assert.deepEqual(outs[0].upperstack?.receipts?.map((r) => r.s), [1, 2, 3]);
});

test('a device message over the limit is refused on its own; the others of its turn go on', () => {
  const { outs, failures } = decodeBatch(batchOf([2, 11, 2]), { format: 'auto', limits: resolveLimits({ maxReadings: 10 }) }, newId);
  assert.equal(failures.length, 1);
  assert.equal((failures[0].msg.error as { code: string }).code, 'TOO_MANY_READINGS');
  assert.equal(failures[0].msg.device, 'dev1');
  assert.equal(outs.length, 1);
  assert.deepEqual(outs[0].upperstack?.receipts?.map((r) => r.s), [1, 3]);
});

test('a payload naming a registered device under another device\'s topic is refused whole; unregistered ones pass as before', () => {
  const body = (device: string) => Buffer.from(JSON.stringify([{ ts: 1767225600000, fields: { t: 1 } }, { device, ts: 1767225601000, fields: { t: 2 } }]));
  const msg = batchOf([1, 1]);
  msg.payload = [body('sec2'), body('behind-gateway')];
  const registered = (d: string) => d === 'sec2' || d === 'dev0';
  const { outs, failures } = decodeBatch(msg, { format: 'auto' }, newId, registered);
  assert.equal(failures.length, 1);
  const err = failures[0].msg.error as { code: string; path: string; message: string };
  assert.equal(err.code, 'DEVICE_MISMATCH');
  assert.equal(err.path, '[1].device');
  assert.equal(err.message, 'the payload names device "sec2" but the topic names "dev0": device "dev0" may send only its own readings, not those of device "sec2"');
  assert.equal(failures[0].msg.device, 'dev0');
  // The gateway's message: a device nobody registered is stored under the name its payload gives.
  assert.equal(outs.length, 1);
  assert.deepEqual((outs[0].payload as Reading[]).map((r) => r.device), ['dev1', 'behind-gateway']);
});

test('the reason says who sent: a registered topic device may not send another\'s readings; under an unregistered topic, the named device is registered', () => {
  const msg = batchOf([1]);
  msg.payload = [Buffer.from(JSON.stringify({ device: 'sec2', ts: 1767225600000, fields: { t: 1 } }))];
  const { failures } = decodeBatch(msg, { format: 'auto' }, newId, (d) => d === 'sec2');
  assert.equal((failures[0].msg.error as Error).message, 'the payload names device "sec2" but the topic names "dev0": "sec2" is a registered device: only it may send its readings, under its own topic');
});
