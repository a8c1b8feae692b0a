/**
 * The MQTT 5 behaviour devices rely on, as test scenarios that run against any
 * broker: the embedded one (test/unit) and Debian's mosquitto (test/integration),
 * so a scenario that passes on mosquitto shows the test itself asks for what a
 * mature broker does. Modelled on the situations of the Eclipse Paho MQTT 5
 * interoperability tests (will, will delay, offline queueing, message expiry,
 * maximum packet size, flow control, shared subscriptions), each against a
 * fresh broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { rawConnect, type RawPacket } from './mqtt-raw';

export interface BrokerUnderTest {
  port: number;
  /** Stops the broker and starts it again on the same port with the same stored state. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Largest packet the broker accepts (advertised in CONNACK). */
  maximumPacketSize?: number;
  /** QoS 1/2 publishes a client may have unacknowledged towards the broker (advertised in CONNACK). */
  receiveMaximum?: number;
  /** Sessions, queued and retained messages kept across restart(). */
  persistent?: boolean;
}

export type StartTarget = (opts: TargetOptions) => Promise<BrokerUnderTest>;

export interface ScenarioOptions {
  /** Scenarios this broker is known not to support, by name, with the reason shown in the test name. */
  unsupported?: Record<string, string>;
}

interface Got {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  properties?: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function defineScenarios(name: string, start: StartTarget, sopts: ScenarioOptions = {}): void {
  const open: MqttClient[] = [];
  let broker: BrokerUnderTest | undefined;

