/** MQTT 5 scenarios: shared subscriptions; MQTT 3.1.1 clients behave as they did. */
import assert from 'node:assert/strict';
import { rawConnect } from './mqtt-raw';
import { sleep, until, type ScenarioKit } from './mqtt5-kit';

export function sharedScenarios(k: ScenarioKit): void {
  const { client, collect, resume, scenario } = k;

  // ---- shared subscriptions ----

  scenario('a shared subscription hands each message to one member of the group', {}, async () => {
    const a = await client('share-a');
    const b = await client('share-b');
    const gotA = collect(a);
    const gotB = collect(b);
    for (const c of [a, b]) {
      const granted = await c.subscribeAsync(['$share/workers/jobs/#', 'all/t'], { qos: 1 });
      assert.deepEqual(granted.map((g) => g.qos), [1, 1]);
    }
    const pub = await client('share-pub');
    await pub.publishAsync('all/t', 'to everyone', { qos: 1 });
    await until(() => gotA.length === 1 && gotB.length === 1 || undefined, 'the ordinary subscription at both');
    gotA.length = 0;
    gotB.length = 0;
    for (let i = 0; i < 20; i++) await pub.publishAsync(`jobs/${i}`, `job ${i}`, { qos: 1 });
    await until(() => gotA.length + gotB.length >= 20 || undefined, 'twenty jobs');
    await sleep(300);
    const all = [...gotA, ...gotB].map((g) => g.payload).sort();
    assert.equal(all.length, 20, 'each job once');
    assert.equal(new Set(all).size, 20);
    assert.ok(gotA.length > 0 && gotB.length > 0, `both members get work (${gotA.length}/${gotB.length})`);
    assert.ok([...gotA, ...gotB].every((g) => g.topic.startsWith('jobs/')), 'delivered under the topic it was published to');
  });

  scenario('when a member leaves, the group\'s messages go to the others', {}, async () => {
    const a = await client('leave-a');
    const b = await client('leave-b');
    const gotA = collect(a);
    for (const c of [a, b]) await c.subscribeAsync('$share/g/leave/t', { qos: 1 });
    await b.endAsync();
    const pub = await client('leave-pub');
    for (let i = 0; i < 6; i++) await pub.publishAsync('leave/t', `m${i}`, { qos: 1 });
    await until(() => gotA.length >= 6 || undefined, 'all six at the member that stayed');
  });

  scenario('messages a member leaves unacknowledged when its session ends go to another member', {}, async () => {
    const a = await client('redis-a');
    const gotA = collect(a);
    await a.subscribeAsync('$share/g/redis/t', { qos: 1 });
    const { client: b } = await rawConnect(k.broker!.port, { clientId: 'redis-b' });
    b.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/redis/t', qos: 1 }] });
    await b.next((p) => p.cmd === 'suback');
    const pub = await client('redis-pub');
    for (let i = 0; i < 6; i++) await pub.publishAsync('redis/t', `m${i}`, { qos: 1 });
    // b takes its share and never acknowledges it, then drops off (its session ends with the connection).
    await until(() => b.received.some((p) => p.cmd === 'publish') || undefined, 'a message at b');
    const atB = b.received.filter((p) => p.cmd === 'publish').map((p) => String(p.payload));
    b.end();
    await until(() => gotA.length >= 6 || undefined, 'all six at a, including what b left unacknowledged');
    const payloads = gotA.map((g) => g.payload);
    for (const m of atB) assert.ok(payloads.includes(m), `${m} went on to a`);
  });

  scenario('unsubscribing from a shared subscription leaves the group', {}, async () => {
    const a = await client('unsub-a');
    const b = await client('unsub-b');
    const gotA = collect(a);
    const gotB = collect(b);
    for (const c of [a, b]) await c.subscribeAsync('$share/g/unsub/t', { qos: 1 });
    const res = await b.unsubscribeAsync('$share/g/unsub/t');
    assert.equal((res as unknown as { reasonCode?: number } | undefined)?.reasonCode ?? 0, 0);
    const pub = await client('unsub-pub');
    for (let i = 0; i < 4; i++) await pub.publishAsync('unsub/t', `m${i}`, { qos: 1 });
    await until(() => gotA.length >= 4 || undefined, 'all four at the remaining member');
    await sleep(200);
    assert.equal(gotB.length, 0);
  });

  // ---- MQTT 3.1.1 stays as it was ----

  scenario('MQTT 3.1.1: QoS 0/1/2, retained messages and a persistent session', {}, async () => {
    const v4 = { protocolVersion: 4 as const };
    const a = await client('v4-a', { ...v4, clean: false });
    await a.subscribeAsync('v4/+', { qos: 2 });
    const got = collect(a);
    const b = await client('v4-b', v4);
    for (const qos of [0, 1, 2] as const) await b.publishAsync(`v4/q${qos}`, `qos ${qos}`, { qos });
    await until(() => got.length >= 3 || undefined, 'three messages');
    await a.endAsync();
    await b.publishAsync('v4/offline', 'while away', { qos: 1 });
    await b.publishAsync('v4/retained', 'kept', { qos: 1, retain: true });
    const { got: later } = await resume('v4-a', { ...v4, clean: false });
    await until(() => later.find((g) => g.payload === 'while away'), 'the queued message');
    const c = await client('v4-c', v4);
    const retained = collect(c);
    await c.subscribeAsync('v4/retained', { qos: 1 });
    const r = await until(() => retained.find((g) => g.retain), 'the retained message');
    assert.equal(r.payload, 'kept');
  });
}
