/**
 * The decode node's audit entries for an MQTT message naming a registered device other than its topic's
 * (DEVICE_MISMATCH): a first arrival names its sender; a message the runtime sends again (a dead-letter
 * replay, the journal after a restart) is marked `replay: true` and accuses no one, single or in a batch.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import helper from 'node-red-node-test-helper';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import type { AuditInput } from '../../nodes/lib/audit/audit';
import { useDevices } from '../../nodes/shared/devices';
import { eventually } from '../helpers/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/decode/decode')];

helper.init(require.resolve('node-red'));

before(async () => {
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

const TOPIC = 'devices/devA/telemetry';
const BODY = Buffer.from('{"device":"devC","ts":1767225600000,"temperature":1}');
/** When the message arrived: the body's reading is of that moment. */
const ARRIVED = 1767225600000;

async function setup() {
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const audit: AuditInput[] = [];
  const auth = new DeviceAuth({ registry, audit: (e) => audit.push(e) });
  await auth.ready;
  await registry.add({ id: 'devA' });
  await registry.add({ id: 'devC' });
  const release = useDevices({ owner: {}, auth, registry });
  await helper.load(nodes, [
    { id: 'd', type: 'upperstack-decode', format: 'auto', wires: [['good'], ['bad']] },
    { id: 'good', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const bad: unknown[] = [];
  (helper.getNode('bad') as unknown as NodeJS.EventEmitter).on('input', (m: unknown) => bad.push(m));
  return { audit, release, bad };
}

const shown = (e: AuditInput) => [e.actor, e.action, e.target, e.remote, e.reason, e.note, e.replay];

test('a first arrival names its sender; a replayed message is marked as a replay, without a sender', async () => {
  const { audit, release, bad } = await setup();
  try {
    const sent = { source: `mqtt:${TOPIC}`, topic: TOPIC, device: 'devA', remote: '127.0.0.1:50000', receivedAt: ARRIVED, upperstack: { receipts: [] } };
    const d = helper.getNode('d')!;
    d.receive({ ...sent, payload: BODY, actor: 'device:devA' } as never);
    d.receive({ ...sent, payload: BODY, meta: { replayOf: '7' } } as never);
    d.receive({ ...sent, payload: BODY, replayed: true } as never);
    await eventually(async () => (bad.length === 3 ? true : undefined), 15_000, 'three refusals');
    const note = 'the message on topic "devices/devA/telemetry" names device "devC"';
    assert.deepEqual(audit.map(shown), [
      ['device:devA', 'acl.denied', 'devC', '127.0.0.1', 'DEVICE_MISMATCH', note, undefined],
      ['unknown', 'acl.denied', 'devC', '127.0.0.1', 'DEVICE_MISMATCH', `${note} (a replay of dead letter 7, not a new message)`, true],
      ['unknown', 'acl.denied', 'devC', '127.0.0.1', 'DEVICE_MISMATCH', `${note} (sent again from the journal after a restart, not a new message)`, true],
    ]);
  } finally {
    release();
  }
});

test('in a batch message of the MQTT input, each replayed item is marked as a replay', async () => {
  const { audit, release, bad } = await setup();
  try {
    const item = { source: `mqtt:${TOPIC}`, topic: TOPIC, device: 'devA', receivedAt: ARRIVED, remote: '127.0.0.1:50001' };
    helper.getNode('d')!.receive({
      topic: 'devices/+/telemetry',
      payload: [BODY, BODY],
      batch: [{ ...item, actor: 'device:devA' }, { ...item, replayed: true }],
      receivedAt: ARRIVED,
      upperstack: { receipts: [{ j: 'in', s: 1 }, { j: 'in', s: 2 }] },
    } as never);
    await eventually(async () => (bad.length === 2 && audit.length === 2 ? true : undefined), 15_000, 'the refusals');
    assert.deepEqual(audit.map((e) => [e.actor, e.replay]), [['device:devA', undefined], ['unknown', true]]);
  } finally {
    release();
  }
});