  const client = async (clientId: string, o: IClientOptions = {}) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker!.port}`, { protocolVersion: 5, clientId, reconnectPeriod: 0, ...o });
    open.push(c);
    return c;
  };
  const collect = (c: MqttClient) => {
    const got: Got[] = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, properties: packet.properties as Record<string, unknown> | undefined }));
    return got;
  };
  /** Connects and collects what arrives from the first packet on, with the CONNACK's session present flag. */
  const resume = async (clientId: string, o: IClientOptions = {}) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${broker!.port}`, { protocolVersion: 5, clientId, reconnectPeriod: 0, ...o });
    open.push(c);
    const got = collect(c);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      c.once('connect', (p) => resolve(p as { sessionPresent: boolean }));
      c.once('error', reject);
    });
    return { c, got, sessionPresent: connack.sessionPresent };
  };
  /** Drops the network connection without DISCONNECT, as a device losing power does. */
  const kill = (c: MqttClient) => c.stream.destroy();

  const scenario = (title: string, opts: TargetOptions, fn: () => Promise<void>) => {
    const reason = sopts.unsupported?.[title];
    test(`${name}: ${title}${reason ? ` (not supported: ${reason})` : ''}`, async () => {
      broker = await start(opts);
      try {
        if (reason) {
          await assert.rejects(fn(), `${name} was expected to fail "${title}" (${reason}); it passes now, so drop it from the list`);
        } else {
          await fn();
        }
      } finally {
        for (const c of open.splice(0)) c.end(true);
        await broker.stop();
        broker = undefined;
      }
    });
  };

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
    const { client: quiet } = await rawConnect(broker!.port, { clientId: 'quiet', keepalive: 1, will: { topic: 'status/quiet', payload: Buffer.from('gone'), qos: 1, retain: false } });
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
    const { client: first } = await rawConnect(broker!.port, { clientId: 'twin', will: { topic: 'status/twin', payload: Buffer.from('first gone'), qos: 1, retain: false } });
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
    const { client: old } = await rawConnect(broker!.port, {
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
    await broker!.restart();
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

  // ---- maximum packet size ----

  scenario('a packet over the broker\'s maximum is refused with 0x95 Packet too large', { maximumPacketSize: 1024 }, async () => {
    const sub = await client('big-watch');
    const got = collect(sub);
    await sub.subscribeAsync('big/#', { qos: 1 });
    const { client: dev, connack } = await rawConnect(broker!.port, { clientId: 'big' });
    try {
      assert.equal((connack.properties as Record<string, unknown>)?.maximumPacketSize, 1024, 'advertised in CONNACK');
      dev.send({ cmd: 'publish', topic: 'big/t', payload: Buffer.alloc(2000, 0x2e), qos: 1, messageId: 1 });
      const d = await dev.next((p) => p.cmd === 'disconnect' || p.cmd === 'puback');
      assert.equal(d.cmd, 'disconnect');
      assert.equal(d.reasonCode, 0x95);
      await dev.closed;
      await sub.publishAsync('big/marker', 'x', { qos: 1 });
      await until(() => got.find((g) => g.topic === 'big/marker'), 'the marker');
      assert.equal(got.filter((g) => g.topic === 'big/t').length, 0, 'the oversized message was not delivered');
    } finally {
      dev.end();
    }
  });

  scenario('the broker never sends a client more than its Maximum Packet Size', {}, async () => {
    const { client: small } = await rawConnect(broker!.port, { clientId: 'small', properties: { maximumPacketSize: 128 } });
    try {
      small.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mps/t', qos: 1 }] });
      await small.next((p) => p.cmd === 'suback');
      const pub = await client('mps-pub');
      await pub.publishAsync('mps/t', Buffer.alloc(32, 0x2e), { qos: 0 });
      await pub.publishAsync('mps/t', Buffer.alloc(200, 0x2e), { qos: 1 });
      await pub.publishAsync('mps/t', Buffer.alloc(40, 0x2f), { qos: 1 });
      const p1 = await small.next((p) => p.cmd === 'publish');
      assert.equal((p1.payload as Buffer).length, 32);
      const p2 = await small.next((p) => p.cmd === 'publish');
      assert.equal((p2.payload as Buffer).length, 40, 'the oversized one is skipped, the next still comes');
      small.send({ cmd: 'puback', messageId: p2.messageId });
      assert.equal(await small.arrives((p) => p.cmd === 'publish', 500), false);
      assert.ok(small.received.every((p) => p.cmd !== 'publish' || (p.payload as Buffer).length < 128));
    } finally {
      small.end();
    }
  });

  // ---- flow control ----

  scenario('the broker keeps no more than the client\'s Receive Maximum in flight', {}, async () => {
    const { client: slow } = await rawConnect(broker!.port, { clientId: 'slow', properties: { receiveMaximum: 2 } });
    try {
      slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flow/t', qos: 2 }] });
      await slow.next((p) => p.cmd === 'suback');
      const pub = await client('flow-pub');
      for (let i = 1; i <= 5; i++) await pub.publishAsync('flow/t', `m${i}`, { qos: 1 });
      const first = await slow.next((p) => p.cmd === 'publish');
      const second = await slow.next((p) => p.cmd === 'publish');
      assert.equal(await slow.arrives((p) => p.cmd === 'publish', 700), false, 'a third waits until one is acknowledged');
      slow.send({ cmd: 'puback', messageId: first.messageId });
      const third = await slow.next((p) => p.cmd === 'publish');
      assert.equal(await slow.arrives((p) => p.cmd === 'publish', 500), false);
      slow.send({ cmd: 'puback', messageId: second.messageId });
      slow.send({ cmd: 'puback', messageId: third.messageId });
      const fourth = await slow.next((p) => p.cmd === 'publish');
      const fifth = await slow.next((p) => p.cmd === 'publish');
      assert.deepEqual([first, second, third, fourth, fifth].map((p) => String(p.payload)), ['m1', 'm2', 'm3', 'm4', 'm5'], 'in order');
      slow.send({ cmd: 'puback', messageId: fourth.messageId });
      slow.send({ cmd: 'puback', messageId: fifth.messageId });
    } finally {
      slow.end();
    }
  });

  scenario('a client over the broker\'s Receive Maximum is disconnected with 0x93', { receiveMaximum: 5 }, async () => {
    const { client: greedy, connack } = await rawConnect(broker!.port, { clientId: 'greedy' });
    try {
      assert.equal((connack.properties as Record<string, unknown>)?.receiveMaximum, 5, 'advertised in CONNACK');
      // QoS 2 without PUBREL: each stays in flight until the client completes it.
      for (let i = 1; i <= 6; i++) greedy.send({ cmd: 'publish', topic: 'greedy/t', payload: Buffer.from(`m${i}`), qos: 2, messageId: i });
      const d = await greedy.next((p) => p.cmd === 'disconnect');
      assert.equal(d.reasonCode, 0x93);
      await greedy.closed;
    } finally {
      greedy.end();
    }
  });

  scenario('a client within the broker\'s Receive Maximum is served normally', { receiveMaximum: 5 }, async () => {
    const { client: fine } = await rawConnect(broker!.port, { clientId: 'fine' });
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 1; i <= 5; i++) fine.send({ cmd: 'publish', topic: 'fine/t', payload: Buffer.from(`m${i}`), qos: 2, messageId: round * 5 + i });
        for (let i = 1; i <= 5; i++) {
          const rec = await fine.next((p) => p.cmd === 'pubrec');
          fine.send({ cmd: 'pubrel', messageId: rec.messageId });
          await fine.next((p) => p.cmd === 'pubcomp' && p.messageId === rec.messageId);
        }
      }
      assert.equal(fine.isClosed(), false);
    } finally {
      fine.end();
    }
  });

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
    const { client: b } = await rawConnect(broker!.port, { clientId: 'redis-b' });
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

export type { RawPacket };
