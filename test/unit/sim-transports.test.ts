/**
 * The simulator's HTTP and CoAP clients against real servers on loopback (a
 * Node HTTP server and the coap package's server stand in for the pipeline's
 * inputs): the path names the device, the content type or Content-Format names
 * the codec, credentials travel as the server expects them, and an error answer
 * counts as a failed message with the server's reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as coap from 'coap';
import { CoapTransport, HttpTransport, Simulator, templateCredentials } from '../../nodes/lib/sim';
import { decode } from '../../nodes/lib/codec';
import { refusedByCoap } from '../../nodes/lib/sim/split';
import { uriQueryOf } from '../../nodes/lib/inputs/coap-request';

const T0 = Date.UTC(2026, 0, 1);

test('HTTP: POST /ingest/{device} with the codec\'s content type and the bearer token; 4xx answers are errors with the server\'s message', async () => {
  const seen: Array<{ url: string; type: string; auth: string; body: Buffer }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', type: req.headers['content-type'] ?? '', auth: req.headers.authorization ?? '', body: Buffer.concat(chunks) });
      if (req.url?.includes('sim-2')) {
        res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'SCHEMA_VIOLATION', message: 'fields/temperature must be a number' } }));
      } else res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sim = new Simulator(
    { devices: 2, mix: { env: 1 }, rate: 1, start: T0, duration: 3000, speed: 100, tickMs: 5, anomaliesPerHour: 0, codec: 'cbor' },
    new HttpTransport({ url, credentials: templateCredentials({ token: 'tok-{device}' }) }),
  );
  const done = new Promise<{ acked: number; errors: number; lastError?: string }>((r) => sim.once('done', r));
  await sim.start();
  const s = await done;
  server.close();
  // Each device's requests: every one to sim-1 acknowledged, every one to sim-2 refused.
  assert.equal(s.acked, seen.filter((x) => x.url === '/ingest/sim-1').length);
  assert.equal(s.errors, seen.filter((x) => x.url === '/ingest/sim-2').length);
  assert.ok(s.acked >= 1 && s.errors >= 1);
  assert.equal(s.lastError, 'HTTP 422: fields/temperature must be a number');
  const one = seen.find((x) => x.url === '/ingest/sim-1')!;
  assert.equal(one.type, 'application/cbor');
  assert.equal(one.auth, 'Bearer tok-sim-1');
  const body = decode('cbor', one.body) as { device: string; fields: { temperature: number } } | Array<{ device: string; fields: { temperature: number } }>;
  const reading = Array.isArray(body) ? body[0] : body;
  assert.equal(reading.device, 'sim-1');
  assert.equal(typeof reading.fields.temperature, 'number');
});

test('HTTP: a device refused for good (400, its id) is stopped after its first refusal; one refused a login (401) or a reading (422) keeps trying', async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    seen.push(req.url ?? '');
    const answer = (status: number, code: string, message: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message } }));
    if (req.url === '/ingest/sim-1') answer(401, 'UNAUTHORIZED', 'log in');
    else if (req.url === '/ingest/sim-2') answer(400, 'BAD_DEVICE_ID', '"sim-2" is not a device id here');
    else answer(422, 'SCHEMA_VIOLATION', 'fields/temperature must be <= 30');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const sim = new Simulator(
    { devices: 3, mix: { env: 1 }, rate: 1, start: T0, duration: 5000, speed: 100, tickMs: 5, anomaliesPerHour: 0 },
    new HttpTransport({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
  );
  const done = new Promise<{ stopped: number; errors: number }>((r) => sim.once('done', r));
  await sim.start();
  const s = await done;
  server.close();
  assert.equal(s.stopped, 1);
  assert.equal(seen.filter((u) => u === '/ingest/sim-2').length, 1, 'sim-2 sends nothing after the 400');
  assert.ok(seen.filter((u) => u === '/ingest/sim-1').length >= 2, 'sim-1 tries again after the 401');
  assert.ok(seen.filter((u) => u === '/ingest/sim-3').length >= 2, 'sim-3 sends its next readings after a 422');
  assert.equal(s.errors, seen.length);
});

test('CoAP: which refusals stop a device: the request\'s (4.00, 4.04, 4.15), not a reading\'s (4.22), a login or a rate', () => {
  const lasting = (code: string) => refusedByCoap(`CoAP ${code}`, code).lasting;
  for (const code of ['4.00', '4.02', '4.04', '4.05', '4.15']) assert.equal(lasting(code), true, code);
  for (const code of ['4.01', '4.03', '4.08', '4.22', '4.29', '5.03']) assert.equal(lasting(code), false, code);
});

test('HTTP: a user name and password go as basic auth; a server that is down is an error, not a hang', async () => {
  const auths: string[] = [];
  const server = createServer((req, res) => {
    auths.push(req.headers.authorization ?? '');
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const t = new HttpTransport({ url: `http://127.0.0.1:${port}/base`, credentials: templateCredentials({ username: '{device}', password: 'pw' }) });
  await t.open();
  await t.send({ id: 'dev 1', profile: 'env', index: 0 }, Buffer.from('{}'), 'application/json');
  assert.deepEqual(auths, [`Basic ${Buffer.from('dev 1:pw').toString('base64')}`]);
  await t.close();
  await new Promise((r) => server.close(r));
  const down = new HttpTransport({ url: `http://127.0.0.1:${port}` });
  await down.open();
  await assert.rejects(down.send({ id: 'x', profile: 'env', index: 0 }, Buffer.from('{}'), 'application/json'), /ECONNREFUSED/);
  await down.close();
});

test('CoAP: confirmable POST /telemetry/{device} with the Content-Format and the device secret as ?k=; a 4.xx answer is an error with its diagnostic', async () => {
  const seen: Array<{ url: string; format: unknown; confirmable: boolean; payload: Buffer }> = [];
  // Without SO_REUSEADDR: the port the kernel picks is then one no other run's CoAP input holds.
  const server = coap.createServer({ reuseAddr: false }, (req, res) => {
    seen.push({ url: req.url, format: req.headers['Content-Format'], confirmable: (req as unknown as { _packet: { confirmable: boolean } })._packet.confirmable, payload: req.payload });
    if (req.url.includes('sim-2')) {
      res.code = '4.00';
      res.end('DECODE_FAILED: unexpected end of input at byte 3');
    } else {
      res.code = '2.04';
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { _sock: { address(): AddressInfo } })._sock.address().port;
  const sim = new Simulator(
    { devices: 2, mix: { env: 1 }, rate: 1, start: T0, duration: 2000, speed: 100, tickMs: 5, anomaliesPerHour: 0, codec: 'json' },
    new CoapTransport({ url: `coap://127.0.0.1:${port}`, credentials: templateCredentials({ token: 'secret' }) }),
  );
  const done = new Promise<{ acked: number; errors: number; lastError?: string }>((r) => sim.once('done', r));
  await sim.start();
  const s = await done;
  await new Promise((r) => server.close(r));
  assert.equal(s.acked, seen.filter((x) => x.url.startsWith('/telemetry/sim-1')).length);
  assert.equal(s.errors, seen.filter((x) => x.url.startsWith('/telemetry/sim-2')).length);
  assert.ok(s.acked >= 1 && s.errors >= 1);
  assert.equal(s.lastError, 'CoAP 4.00: DECODE_FAILED: unexpected end of input at byte 3');
  const one = seen.find((x) => x.url.startsWith('/telemetry/sim-1'))!;
  assert.equal(one.url, '/telemetry/sim-1?k=secret');
  assert.equal(one.format, 'application/json');
  assert.equal(one.confirmable, true);
  const sent = JSON.parse(one.payload.toString()) as { device: string } | Array<{ device: string }>;
  assert.equal((Array.isArray(sent) ? sent[0] : sent).device, 'sim-1');
});

test('CoAP: the device id and the login go into their options as they are: a password with +, & and %, an id with : and @', async () => {
  const seen: Array<{ path: string[]; query: Array<[string, string]> }> = [];
  const server = coap.createServer({ reuseAddr: false }, (req, res) => {
    const options = (req as unknown as { _packet: { options: Array<{ name: string; value: unknown }> } })._packet.options;
    seen.push({ path: options.filter((o) => o.name === 'Uri-Path').map((o) => String(o.value)), query: [...uriQueryOf(options)] });
    res.code = '2.04';
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { _sock: { address(): AddressInfo } })._sock.address().port;
  const t = new CoapTransport({ url: `coap://127.0.0.1:${port}`, credentials: templateCredentials({ username: 'gw', password: 'pa+ss&w%41rd=' }) });
  await t.open();
  try {
    await t.send({ id: 'site:a@1', profile: 'env', index: 0 }, Buffer.from('{}'), 'application/json');
  } finally {
    await t.close();
    await new Promise((r) => server.close(r));
  }
  assert.deepEqual(seen, [{ path: ['telemetry', 'site:a@1'], query: [['u', 'gw'], ['p', 'pa+ss&w%41rd=']] }]);
});
