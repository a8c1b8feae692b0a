/**
 * Clients that try a broker's refusals again (nodes/lib/mqtt/refused.ts), against a fake broker that answers
 * each CONNECT with the CONNACK the test gives it: a refused login is asked again until the broker takes it, a
 * refused MQTT version is not, refusals in a row are asked again later and later (up to 30 s, back to the
 * client's period once it is in), and a client ended before the broker let it in ends its wait with a typed error
 * (a cluster member's, ClusterMemberStoppedError).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { REFUSED_MAX_WAIT_MS, connectRetrying, firstConnection, refusedWait } from '../../nodes/lib/mqtt/refused';
import { memberConnection } from '../../nodes/lib/cluster/connection';
import { ClusterMemberStoppedError, MqttClientEndedError } from '../../nodes/lib/errors';

/** MQTT 3.1.1 CONNACKs: accepted, 1 unacceptable protocol version, 5 not authorized. */
const ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const VERSION_REFUSED = Buffer.from([0x20, 0x02, 0x00, 0x01]);
const NOT_AUTHORIZED = Buffer.from([0x20, 0x02, 0x00, 0x05]);
/** No CONNACK at all: the connection is closed, as by a broker going down. */
const HANG_UP = Buffer.alloc(0);

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
      else if (a === HANG_UP) s.destroy();
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
  const clock = testClock(t);
  const c = client(t, broker.url, 20);
  let reconnects = 0;
  c.on('reconnect', () => reconnects++);
  await assert.rejects(firstConnection(c), /Unacceptable protocol version/);
  // However long it is left, no attempt is scheduled.
  clock.tick(3_600_000);
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

test('the wait after each refusal in a row doubles from the reconnect period up to 30 s', () => {
  assert.equal(REFUSED_MAX_WAIT_MS, 30_000);
  const schedule = (period: number, n: number) => Array.from({ length: n }, (_, i) => refusedWait(period, i + 1));
  // The cluster member's clients.
  assert.deepEqual(schedule(1000, 8), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  // The external connection (upperstack-mqtt-connection).
  assert.deepEqual(schedule(2000, 6), [2000, 4000, 8000, 16_000, 30_000, 30_000]);
  // A period longer than the cap is kept: a refusal is never asked again sooner than a broker that is down.
  assert.deepEqual(schedule(60_000, 2), [60_000, 60_000]);
});

/**
 * MQTT.js's reconnect timer (its only setInterval here: no keepalive) on a clock of the test's, which `tick`
 * moves. node:test's mock timers would do, but the one of Node 20 brings back an interval cleared in its own
 * callback, which MQTT.js's is (each attempt clears it).
 */
function testClock(t: TestContext): { tick(ms: number): void } {
  let now = 0;
  let next = 0;
  const timers = new Map<number, { at: number; ms: number; fn: () => void }>();
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  globalThis.setInterval = ((fn: () => void, ms: number) => {
    timers.set(++next, { at: now + ms, ms, fn });
    return next;
  }) as unknown as typeof setInterval;
  globalThis.clearInterval = ((id: unknown) => {
    if (typeof id === 'number') timers.delete(id);
    else realClear(id as NodeJS.Timeout);
  }) as typeof clearInterval;
  t.after(() => {
    globalThis.setInterval = realSet;
    globalThis.clearInterval = realClear;
  });
  return {
    tick(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        const [id, x] = due;
        now = x.at;
        x.fn();
        // Cleared in its callback: gone; else it comes again a period later.
        if (timers.get(id) === x) x.at += x.ms;
      }
      now = end;
    },
  };
}

/**
 * The client's attempts as MQTT.js's reconnect timer, on the test's clock, makes them: every failed attempt
 * ends with its socket's close, by which time the next one is scheduled.
 */
function attempts(t: TestContext, c: MqttClient) {
  const clock = testClock(t);
  let reconnects = 0;
  let closes = 0;
  c.on('reconnect', () => reconnects++);
  c.on('close', () => closes++);
  return {
    /** Resolves once `k` attempts have ended (real I/O: polled on the event loop). */
    async ended(k: number): Promise<void> {
      while (closes < k) await new Promise((r) => setImmediate(r));
    },
    /** The next attempt comes exactly `ms` after the last one ended. */
    next(ms: number, what: string): void {
      const before = reconnects;
      clock.tick(ms - 1);
      assert.equal(reconnects, before, `${what}: no attempt before ${ms} ms`);
      clock.tick(1);
      assert.equal(reconnects, before + 1, `${what}: the attempt at ${ms} ms`);
    },
  };
}

test('a client refused again and again asks later and later, and from the period again once it was let in', async (t) => {
  // Refused 8 times (a wrong password), let in; after a broker restart refused once more, then let in.
  const broker = await fakeBroker(t, (n) => (n === 8 || n === 10 ? ACCEPTED : NOT_AUTHORIZED));
  const c = client(t, broker.url, 1000);
  const a = attempts(t, c);
  const waits = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
  for (const [i, ms] of waits.entries()) {
    await a.ended(i + 1);
    a.next(ms, `refusal ${i + 1}`);
  }
  await firstConnection(c);
  assert.equal(broker.connects(), 9);

  broker.drop();
  await a.ended(9);
  a.next(1000, 'the broker gone');
  await a.ended(10);
  a.next(1000, 'the first refusal after being let in');
  await firstConnection(c);
  assert.equal(broker.connects(), 11);
});

test('a broker that goes down between refusals is tried again after the period; the refusals go on doubling', async (t) => {
  const answers = [NOT_AUTHORIZED, NOT_AUTHORIZED, HANG_UP, NOT_AUTHORIZED, ACCEPTED];
  const broker = await fakeBroker(t, (n) => answers[n] ?? ACCEPTED);
  const c = client(t, broker.url, 1000);
  const a = attempts(t, c);
  for (const [i, ms] of [1000, 2000, 1000, 4000].entries()) {
    await a.ended(i + 1);
    a.next(ms, `attempt ${i + 1}`);
  }
  await firstConnection(c);
  assert.equal(broker.connects(), 5);
});
