/** MQTT 5 scenarios: maximum packet size and flow control (Receive Maximum), both ways. */
import assert from 'node:assert/strict';
import { rawConnect } from './mqtt-raw';
import { until, type ScenarioKit } from './mqtt5-kit';

export function limitScenarios(k: ScenarioKit): void {
  const { client, collect, scenario } = k;

  // ---- maximum packet size ----

  scenario('a packet over the broker\'s maximum is refused with 0x95 Packet too large', { maximumPacketSize: 1024 }, async () => {
    const sub = await client('big-watch');
    const got = collect(sub);
    await sub.subscribeAsync('big/#', { qos: 1 });
    const { client: dev, connack } = await rawConnect(k.broker!.port, { clientId: 'big' });
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
    const { client: small } = await rawConnect(k.broker!.port, { clientId: 'small', properties: { maximumPacketSize: 128 } });
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
    const { client: slow } = await rawConnect(k.broker!.port, { clientId: 'slow', properties: { receiveMaximum: 2 } });
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
    const { client: greedy, connack } = await rawConnect(k.broker!.port, { clientId: 'greedy' });
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
    const { client: fine } = await rawConnect(k.broker!.port, { clientId: 'fine' });
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
}
