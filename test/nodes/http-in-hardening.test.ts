/**
 * upperstack-http-in on the test helper's server: what a client is told about
 * requests the input refuses before journaling them.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import helper from 'node-red-node-test-helper';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { useDevices } from '../../nodes/shared/devices';
import { tempDir } from '../helpers/temp';
import { eventually } from '../helpers/intake';
import { assertAnswersBeforeParseError, assertLengthRequired } from '../helpers/http-raw';

/* eslint-disable @typescript-eslint/no-require-imports */
const httpIn = require('../../nodes/http-in/http-in');

helper.init(require.resolve('node-red'));

let loads = 0;
const url = () => (helper as unknown as { url(): string }).url();

before(async () => {
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: tempDir('us-http-hardening-') } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

/** A fresh input (and journal) per test; `ok` receives what was journaled. */
async function load(options: Record<string, unknown> = {}) {
  const id = `h${++loads}`;
  await helper.load([httpIn], [
    { id, type: 'upperstack-http-in', configVersion: 2, ...options, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
}

/** The next message the input journals and sends on (its readings output). */
function nextJournaled(): Promise<unknown> {
  const ok = helper.getNode('ok');
  assert.ok(ok);
  return new Promise((resolve) => ok.once('input', resolve));
}

test('InfluxDB v2 route: a 403 carries InfluxDB 2\'s code "forbidden", a 401 "unauthorized"', async () => {
  await load();
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const auth = new DeviceAuth({ registry });
  await auth.ready;
  const { secret } = await registry.add({ id: 'sensor-1' });
  const release = useDevices({ owner: {}, auth, registry });
  try {
    const write = (authorization: string) =>
      fetch(`${url()}/api/v2/write?org=o&bucket=b`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization }, body: 'm,device=sensor-2 t=1' });
    const other = await write(`Token sensor-1:${secret}`);
    assert.equal(other.status, 403);
    const forbidden = (await other.json()) as { code: string; message: string };
    assert.equal(forbidden.code, 'forbidden');
    assert.match(forbidden.message, /may only send its own readings/);
    const wrong = await write('Token sensor-1:not-the-secret');
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { code: string }).code, 'unauthorized');
  } finally {
    release();
  }
});

test('devices behind one address: one retrying a wrong secret is answered 429 with Retry-After, its neighbours and clients without a login are still accepted', async () => {
  await load();
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const auth = new DeviceAuth({ registry });
  await auth.ready;
  await registry.add({ id: 'meter-a' });
  const b = await registry.add({ id: 'meter-b' });
  const release = useDevices({ owner: {}, auth, registry });
  try {
    const send = (device: string, login?: string) =>
      fetch(`${url()}/ingest/${device}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(login ? { authorization: `Basic ${Buffer.from(login).toString('base64')}` } : {}) },
        body: '{"t":1}',
      });
    const stale: number[] = [];
    for (let i = 0; i < 25; i++) stale.push((await send('meter-a', 'meter-a:a-stale-secret')).status);
    assert.deepEqual(stale, [...Array<number>(20).fill(401), ...Array<number>(5).fill(429)]);
    const neighbour = await send('meter-b', `meter-b:${b.secret}`);
    assert.equal(neighbour.status, 202, await neighbour.text());
    const anonymous = await send('free-sensor');
    assert.equal(anonymous.status, 202, await anonymous.text());

    const refused = await send('meter-a', 'meter-a:a-stale-secret');
    assert.ok(Number(refused.headers.get('retry-after')) > 0, `Retry-After ${String(refused.headers.get('retry-after'))}`);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /too many failed logins as "meter-a" from this address; retry in \d+ s/);
  } finally {
    release();
  }
});

test('a query parameter that is not valid percent-encoding is a 400 naming it, on every write route; nothing is journaled', async () => {
  await load();
  const firstJournaled = nextJournaled();
  const ingest = await fetch(`${url()}/ingest/d1?tag=ok&u=x%FC`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":1}' });
  assert.equal(ingest.status, 400);
  const error = ((await ingest.json()) as { error: { code: string; parameter: string; message: string } }).error;
  assert.deepEqual([error.code, error.parameter], ['BAD_PARAMETER', 'u']);
  assert.match(error.message, /"u" is not valid percent-encoding/);
  const v1 = await fetch(`${url()}/write?db=%FC`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'm t=1' });
  assert.equal(v1.status, 400);
  assert.match(((await v1.json()) as { error: string }).error, /"db" is not valid percent-encoding/);
  const v2 = await fetch(`${url()}/api/v2/write?org=o&bucket=b%&precision=s`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'm t=1' });
  assert.equal(v2.status, 400);
  assert.deepEqual(Object.keys((await v2.json()) as object), ['code', 'message']);
  // A well-formed request afterwards is taken, and it is the first thing journaled: the refusals kept nothing.
  const good = await fetch(`${url()}/ingest/d1?note=%C3%BC`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":2}' });
  assert.equal(good.status, 202);
  assert.match(JSON.stringify(await firstJournaled), /"t":2/);
});

test('/api/v2/write takes the precisions InfluxDB 2 knows, not the v1 route\'s minutes and hours: 400 naming them, nothing journaled', async () => {
  await load();
  const firstJournaled = nextJournaled();
  for (const precision of ['m', 'h']) {
    const v2 = await fetch(`${url()}/api/v2/write?org=o&bucket=b&precision=${precision}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'm,device=p2 t=1 1' });
    assert.equal(v2.status, 400, precision);
    assert.deepEqual(await v2.json(), { code: 'invalid', message: `invalid precision "${precision}" (use ns, us, ms or s)` });
  }
  const v1 = await fetch(`${url()}/write?db=x&precision=h`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'm,device=p1 t=1 490000' });
  assert.equal(v1.status, 204);
  // The first thing journaled is the v1 write, its time in hours.
  assert.deepEqual(((await firstJournaled) as { payload: unknown }).payload, { device: 'p1', ts: 490_000 * 3_600_000, fields: { t: 1 }, tags: { measurement: 'm' } });
});

