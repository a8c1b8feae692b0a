/**
 * kill -9 during an HTTP and a CoAP stream: every request answered 202 / 2.04
 * before the kill is stored after the restart (the journal replays what the
 * store had not yet settled).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { eventually, startRuntime } from '../helpers/runtime';

// Recent times: the default pack keeps raw readings for 30 days, and a restart runs the retention pass.
const T0 = Date.now() - 3_600_000;

async function storedTimes(get: (p: string) => Promise<Response>, device: string): Promise<Set<number>> {
  const times = new Set<number>();
  let cursor = '';
  for (;;) {
    const res = await get(`/api/v1/readings?device=${device}&limit=10000${cursor ? `&cursor=${cursor}` : ''}`);
    const body = (await res.json()) as { readings: Array<{ ts: string }>; next?: string };
    for (const r of body.readings) times.add(Date.parse(r.ts));
    if (!body.next) return times;
    cursor = body.next;
  }
}

test('kill -9 mid-stream: every HTTP request answered 202 and every CoAP request answered 2.04 is stored after restart', async () => {
  const rt = await startRuntime();
  const httpAcked = new Set<number>();
  const coapAcked = new Set<number>();
  let stop = false;

  const http = (async () => {
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; !stop; i += 8) {
        try {
          const res = await fetch(`${rt.url}/ingest/crash-h`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ ts: T0 + i, v: i }]) });
          if (res.status === 202) httpAcked.add(T0 + i);
        } catch {
          return; // the runtime is gone
        }
      }
    });
    await Promise.all(workers);
  })();

  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<number, number>();
  sock.on('message', (m) => {
    const p = parse(m);
    if (p.code === '2.04') {
      const ts = pending.get(p.token.readUInt32BE(0));
      if (ts !== undefined) coapAcked.add(ts);
    }
    if (p.confirmable && !p.ack) sock.send(generate({ messageId: p.messageId, ack: true, code: '0.00' }), rt.coapPort, '127.0.0.1');
  });
  const coap = (async () => {
    for (let i = 0; !stop; i++) {
      const token = Buffer.alloc(4);
      token.writeUInt32BE(i);
      pending.set(i, T0 + i);
      sock.send(generate({ code: 'POST', messageId: i % 65536, token, confirmable: true, payload: Buffer.from(JSON.stringify({ ts: T0 + i, v: i })), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('crash-c') }, { name: 'Content-Format', value: Buffer.from([50]) }] }), rt.coapPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 1));
    }
  })();

  await eventually(async () => (httpAcked.size > 300 && coapAcked.size > 300 ? true : undefined), 60_000, 'answered requests');
  await rt.kill9();
  stop = true;
  await Promise.all([http, coap]);
  sock.close();
  const answeredHttp = [...httpAcked];
  const answeredCoap = [...coapAcked];

  const again = await startRuntime({ dataDir: rt.dataDir });
  try {
    for (const [device, answered] of [['crash-h', answeredHttp], ['crash-c', answeredCoap]] as const) {
      const times = await eventually(async () => {
        const t = await storedTimes(again.get, device);
        return answered.every((ts) => t.has(ts)) ? t : undefined;
      }, 60_000, `every answered ${device} request stored`);
      const missing = answered.filter((ts) => !times.has(ts));
      assert.deepEqual(missing, [], `${device}: ${missing.length} of ${answered.length} answered requests missing`);
    }
  } finally {
    await again.stop();
  }
});
