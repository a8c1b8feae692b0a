/**
 * upperstack-mqtt-in against an in-process stand-in for the embedded broker, so
 * the test decides exactly which messages arrive in the same event-loop turn
 * and sees every acknowledgement.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { registerBroker, unregisterBroker } from '../../nodes/shared/runtime';
import { settleReceipts, journalBacklog, type Receipt } from '../../nodes/lib/journal/receipts';
import { findIntake, intakeStats } from '../../nodes/lib/ingest/intake';
import { recordOf } from '../../nodes/lib/api/replay';
import { Journal } from '../../nodes/lib/journal/journal';
import { RECORD_ENCODER as LEGACY_ENCODER } from '../../nodes/lib/mqtt/record';
import { registerSettlingType } from '../../nodes/shared/settlement';
import { useTestRuntime } from '../helpers/node-red';
import { fakeBroker, pendingOf, telemetry } from '../helpers/receipts-graph';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/mqtt-in/mqtt-in'), require('../../nodes/decode/decode')];

helper.init(require.resolve('node-red'));
// The helper nodes stand in for the store: they settle what they receive (the tests call settleReceipts).
registerSettlingType('helper');

interface Msg {
  payload: unknown;
  topic?: string;
  device?: string;
  batch?: unknown[];
  error?: { code: string };
  upperstack?: { receipts: Receipt[] };
}

function next(id: string): Promise<Msg> {
  const n = helper.getNode(id) as unknown as NodeJS.EventEmitter;
  return new Promise((resolve) => n.once('input', resolve));
}

/** Counts write(2) calls that carry `marker` (the journal's group writes). */
function countWrites(marker: string): { count: () => number; restore: () => void } {
  const original = fs.writeSync;
  let n = 0;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buf: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(buf) && buf.includes(marker)) n++;
    return (original as (...a: unknown[]) => number)(fd, buf, ...rest);
  };
  return { count: () => n, restore: () => ((fs as { writeSync: unknown }).writeSync = original) };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('upperstack-mqtt-in', () => {
  let broker: ReturnType<typeof fakeBroker>;
  let loaded = 0;
  const { dataDir } = useTestRuntime('us-mqtt-in-', { afterEachTest: () => unregisterBroker(broker) });

  function load(inNode: Record<string, unknown>, rest: Array<Record<string, unknown>>) {
    broker = fakeBroker(`fake-${Math.random().toString(36).slice(2)}`);
    registerBroker(broker);
    // A node id of its own per test: a journal left unsettled by one test would replay into the next.
    const base = { id: `in-${++loaded}`, type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: broker.id, topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, highWater: 0, lowWater: 0 };
    return helper.load(nodes, [{ id: 'tab', type: 'tab', label: 'test' }, { ...base, ...inNode }, ...rest]);
  }

  test('messages of one turn become one journal write, are acknowledged after it, and reach decode as one batch', async () => {
    await load({ wires: [['decode'], ['badTopic']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], ['failed']] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'failed', type: 'helper', z: 'tab' },
      { id: 'badTopic', type: 'helper', z: 'tab' },
    ]);
    const out = next('out');
    const failed = next('failed');
    const writes = countWrites('devices/');
    const acks: number[] = [];
    try {
      const deliver = broker.deliver;
      deliver(telemetry('a', '{"ts":1767225600000,"t":1}'), () => acks.push(writes.count()));
      deliver(telemetry('b', '{"t": 2,'), () => acks.push(writes.count()));
      deliver(telemetry('c', '[{"ts":1767225601000,"t":3},{"ts":1767225602000,"t":4}]'), () => acks.push(writes.count()));
      assert.equal(acks.length, 0, 'nothing is acknowledged before the journal write');
      const [batch, failure] = await Promise.all([out, failed]);
      assert.equal(writes.count(), 1, 'one write for the three messages');
      assert.deepEqual(acks, [1, 1, 1], 'each ack came after that write');
      assert.deepEqual((batch.payload as Array<{ device: string; fields: { t: number } }>).map((r) => [r.device, r.fields.t]), [['a', 1], ['c', 3], ['c', 4]]);
      assert.equal(batch.batch, undefined);
      assert.equal(batch.upperstack?.receipts.length, 2, 'the receipts of the two messages that decoded');
      assert.equal(failure.topic, 'devices/b/telemetry');
      assert.equal(failure.device, 'b');
      assert.equal(failure.error?.code, 'DECODE_FAILED');
      assert.equal(String(failure.payload), '{"t": 2,');
      assert.equal(failure.upperstack?.receipts.length, 1);
      const receiptSeqs = [...batch.upperstack!.receipts, ...failure.upperstack!.receipts].map((r) => r.s).sort();
      assert.equal(new Set(receiptSeqs).size, 3, 'every message keeps its own journal entry');
      settleReceipts(batch.upperstack!.receipts);
      settleReceipts(failure.upperstack!.receipts);
      assert.equal(journalBacklog().pending, 0);
    } finally {
      writes.restore();
    }
  });

  test('what one read of the broker brought is journaled and acknowledged before work the flow has queued, and leaves with the rest of the turn as one batch', async () => {
    await load({ wires: [['decode'], []] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const out = next('out');
    const writes = countWrites('devices/');
    const order: string[] = [];
    try {
      const deliver = broker.deliver;
      // A hop Node-RED has already queued (it delivers messages with setImmediate).
      setImmediate(() => order.push('queued work'));
      deliver(telemetry('a', '{"ts":1767225600000,"t":1}'), () => order.push(`ack a after write ${writes.count()}`));
      deliver(telemetry('b', '{"ts":1767225601000,"t":2}'), () => order.push(`ack b after write ${writes.count()}`));
      // A second read of a socket in the same turn of the event loop.
      await new Promise((r) => process.nextTick(r));
      deliver(telemetry('c', '{"ts":1767225602000,"t":3}'), () => order.push(`ack c after write ${writes.count()}`));
      const batch = await out;
      assert.deepEqual(order, ['ack a after write 1', 'ack b after write 1', 'ack c after write 2', 'queued work']);
      assert.deepEqual((batch.payload as Array<{ device: string }>).map((r) => r.device), ['a', 'b', 'c'], 'one batch message for the turn');
      settleReceipts(batch.upperstack!.receipts);
      assert.equal(journalBacklog().pending, 0);
    } finally {
      writes.restore();
    }
  });

  test('a bad topic in a batch goes to output 2 alone; the rest still leave together', async () => {
    await load({ topic: 'devices/{device}/#', wires: [['decode'], ['badTopic']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'badTopic', type: 'helper', z: 'tab' },
    ]);
    const out = next('out');
    const bad = next('badTopic');
    const deliver = broker.deliver;
    deliver(telemetry('x', '{"t":1}'), () => undefined);
    deliver({ ...telemetry('x', '{"t":2}'), topic: 'devices//telemetry' }, () => undefined);
    deliver(telemetry('y', '{"t":3}'), () => undefined);
    const [batch, rejected] = await Promise.all([out, bad]);
    assert.deepEqual((batch.payload as Array<{ device: string }>).map((r) => r.device), ['x', 'y']);
    assert.equal(rejected.error?.code, 'BAD_TOPIC');
    assert.equal(rejected.topic, 'devices//telemetry');
  });

  test('a topic naming a device id HTTP would refuse goes to output 2 as BAD_DEVICE_ID; the rest are stored and nothing stays unsettled', async () => {
    await load({ topic: 'devices/{device}/#', wires: [['decode'], ['badId']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'badId', type: 'helper', z: 'tab' },
    ]);
    const badNode = helper.getNode('badId') as unknown as NodeJS.EventEmitter;
    const refused: Msg[] = [];
    const four = new Promise<void>((resolve) => badNode.on('input', (m: Msg) => refused.push(m) === 4 && resolve()));
    const out = next('out');
    const long = 'a'.repeat(129);
    broker.deliver({ ...telemetry('x', '{"t":1}'), topic: 'devices/m q/telemetry' }, () => undefined);
    broker.deliver({ ...telemetry('x', '{"t":2}'), topic: 'devices/é€/telemetry' }, () => undefined);
    // Past 128 characters, or with a control character: the same rule, the same code as HTTP's 400.
    broker.deliver({ ...telemetry('x', '{"t":4}'), topic: `devices/${long}/telemetry` }, () => undefined);
    broker.deliver({ ...telemetry('x', '{"t":5}'), topic: 'devices/a\u0001b/telemetry' }, () => undefined);
    broker.deliver(telemetry('ok-1', '{"t":3}'), () => undefined);
    const [batch] = await Promise.all([out, four]);
    assert.deepEqual([batch.payload].flat().map((r) => (r as { device: string }).device), ['ok-1']);
    assert.deepEqual(
      refused.map((m) => [m.topic, m.error?.code, m.device]),
      [
        ['devices/m q/telemetry', 'BAD_DEVICE_ID', undefined],
        ['devices/é€/telemetry', 'BAD_DEVICE_ID', undefined],
        [`devices/${long}/telemetry`, 'BAD_DEVICE_ID', undefined],
        ['devices/a\u0001b/telemetry', 'BAD_DEVICE_ID', undefined],
      ],
    );
    assert.match((refused[0].error as { message?: string }).message ?? '', /"m q" is not a device id/);
    settleReceipts(batch.upperstack!.receipts);
    for (const m of refused) settleReceipts(m.upperstack!.receipts);
    assert.equal(journalBacklog().pending, 0);
  });

  test('a replayed letter whose source is the subscription (messages of several devices merged in one turn) is decoded under the device its reading names, not refused as device "+"', async () => {
    await load({ topic: 'devices/{device}/#', wires: [['decode'], ['badId']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'badId', type: 'helper', z: 'tab' },
    ]);
    const refused: Msg[] = [];
    (helper.getNode('badId') as unknown as NodeJS.EventEmitter).on('input', (m: Msg) => refused.push(m));
    const out = next('out');
    const body = JSON.stringify({ device: 'rp-1', ts: 1767225600000, fields: { temperature: 60 }, tags: {} });
    const intake = findIntake(`in-${loaded}`);
    assert.ok(intake, 'the input is open');
    const taken = await intake.submit([
      recordOf({ id: 7, ts: 1767225600000, device: 'rp-1', source: 'mqtt:devices/+/telemetry', code: 'SCHEMA_VIOLATION', reason: 'x', payload: body, body: Buffer.from(body).toString('base64'), contentType: 'application/json', replayable: true } as never),
    ]);
    assert.ok('accepted' in taken && taken.accepted.length === 1, 'the replay is taken');
    const batch = await out;
    assert.deepEqual([batch.payload].flat().map((r) => (r as { device: string }).device), ['rp-1']);
    assert.deepEqual(refused, []);
    settleReceipts(batch.upperstack!.receipts);
  });

  test('the replay of a publish refused for its charset is refused again on an input with format auto, as the publish was', async () => {
    await load({ wires: [['decode'], ['refused']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'refused', type: 'helper', z: 'tab' },
    ]);
    // Whichever comes first: refused again, or decoded towards the store.
    const first = Promise.race([next('refused').then((m) => ({ refused: m })), next('out').then((m) => ({ decoded: m }))]);
    const body = '{"ts":1767225600000,"t":1}';
    const intake = findIntake(`in-${loaded}`);
    assert.ok(intake, 'the input is open');
    await intake.submit([
      recordOf({ id: 11, ts: 1767225600000, device: 'cs-1', source: 'mqtt:devices/cs-1/telemetry', code: 'UNSUPPORTED_FORMAT', reason: 'x', payload: body, body: Buffer.from(body).toString('base64'), contentType: 'application/json; charset=latin1', replayable: true } as never),
    ]);
    const outcome = await first;
    assert.ok('refused' in outcome, 'refused, not decoded');
    const again = outcome.refused;
    assert.deepEqual([again.error?.code, again.device], ['UNSUPPORTED_FORMAT', 'cs-1']);
    assert.match((again.error as { message?: string }).message ?? '', /charset latin1 is not supported/);
    settleReceipts(again.upperstack!.receipts);
  });

  test('a replayed letter that names no device goes in under its readings\' devices when it came from a merged turn, and is refused again when its topic named no valid device', async () => {
    await load({ topic: 'devices/{device}/#', wires: [['decode'], ['badId']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'badId', type: 'helper', z: 'tab' },
    ]);
    const refused = next('badId');
    const out = next('out');
    const letter = (id: number, source: string, readings: unknown) => {
      const body = JSON.stringify(readings);
      return recordOf({ id, ts: 1767225600000, device: 'unknown', source, code: 'TOO_MANY_READINGS', reason: 'x', payload: body, body: Buffer.from(body).toString('base64'), contentType: 'application/json', replayable: true } as never);
    };
    const intake = findIntake(`in-${loaded}`);
    assert.ok(intake, 'the input is open');
    // The whole merged message was refused: the letter names no one device, its source is the subscription.
    const merged = [
      { device: 'rp-1', ts: 1767225600000, fields: { t: 1 }, tags: {} },
      { device: 'rp-2', ts: 1767225600000, fields: { t: 2 }, tags: {} },
    ];
    await intake.submit([letter(8, 'mqtt:devices/+/telemetry', merged)]);
    const batch = await out;
    assert.deepEqual([batch.payload].flat().map((r) => (r as { device: string }).device), ['rp-1', 'rp-2']);
    settleReceipts(batch.upperstack!.receipts);
    // A message refused for its topic's device: the body's device does not let it in on replay.
    await intake.submit([letter(9, 'mqtt:devices/m q/telemetry', { device: 'rp-1', fields: { t: 3 } })]);
    const again = await refused;
    assert.equal(again.error?.code, 'BAD_DEVICE_ID');
    settleReceipts(again.upperstack!.receipts);
  });

  test('a message that is not a replay cannot name the subscription as its topic: a "+" level is no device id', async () => {
    await load({ wires: [['decode'], ['badId']] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'badId', type: 'helper', z: 'tab' },
    ]);
    const where = Promise.race([next('out').then((m) => ['out', m] as const), next('badId').then((m) => ['badId', m] as const)]);
    const intake = findIntake(`in-${loaded}`);
    assert.ok(intake, 'the input is open');
    const body = JSON.stringify({ device: 'rp-1', fields: { t: 1 } });
    await intake.submit([{ source: 'mqtt:devices/+/telemetry', payload: Buffer.from(body), receivedAt: 1767225600000 }]);
    const [output, msg] = await where;
    assert.equal(output, 'badId', 'refused, not decoded');
    assert.equal(msg.error?.code, 'BAD_DEVICE_ID');
    assert.match((msg.error as { message?: string }).message ?? '', /"\+" is not a device id/);
    settleReceipts(msg.upperstack!.receipts);
  });

  test('the decode node\'s errors over its limits name the setting that raises them', async () => {
    await load({ wires: [['decode'], []] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, maxFields: 2, maxReadings: 2, configVersion: 1, wires: [['out'], ['failed']] },
      { id: 'out', type: 'helper', z: 'tab' },
      { id: 'failed', type: 'helper', z: 'tab' },
    ]);
    const failedNode = helper.getNode('failed') as unknown as NodeJS.EventEmitter;
    const failed: Msg[] = [];
    const two = new Promise<void>((resolve) => failedNode.on('input', (m: Msg) => failed.push(m) === 2 && resolve()));
    broker.deliver(telemetry('lim-1', '{"a":1,"b":2,"c":3}'), () => undefined);
    broker.deliver(telemetry('lim-2', '[{"t":1},{"t":2},{"t":3}]'), () => undefined);
    await two;
    const byCode = Object.fromEntries(failed.map((m) => [m.error?.code, (m.error as { message?: string }).message ?? '']));
    assert.match(byCode.TOO_MANY_FIELDS, /a reading may have at most 2 fields: split the data into several readings or raise the decode node's Fields limit$/);
    assert.match(byCode.TOO_MANY_READINGS, /the limit is 2 per message: send smaller batches or raise the decode node's Readings limit$/);
    for (const m of failed) settleReceipts(m.upperstack!.receipts);
    // The names are the settings' labels in the editor.
    const labels = (JSON.parse(fs.readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'decode', 'locales', 'en-US', 'decode.json'), 'utf8')) as { 'upperstack-decode': { label: Record<string, string> } })['upperstack-decode'].label;
    assert.deepEqual([labels.maxFields, labels.maxReadings], ['Fields limit', 'Readings limit']);
  });

  test('towards anything but decode nodes, messages of one turn still leave one by one', async () => {
    await load({ wires: [['raw'], []] }, [{ id: 'raw', type: 'helper', z: 'tab' }]);
    const raw = helper.getNode('raw') as unknown as NodeJS.EventEmitter;
    const got: Msg[] = [];
    const two = new Promise<void>((resolve) => raw.on('input', (m: Msg) => got.push(m) === 2 && resolve()));
    const deliver = broker.deliver;
    deliver(telemetry('a', '1'), () => undefined);
    deliver(telemetry('b', '2'), () => undefined);
    await two;
    assert.deepEqual(got.map((m) => [m.device, String(m.payload)]), [['a', '1'], ['b', '2']]);
  });

  test('acks are withheld while the unsettled backlog is at the high-water mark and released at the low-water mark', async () => {
    await load({ highWater: 3, lowWater: 1, wires: [['raw'], []] }, [{ id: 'raw', type: 'helper', z: 'tab' }]);
    const raw = helper.getNode('raw') as unknown as NodeJS.EventEmitter;
    const got: Msg[] = [];
    let wanted = 0;
    let arrived: () => void = () => undefined;
    raw.on('input', (m: Msg) => {
      got.push(m);
      if (got.length === wanted) arrived();
    });
    const until = (n: number) => new Promise<void>((resolve) => ((wanted = n), (arrived = resolve), got.length >= n && resolve()));
    const acked: string[] = [];
    const deliver = broker.deliver;
    deliver(telemetry('a', '1'), () => acked.push('a'));
    deliver(telemetry('b', '2'), () => acked.push('b'));
    await until(2);
    assert.deepEqual(acked, ['a', 'b'], 'two unsettled is below the mark of three');
    deliver(telemetry('c', '3'), () => acked.push('c'));
    deliver(telemetry('d', '4'), () => acked.push('d'));
    await until(4);
    assert.deepEqual(acked, ['a', 'b'], 'four unsettled: c and d wait');
    const receipt = (i: number) => got[i].upperstack!.receipts;
    settleReceipts(receipt(0));
    settleReceipts(receipt(1));
    assert.deepEqual(acked, ['a', 'b'], 'two unsettled is still above the low-water mark');
    settleReceipts(receipt(2));
    assert.deepEqual(acked, ['a', 'b', 'c', 'd'], 'released in order at the low-water mark');
    settleReceipts(receipt(3));
  });

  test('with batches the input pauses at its readings mark, not its message mark, and a message holding more readings than the mark still passes', async () => {
    await load({ highWater: 100, lowWater: 50, highWaterReadings: 30, configVersion: 4, wires: [['decode'], []] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const inId = `in-${loaded}`;
    const stats = () => intakeStats().find((st) => st.id === inId)!;
    const readings = (n: number, from: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ ts: 1767225600000 + (from + i) * 1000, t: i })));
    const acked: string[] = [];
    const deliver = broker.deliver;
    let out = next('out');
    deliver(telemetry('a', readings(10, 0)), () => acked.push('a'));
    deliver(telemetry('b', readings(10, 10)), () => acked.push('b'));
    deliver(telemetry('c', readings(10, 20)), () => acked.push('c'));
    const first = await out;
    assert.equal((first.payload as unknown[]).length, 30);
    assert.deepEqual(acked, ['a', 'b', 'c'], 'acknowledged when journaled: three messages, not decoded yet');
    assert.equal(stats().pendingReadings, 30, 'decode told the journal how many readings each holds');
    out = next('out');
    deliver(telemetry('d', readings(10, 30)), () => acked.push('d'));
    const second = await out;
    assert.deepEqual(acked, ['a', 'b', 'c'], 'four messages, far below the message mark of 100, but 30 readings: d waits');
    assert.equal(stats().paused, true);
    assert.equal(stats().pendingReadings, 40);
    settleReceipts(first.upperstack!.receipts);
    assert.deepEqual(acked, ['a', 'b', 'c', 'd'], 'released at 15 readings or fewer');
    assert.equal(stats().paused, false);
    // One message of 100 readings against a mark of 30: it passes, and the input pauses until it is stored.
    out = next('out');
    deliver(telemetry('e', readings(100, 40)), () => acked.push('e'));
    const big = await out;
    assert.equal((big.payload as unknown[]).length, 100);
    assert.deepEqual(acked.slice(4), ['e']);
    out = next('out');
    deliver(telemetry('f', readings(1, 140)), () => acked.push('f'));
    const last = await out;
    assert.deepEqual(acked.slice(4), ['e'], 'f waits behind the big one');
    settleReceipts(second.upperstack!.receipts);
    settleReceipts(big.upperstack!.receipts);
    assert.deepEqual(acked.slice(4), ['e', 'f']);
    settleReceipts(last.upperstack!.receipts);
    assert.equal(pendingOf(inId), 0);
  });

  test('a journal left by the previous release (MQTT-only records) is replayed through decode after the upgrade', async () => {
    const id = `in-${++loaded}-upgraded`;
    const old = new Journal({ dir: join(dataDir, 'journal', id) });
    old.open();
    old.appendGroup(
      [
        { topic: 'devices/legacy1/telemetry', payload: Buffer.from('{"ts":1767225600000,"t":21.5}'), qos: 1, receivedAt: Date.UTC(2026, 0, 1) },
        { topic: 'devices/legacy2/telemetry', payload: Buffer.from('{"ts":1767225601000,"t":22.5}'), qos: 1, receivedAt: Date.UTC(2026, 0, 1) },
      ],
      LEGACY_ENCODER,
    );
    // Killed: no close, nothing settled.
    await load({ id, wires: [['decode'], []] }, [
      { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['out'], []] },
      { id: 'out', type: 'helper', z: 'tab' },
    ]);
    const batch = await next('out');
    assert.deepEqual((batch.payload as Array<{ device: string; fields: { t: number } }>).map((r) => [r.device, r.fields.t]), [['legacy1', 21.5], ['legacy2', 22.5]]);
    settleReceipts(batch.upperstack!.receipts);
    assert.equal(pendingOf(id), 0);
  });

  test('a message the journal sends again after a restart says so (replayed), for the audit log; a live one does not', async () => {
    const id = `in-${++loaded}-restarted`;
    const old = new Journal({ dir: join(dataDir, 'journal', id) });
    old.open();
    old.appendGroup([{ topic: 'devices/again1/telemetry', payload: Buffer.from('{"t":1}'), qos: 1, receivedAt: Date.UTC(2026, 0, 1) }], LEGACY_ENCODER);
    // Killed: no close, nothing settled.
    await load({ id, wires: [['raw'], []] }, [{ id: 'raw', type: 'helper', z: 'tab' }]);
    const again = (await next('raw')) as Msg & { replayed?: unknown };
    assert.deepEqual([again.device, again.replayed], ['again1', true]);
    settleReceipts(again.upperstack!.receipts);
    const live = next('raw') as Promise<Msg & { replayed?: unknown }>;
    broker.deliver(telemetry('now1', '{"t":2}'), () => undefined);
    const m = await live;
    assert.deepEqual([m.device, m.replayed], ['now1', undefined]);
    settleReceipts(m.upperstack!.receipts);
  });

  test('every message says where it came from (source mqtt:<topic>), alone and in a batch', async () => {
    await load({ wires: [['raw'], []] }, [{ id: 'raw', type: 'helper', z: 'tab' }]);
    const got = next('raw') as Promise<Msg & { source?: string; qos?: number }>;
    broker.deliver(telemetry('s1', '{"t":1}'), () => undefined);
    const m = await got;
    assert.equal(m.source, 'mqtt:devices/s1/telemetry');
    assert.equal(m.topic, 'devices/s1/telemetry');
    assert.equal(m.device, 's1');
    settleReceipts(m.upperstack!.receipts);
  });

  test('at its journal budget the input withholds acknowledgements (drops nothing) and resumes once the flow has caught up', async () => {
    // 1 MiB budget; messages of 200 kB, one per turn: the sixth reaches the budget.
    await load({ journalBudgetMb: 1, configVersion: 3, highWater: 0, lowWater: 0, wires: [['raw'], []] }, [{ id: 'raw', type: 'helper', z: 'tab' }]);
    const inId = `in-${loaded}`;
    const raw = helper.getNode('raw') as unknown as NodeJS.EventEmitter;
    const got: Msg[] = [];
    raw.on('input', (m: Msg) => got.push(m));
    const acked: number[] = [];
    const deliver = broker.deliver;
    const body = (i: number) => `{"i":${i},"pad":"${'x'.repeat(200_000)}"}`;
    let sent = 0;
    while (!intakeStats().find((s) => s.id === inId)?.paused) {
      const i = sent++;
      deliver(telemetry('big', body(i)), () => acked.push(i));
      await turn();
      await turn();
      assert.ok(sent <= 8, 'paused within the budget');
    }
    const stats = intakeStats().find((s) => s.id === inId)!;
    assert.equal(stats.pauseReason, 'disk');
    assert.ok(stats.bytes >= 1024 * 1024);
    assert.equal(acked.length, sent - 1, 'the message that reached the budget is not acknowledged');
    deliver(telemetry('big', body(sent++)), () => acked.push(sent - 1));
    const until = async (cond: () => boolean, what: string) => {
      for (const end = performance.now() + 30_000; !cond(); ) {
        if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => got.length === sent, 'every message in the flow');
    assert.equal(acked.length, sent - 2, 'nor one arriving while paused');
    for (const m of got) settleReceipts(m.upperstack!.receipts);
    await until(() => acked.length === sent, 'the withheld acknowledgements');
    assert.equal(intakeStats().find((s) => s.id === inId)?.paused, false);
  });
});
