/** MQTT 5 scenarios: will messages: published on a dropped connection, with their properties, delay and session takeover. */
import assert from 'node:assert/strict';
import { rawConnect } from './mqtt-raw';
import { sleep, until, type ScenarioKit } from './mqtt5-kit';

export function willScenarios(k: ScenarioKit): void {
  const { client, collect, kill, scenario } = k;

  // ---- will messages ----

  scenario('a client that drops off gets its will published, with its properties', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/dev1', { qos: 2 });
    const dev = await client('dev1', {
      will: { topic: 'status/dev1', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { contentType: 'text/plain', userProperties: { a: '2', c: '3' } } },
    });
    kill(dev);
    const will = await until(() => got.find((g) => g.topic === 'status/dev1'), 'the will');
    assert.equal(will.payload, 'offline');
    assert.equal(will.properties?.contentType, 'text/plain');
    assert.deepEqual({ ...(will.properties?.userProperties as object) }, { a: '2', c: '3' });
    assert.equal(will.properties?.willDelayInterval, undefined, 'the Will Delay Interval is not a PUBLISH property');
  });

  scenario('the will comes when the keep alive runs out', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/quiet', { qos: 1 });
    // A raw client sends no PINGREQ: after 1.5 × keep alive without a packet the broker gives up on it.
    const { client: quiet } = await rawConnect(k.broker!.port, { clientId: 'quiet', keepalive: 1, will: { topic: 'status/quiet', payload: Buffer.from('gone'), qos: 1, retain: false } });
    try {
      const will = await until(() => got.find((g) => g.topic === 'status/quiet'), 'the will after the keep alive', 10_000);
      assert.equal(will.payload, 'gone');
      await quiet.closed;
    } finally {
      quiet.end();
    }
  });

  scenario('no will after a normal DISCONNECT; a will after DISCONNECT with reason 0x04', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/#', { qos: 1 });
    const polite = await client('polite', { will: { topic: 'status/polite', payload: Buffer.from('offline'), qos: 1, retain: false } });
    await polite.endAsync();
    const withWill = await client('withwill', { will: { topic: 'status/withwill', payload: Buffer.from('offline'), qos: 1, retain: false } });
    withWill.end(false, { reasonCode: 0x04 });
    await until(() => got.find((g) => g.topic === 'status/withwill'), 'the will asked for with 0x04');
    // A round trip after it: had the polite client's will been sent, it would be here by now.
    await sub.publishAsync('status/marker', 'x', { qos: 1 });
    await until(() => got.find((g) => g.topic === 'status/marker'), 'the marker');
    assert.equal(got.filter((g) => g.topic === 'status/polite').length, 0);
  });

  scenario('a will with a delay is published after the delay, not at once', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/slow', { qos: 1 });
    const dev = await client('slow', {
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'status/slow', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 3 } },
    });
    kill(dev);
    await sleep(1000);
    assert.equal(got.length, 0, 'the will waits for its delay');
    await until(() => got.find((g) => g.topic === 'status/slow'), 'the delayed will', 10_000);
  });

  scenario('the will delay is cut short by a shorter session expiry', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/short', { qos: 1 });
    const dev = await client('short', {
      properties: { sessionExpiryInterval: 1 },
      will: { topic: 'status/short', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 120 } },
    });
    kill(dev);
    // Within a few seconds, not after 120: the session ended after 1 s and took the will with it.
    await until(() => got.find((g) => g.topic === 'status/short'), 'the will at session end', 8_000);
  });

  scenario('a device that comes back within the will delay suppresses its will', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/#', { qos: 1 });
    const will = { topic: 'status/back', payload: Buffer.from('offline'), qos: 1 as const, retain: false, properties: { willDelayInterval: 2 } };
    const dev = await client('back', { clean: false, properties: { sessionExpiryInterval: 60 }, will });
    kill(dev);
    await sleep(300);
    await client('back', { clean: false, properties: { sessionExpiryInterval: 60 }, will });
    await sleep(3000);
    await sub.publishAsync('status/marker', 'x', { qos: 1 });
    await until(() => got.find((g) => g.topic === 'status/marker'), 'the marker');
    assert.equal(got.filter((g) => g.topic === 'status/back').length, 0, 'no will: the session went on');
  });

  scenario('a session taken over by a new connection: the old one is closed (DISCONNECT 0x8E if any) and its will is published', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/twin', { qos: 1 });
    const { client: first } = await rawConnect(k.broker!.port, { clientId: 'twin', will: { topic: 'status/twin', payload: Buffer.from('first gone'), qos: 1, retain: false } });
    try {
      await client('twin');
      await first.closed;
      // MQTT 5 §4.13: the broker may say why before it closes; if it does, the reason is 0x8E.
      const disconnect = first.received.find((p) => p.cmd === 'disconnect');
      if (disconnect) assert.equal(disconnect.reasonCode, 0x8e);
      const w = await until(() => got.find((g) => g.topic === 'status/twin'), 'the first connection\'s will');
      assert.equal(w.payload, 'first gone');
    } finally {
      first.end();
    }
  });

  scenario('a takeover with Clean Start ends the old session: its delayed will is published then', {}, async () => {
    const sub = await client('watcher');
    const got = collect(sub);
    await sub.subscribeAsync('status/restarted', { qos: 1 });
    const { client: old } = await rawConnect(k.broker!.port, {
      clientId: 'restarted',
      properties: { sessionExpiryInterval: 300 },
      will: { topic: 'status/restarted', payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: 60 } },
    });
    try {
      // The device rebooted and connects afresh before the broker noticed the old connection was gone.
      await client('restarted', { clean: true });
      await until(() => got.find((g) => g.topic === 'status/restarted'), 'the will of the ended session', 8_000);
    } finally {
      old.end();
    }
  });
}
