/**
 * upperstack-http-in's readings mark: a request counts the readings it holds,
 * so an input whose readings are not settled (helper nodes settle nothing)
 * answers 503 once the readings in flight reach the mark, well before the
 * request mark.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { tempDir } from '../helpers/temp';

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