test('an anonymous device may not name itself an id the registry refuses: 400 BAD_DEVICE_ID in the registry\'s words', async () => {
  await load();
  const firstJournaled = nextJournaled();
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  await registry.open();
  for (const [path, id] of [['/ingest/a%2Fb', 'a/b'], ['/ingest/temp%20sensor', 'temp sensor'], ['/insert/d%C3%A9v', 'dév']]) {
    const res = await fetch(url() + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":1}' });
    const error = ((await res.json()) as { error: { code: string; message: string } }).error;
    assert.equal(res.status, 400, path);
    assert.equal(error.code, 'BAD_DEVICE_ID');
    assert.equal(error.message, registry.idProblem(id));
    await assert.rejects(registry.add({ id }), { code: 'BAD_DEVICE_ID', message: error.message });
  }
  const good = await fetch(`${url()}/ingest/site-1:pump_2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":2}' });
  assert.equal(good.status, 202);
  assert.match(JSON.stringify(await firstJournaled), /"t":2/);
});

/** Sends `head` on a raw connection and reads until the server closes it; `closed` says whether it did. */
function stalledRequest(head: string): Promise<{ answer: string; closed: boolean }> {
  const { hostname, port } = new URL(url());
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(head));
    let answer = '';
    s.on('data', (c: Buffer) => (answer += c.toString('utf8')));
    s.on('end', () => resolve({ answer, closed: true }));
    s.on('error', reject);
  });
}

test('a body that stalls is answered 408 after the body timeout, the connection closed and nothing journaled', { timeout: 30_000 }, async () => {
  await load({ bodyTimeout: 0.3 });
  const firstJournaled = nextJournaled();
  // Headers and 10 of the 100 bytes announced, then nothing.
  const ingest = await stalledRequest('POST /ingest/d1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t":1,"u"');
  assert.match(ingest.answer, /^HTTP\/1\.1 408 /);
  assert.match(ingest.answer, /\r\nconnection: close\r\n/i);
  const body = JSON.parse(ingest.answer.slice(ingest.answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'REQUEST_TIMEOUT');
  assert.match(body.error.message, /did not arrive within 0\.3 s \(10 bytes received\); nothing was stored/);
  assert.ok(ingest.closed);
  // The InfluxDB routes answer in their own shape.
  const v2 = await stalledRequest('POST /api/v2/write?org=o&bucket=b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nm t=1\r\n');
  assert.match(v2.answer, /^HTTP\/1\.1 408 /);
  assert.match(v2.answer, /\{"code":"invalid","message":"the request body did not arrive within 0\.3 s/);
  const good = await fetch(`${url()}/ingest/d1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":2}' });
  assert.equal(good.status, 202);
  assert.match(JSON.stringify(await firstJournaled), /"t":2/);
});

test('an input saved at configVersion 1 (before the body timeout existed) answers a chunked body that never ends with its own 408 after bodyTimeout, not the server\'s after minutes', { timeout: 30_000 }, async () => {
  // As a version-1 flow file has it, with the timeout an editor adds when the node is next opened (configVersion stays 1).
  await load({ configVersion: 1, maxBytes: 1048576, rateLimit: 0, highWater: 5000, bodyTimeout: 0.3 });
  const stalled = await stalledRequest('POST /ingest/d1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"t":1\r\n');
  assert.match(stalled.answer, /^HTTP\/1\.1 408 /);
  assert.match(stalled.answer, /"code":"REQUEST_TIMEOUT"/);
  assert.match(stalled.answer, /did not arrive within 0\.3 s \(6 bytes received\)/);
  assert.ok(stalled.closed);
});

test('Expect: 100-continue with a Content-Length over the limit is answered 413 in the route\'s shape without 100 Continue; within it, 100 Continue and then the answer', async () => {
  await load({ maxBytes: 1000 });
  const expectHead = (path: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`;
  // The body is never sent: the client waits for 100 Continue, and the server answers and closes instead.
  const over = await stalledRequest(expectHead('/ingest/d1', 5000));
  assert.match(over.answer, /^HTTP\/1\.1 413 /);
  assert.doesNotMatch(over.answer, /100 Continue/);
  assert.match(over.answer, /\r\nconnection: close\r\n/i);
  const body = JSON.parse(over.answer.slice(over.answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
  assert.match(body.error.message, /payload is 5000 bytes, more than the limit of 1000 bytes/);
  const v2 = await stalledRequest(expectHead('/api/v2/write?org=o&bucket=b', 5000));
  assert.match(v2.answer, /^HTTP\/1\.1 413 /);
  assert.match(v2.answer, /\{"code":"request too large","message":"payload is 5000 bytes/);

  const journaled = nextJournaled();
  const { hostname, port } = new URL(url());
  const payload = '{"t":3}';
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(expectHead('/ingest/d1', payload.length)));
    let got = '';
    s.on('data', (c: Buffer) => {
      const first = got === '';
      got += c.toString('utf8');
      if (first && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) s.write(payload);
      if (/\r\n\r\n\{"accepted"[^}]*\}$/.test(got)) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('end', () => resolve(got));
  });
  assert.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /);
  assert.match(JSON.stringify(await journaled), /"t":3/);
});

test('a POST without Content-Length or Transfer-Encoding is answered 411 naming Content-Length, also when an HTTP/1.0 client sends its body after the headers; with Content-Length HTTP/1.0 is served', async () => {
  await load();
  const firstJournaled = nextJournaled();
  await assertLengthRequired(url());
  // The one request with a Content-Length is the first thing journaled: the refused ones kept nothing.
  assert.match(JSON.stringify(await firstJournaled), /"temp":21\.5/);
});

test('valid requests followed by bytes the parser refuses on the same connection get their own 202 and 204 first, then the 400; each reading is journaled once', async () => {
  await load();
  const ok = helper.getNode('ok');
  assert.ok(ok);
  // Readings journaled close together go on in one message: counted by their payload entries.
  const readings: unknown[] = [];
  ok.on('input', (msg: unknown) => {
    const payload = (msg as { payload: unknown }).payload;
    readings.push(...(Array.isArray(payload) ? payload : [payload]));
  });
  await assertAnswersBeforeParseError(url());
  await eventually(() => readings.length >= 3, 'the three readings');
  assert.deepEqual(readings.map((r) => JSON.stringify((r as { fields: unknown }).fields)).sort(), ['{"t":1}', '{"temp":21.5}', '{"temp":21.5}']);
});
