/**
 * The broker's persistence: aedes-persistence's own abstract suite (what aedes
 * expects of any persistence), then what it adds: state that survives a
 * restart, a torn last record after a crash, compaction, bounded queues.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import type { AedesPacket } from '../../nodes/lib/broker/aedes-types';
import { StateLog } from '../../nodes/lib/broker/statelog';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: object) => void;

describe('aedes-persistence abstract suite, in memory', () => {
  abstractPersistence({ test, testAsync: true, persistence: async () => new BrokerPersistence() });
});

describe('aedes-persistence abstract suite, on disk', () => {
  abstractPersistence({ test, testAsync: true, persistence: async () => new BrokerPersistence({ dir: tempDir('us-bp-') }) });
});

const broker = { id: 'b1' };
const pkt = (topic: string, payload: string, extra: Partial<AedesPacket> = {}): AedesPacket => ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, brokerId: 'b1', brokerCounter: 1, ...extra });
const drain = async (s: NodeJS.ReadableStream) => {
  const out: AedesPacket[] = [];
  for await (const p of s) out.push(p as unknown as AedesPacket);
  return out;
};

describe('broker state on disk', () => {
  test('subscriptions, queues, in-flight ids, QoS 2 state, retained messages, wills and expiries survive a restart', async () => {
    const dir = tempDir('us-bp-');
    const a = new BrokerPersistence({ dir });
    await a.setup(broker);
    const client = { id: 'dev1' };
    await a.addSubscriptions(client, [{ topic: 'cmd/#', qos: 1, rh: 0, rap: false, nl: false, subscriptionIdentifier: 7 }]);
    await a.outgoingEnqueueCombi([{ clientId: 'dev1' }], pkt('cmd/a', 'one', { brokerCounter: 1, properties: { contentType: 'text/plain', correlationData: Buffer.from([1, 2]) }, messageExpiry: 1_900_000_000_000 }));
    await a.outgoingEnqueueCombi([{ clientId: 'dev1' }], pkt('cmd/b', 'two', { brokerCounter: 2 }));
    await a.outgoingUpdate(client, { ...pkt('cmd/a', 'one', { brokerCounter: 1 }), messageId: 42 });
    await a.incomingStorePacket(client, { ...pkt('up/x', 'q2', { qos: 2 }), messageId: 9 });
    await a.storeRetained(pkt('status/dev1', 'online', { retain: true }));
    await a.putWill(client, pkt('status/dev1', 'offline'));
    await a.setSessionExpiry('dev1', 1_900_000_000_000);
    await a.destroy();

    const b = new BrokerPersistence({ dir });
    await b.setup(broker);
    assert.deepEqual(await b.subscriptionsByClient(client), [{ topic: 'cmd/#', qos: 1, rh: 0, rap: false, nl: false, subscriptionIdentifier: 7 }]);
    assert.deepEqual((await b.subscriptionsByTopic('cmd/x')).map((s) => s.clientId), ['dev1']);
    const queued = await drain(b.outgoingStream(client));
    assert.deepEqual(queued.map((p) => [p.topic, p.payload.toString(), p.messageId]), [['cmd/a', 'one', 42], ['cmd/b', 'two', undefined]]);
    assert.equal(queued[0].properties?.contentType, 'text/plain');
    assert.deepEqual(queued[0].properties?.correlationData, Buffer.from([1, 2]));
    assert.equal(queued[0].messageExpiry, 1_900_000_000_000);
    assert.equal((await b.incomingGetPacket(client, { messageId: 9 })).payload.toString(), 'q2');
    assert.deepEqual((await drain(b.createRetainedStream('status/#'))).map((p) => p.payload.toString()), ['online']);
    assert.equal((await b.getWill(client))?.payload.toString(), 'offline');
    assert.deepEqual(b.sessionExpiries(), [['dev1', 1_900_000_000_000]]);
    await b.outgoingClearMessageId(client, { messageId: 42 });
    await b.dropSession('dev1');
    await b.destroy();

    const c = new BrokerPersistence({ dir });
    await c.setup(broker);
    assert.deepEqual(await c.subscriptionsByClient(client), []);
    assert.deepEqual(await drain(c.outgoingStream(client)), []);
    assert.equal(await c.getWill(client), undefined);
    assert.equal(c.stats().retained, 1, 'retained messages are not part of a session');
    await c.destroy();
  });

  test('a record torn by a crash mid-write is cut off; everything before it is kept', async () => {
    const dir = tempDir('us-bp-');
    const a = new BrokerPersistence({ dir });
    await a.setup(broker);
    await a.storeRetained(pkt('t/1', 'kept', { retain: true }));
    await a.destroy();
    const file = join(dir, 'broker-state.log');
    const good = statSync(file).size;
    appendFileSync(file, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    const b = new BrokerPersistence({ dir });
    await b.setup(broker);
    assert.equal(b.stats().retained, 1);
    assert.equal(statSync(file).size, good, 'the torn tail is gone');
    await b.storeRetained(pkt('t/2', 'after', { retain: true }));
    await b.destroy();
    const c = new BrokerPersistence({ dir });
    await c.setup(broker);
    assert.deepEqual((await drain(c.createRetainedStream('t/+'))).map((p) => p.payload.toString()).sort(), ['after', 'kept']);
    await c.destroy();
  });

  test('a log much larger than the state is rewritten as a snapshot', async () => {
    const dir = tempDir('us-bp-');
    const log = new StateLog<[string, number]>({ dir, minCompactBytes: 1000, compactFactor: 2 });
    log.open(() => undefined);
    for (let i = 0; i < 500; i++) await log.append(['v', i]);
    const before = log.size();
    log.maybeCompact(() => [['v', 499]]);
    assert.ok(log.size() < before / 10, `${log.size()} < ${before}`);
    await log.append(['v', 500]);
    log.close();
    const seen: Array<[string, number]> = [];
    const again = new StateLog<[string, number]>({ dir });
    again.open((op) => seen.push(op));
    again.close();
    assert.deepEqual(seen, [['v', 499], ['v', 500]]);
    assert.ok(readFileSync(join(dir, 'broker-state.log')).length > 0);
  });

  test('a session\'s queue is bounded: past maxQueued new messages are dropped and counted', async () => {
    const p = new BrokerPersistence({ maxQueued: 3 });
    await p.setup(broker);
    for (let i = 0; i < 5; i++) await p.outgoingEnqueueCombi([{ clientId: 'slow' }, { clientId: 'other' }], pkt('t', `m${i}`, { brokerCounter: i + 1 }));
    assert.deepEqual((await drain(p.outgoingStream({ id: 'slow' }))).map((x) => x.payload.toString()), ['m0', 'm1', 'm2']);
    assert.equal(p.stats().dropped, 4);
    await p.destroy();
  });
});
