/** MQTT 5 scenarios: sessions and offline queueing across reconnects and broker restarts; message expiry. */
import assert from 'node:assert/strict';
import { sleep, until, type ScenarioKit } from './mqtt5-kit';

export function sessionScenarios(k: ScenarioKit): void {
  const { client, collect, resume, scenario, open } = k;

  // ---- sessions and offline queueing ----

  scenario('QoS 1 and 2 messages wait for a persistent session that is offline', {}, async () => {
    const a = await client('offline-a', { properties: { sessionExpiryInterval: 300 } });
    await a.subscribeAsync('queue/+', { qos: 2 });
    await a.endAsync();
    const b = await client('offline-b');
    await b.publishAsync('queue/q0', 'qos 0', { qos: 0 });
    await b.publishAsync('queue/q1', 'qos 1', { qos: 1 });
    await b.publishAsync('queue/q2', 'qos 2', { qos: 2 });
    // Back without a session expiry of its own: the session it resumes still has its messages.
    const { got, sessionPresent } = await resume('offline-a', { clean: false });
    assert.equal(sessionPresent, true);
    await until(() => got.length >= 2 || undefined, 'the queued messages');
    await sleep(300);
    const byTopic = Object.fromEntries(got.map((g) => [g.topic, g]));
    assert.equal(byTopic['queue/q1']?.payload, 'qos 1');
    assert.equal(byTopic['queue/q1']?.qos, 1);
    assert.equal(byTopic['queue/q2']?.payload, 'qos 2');
    assert.equal(byTopic['queue/q2']?.qos, 2);
    assert.ok(got.length <= 3, 'each message once');
  });

  scenario('a clean start throws the old session and its queue away', {}, async () => {
    const a = await client('fresh', { properties: { sessionExpiryInterval: 300 } });
    await a.subscribeAsync('fresh/+', { qos: 1 });
    await a.endAsync();
    const b = await client('fresh-pub');
    await b.publishAsync('fresh/x', 'stale', { qos: 1 });
    const { c: again, got, sessionPresent } = await resume('fresh', { clean: true });
    assert.equal(sessionPresent, false);
    await again.subscribeAsync('fresh/+', { qos: 1 });
    await b.publishAsync('fresh/x', 'new', { qos: 1 });
    await until(() => got.find((g) => g.payload === 'new'), 'the new message');
    assert.deepEqual(got.map((g) => g.payload), ['new']);
  });

  scenario('sessions and queued QoS 1/2 messages survive a broker restart', { persistent: true }, async () => {
    const a = await client('restart-a', { clean: false, properties: { sessionExpiryInterval: 3600 } });
    await a.subscribeAsync('keep/+', { qos: 2 });
    await a.endAsync();
    const b = await client('restart-b');
    await b.publishAsync('keep/one', 'kept 1', { qos: 1 });
    await b.publishAsync('keep/two', 'kept 2', { qos: 2 });
    await b.publishAsync('keep/retained', 'last value', { qos: 1, retain: true });
    await b.endAsync();
    open.length = 0;
    await k.broker!.restart();
    const { got, sessionPresent } = await resume('restart-a', { clean: false, properties: { sessionExpiryInterval: 3600 } });
    assert.equal(sessionPresent, true, 'the session outlived the restart');
    await until(() => got.length >= 3 || undefined, 'the queued messages after the restart');
    const payloads = got.map((g) => g.payload).sort();
    assert.deepEqual(payloads, ['kept 1', 'kept 2', 'last value']);
    const fresh = await client('restart-c');
    const late = collect(fresh);
    await fresh.subscribeAsync('keep/retained', { qos: 1 });
    const r = await until(() => late.find((g) => g.retain), 'the retained message after the restart');
    assert.equal(r.payload, 'last value');
  });

  // ---- message expiry ----

  scenario('an expired message is not delivered; the rest carry their remaining lifetime', {}, async () => {
    const a = await client('exp-a', { properties: { sessionExpiryInterval: 300 } });
    await a.subscribeAsync('exp/t', { qos: 2 });
    await a.endAsync();
    const b = await client('exp-b');
    await b.publishAsync('exp/t', 'qos 1 - expire', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await b.publishAsync('exp/t', 'qos 2 - expire', { qos: 2, properties: { messageExpiryInterval: 1 } });
    await b.publishAsync('exp/t', 'qos 1 - keep', { qos: 1, properties: { messageExpiryInterval: 30 } });
    await b.publishAsync('exp/t', 'qos 2 - keep', { qos: 2, properties: { messageExpiryInterval: 30 } });
    await sleep(2200);
    const { got } = await resume('exp-a', { clean: false });
    await until(() => got.length >= 2 || undefined, 'the messages that did not expire');
    await sleep(300);
    assert.deepEqual(got.map((g) => g.payload).sort(), ['qos 1 - keep', 'qos 2 - keep']);
    for (const g of got) {
      const left = g.properties?.messageExpiryInterval as number;
      assert.ok(left >= 1 && left < 30, `remaining lifetime forwarded, got ${left}`);
    }
  });
}
