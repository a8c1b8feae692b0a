/**
 * upperstack-http-in's readings mark: a request counts the readings it holds,
 * so an input whose readings are not settled (helper nodes settle nothing)
 * answers 503 once the readings in flight reach the mark, well before the
 * request mark.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import helper from 'node-red-node-test-helper';
import { tempDir } from '../helpers/temp';
import { intakeStats } from '../../nodes/lib/ingest';

/* eslint-disable @typescript-eslint/no-require-imports */
const httpIn = require('../../nodes/http-in/http-in');

helper.init(require.resolve('node-red'));

let loads = 0;

before(async () => {
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: tempDir('us-http-marks-') } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

const batch = (device: string, n: number, from: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ device, ts: 1_700_000_000_000 + from + i, t: i })));

async function post(device: string, body: string): Promise<{ status: number; body: { accepted?: number; error?: { code: string; message: string } }; retryAfter: string | null }> {
  const res = await fetch(`${(helper as unknown as { url(): string }).url()}/ingest/${device}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, body: (await res.json()) as { accepted?: number }, retryAfter: res.headers.get('retry-after') };
}

test('100-reading requests pause the input at its readings mark: 503 with Retry-After naming the readings', async () => {
  // A fresh input (and journal) per load: nothing here is ever settled.
  const id = `h${++loads}`;
  await helper.load([httpIn], [
    { id, type: 'upperstack-http-in', highWater: 1000, highWaterReadings: 150, configVersion: 2, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const first = await post('m1', batch('m1', 100, 0));
  assert.equal(first.status, 202, JSON.stringify(first.body));
  assert.equal(first.body.accepted, 100);
  // 100 readings in flight, below 150: taken; then 200.
  assert.equal((await post('m1', batch('m1', 100, 100))).status, 202);
  const third = await post('m1', batch('m1', 100, 200));
  assert.equal(third.status, 503, JSON.stringify(third.body));
  assert.equal(third.body.error?.code, 'BACKPRESSURE');
  assert.match(third.body.error?.message ?? '', /200 readings are waiting to be stored \(pause mark 150 readings\)/);
  assert.match(third.retryAfter ?? '', /^\d+$/);
});

test('with the readings mark at 0, only the request mark counts', async () => {
  const id = `h${++loads}`;
  await helper.load([httpIn], [
    { id, type: 'upperstack-http-in', highWater: 1000, highWaterReadings: 0, configVersion: 2, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  for (let i = 0; i < 4; i++) assert.equal((await post('m2', batch('m2', 100, i * 100))).status, 202);
});

/** A connected socket to the runtime's HTTP server. */
function connect(): Promise<Socket> {
  const { port } = new URL((helper as unknown as { url(): string }).url());
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port: Number(port) }, () => resolve(s));
    s.once('error', reject);
  });
}

test('8 clients posting 900-reading batches at the same moment: in flight stays within the mark plus one request, the rest is 503 with Retry-After', async () => {
  // Nothing here is ever settled: whatever is answered 202 stays in flight.
  const id = `h${++loads}`;
  await helper.load([httpIn], [
    { id, type: 'upperstack-http-in', highWater: 1000, highWaterReadings: 5000, configVersion: 2, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const sockets = await Promise.all(Array.from({ length: 8 }, () => connect()));
  const answers = sockets.map((s) => new Promise<string>((resolve) => {
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('end', () => resolve(text));
  }));
  // Every request is on the wire before the server reads any of them, as when devices post at once.
  sockets.forEach((s, c) => {
    const body = batch(`burst${c}`, 900, 0);
    s.write(`POST /ingest/burst${c} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  const texts = await Promise.all(answers);
  const statuses = texts.map((t) => Number(/^HTTP\/1\.1 (\d{3})/.exec(t)?.[1]));
  const accepted = statuses.filter((st) => st === 202).length * 900;
  // Below the mark (5,000) a request is taken, so the one that reaches it is the last: at most 4,999 + 900.
  assert.equal(accepted, 5400, statuses.join(' '));
  assert.equal(intakeStats().find((st) => st.id === id)?.pendingReadings, accepted);
  const refused = texts.filter((t) => t.startsWith('HTTP/1.1 503'));
  assert.equal(refused.length, 2, statuses.join(' '));
  for (const t of refused) assert.match(t, /\r\nretry-after: \d+\r\n/i);
});
