/**
 * Clients that try a broker's refusals again (nodes/lib/mqtt/refused.ts), against a fake broker that answers
 * each CONNECT with the CONNACK the test gives it: a refused login is asked again until the broker takes it, a
 * refused MQTT version is not, and a client ended before the broker let it in ends its wait with a typed error
 * (a cluster member's, ClusterMemberStoppedError).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { connectRetrying, firstConnection } from '../../nodes/lib/mqtt/refused';
import { memberConnection } from '../../nodes/lib/cluster/connection';
import { ClusterMemberStoppedError, MqttClientEndedError } from '../../nodes/lib/errors';

/** MQTT 3.1.1 CONNACKs: accepted, 1 unacceptable protocol version, 5 not authorized. */
const ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const VERSION_REFUSED = Buffer.from([0x20, 0x02, 0x00, 0x01]);
const NOT_AUTHORIZED = Buffer.from([0x20, 0x02, 0x00, 0x05]);

interface FakeBroker {
  url: string;
  /** CONNECTs received so far. */
  connects(): number;
  /** Ends every connection (a broker restart, as its clients see it). */
  drop(): void;
}

/** Answers the n-th CONNECT (0-based) with answer(n), and keeps an accepted connection open. */
async function fakeBroker(t: TestContext, answer: (n: number) => Buffer): Promise<FakeBroker> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', () => {
      const a = answer(n++);
      if (a === ACCEPTED) s.write(a);
      else s.end(a);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    connects: () => n,
    drop: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

const nextError = (c: MqttClient) => new Promise<Error>((r) => c.once('error', r));

function client(t: TestContext, url: string, reconnectPeriod: number): MqttClient {
  const c = connectRetrying(url, { protocolVersion: 4, keepalive: 0, reconnectPeriod, connectTimeout: 10_000 });
  c.on('error', () => undefined);
  t.after(() => new Promise<void>((r) => c.end(true, {}, () => r())));
  return c;
}

test('a refused login is asked again until the broker takes it', async (t) => {
  const broker = await fakeBroker(t, (n) => (n < 2 ? NOT_AUTHORIZED : ACCEPTED));
  const refusals: string[] = [];
  const c = client(t, broker.url, 20);
  c.on('error', (err) => refusals.push(err.message));
  await firstConnection(c);
  assert.equal(broker.connects(), 3);
  assert.deepEqual(refusals, ['Connection refused: Not authorized', 'Connection refused: Not authorized']);
});

test('a refused MQTT version is not asked again, and the wait for the first connection ends with it', async (t) => {
  const broker = await fakeBroker(t, () => VERSION_REFUSED);
  const c = client(t, broker.url, 20);
  await assert.rejects(firstConnection(c), /Unacceptable protocol version/);
  let reconnects = 0;
  c.on('reconnect', () => reconnects++);
  // Only MQTT.js's reconnect timer is the test's: however long it is left, no attempt is scheduled.
  t.mock.timers.enable({ apis: ['setInterval'] });
  t.mock.timers.tick(3_600_000);
  assert.equal(reconnects, 0);
  assert.equal(broker.connects(), 1);
});

test('a client ended before the broker let it in ends the wait with MqttClientEndedError, a member ClusterMemberStoppedError', async (t) => {
  const broker = await fakeBroker(t, () => NOT_AUTHORIZED);
  const a = client(t, broker.url, 20);
  const waiting = firstConnection(a);
  await nextError(a);
  a.end(true);
  await assert.rejects(waiting, MqttClientEndedError);
  const b = client(t, broker.url, 20);
  const member = memberConnection(b);
  await nextError(b);
  b.end(true);
  await assert.rejects(member, ClusterMemberStoppedError);
});
