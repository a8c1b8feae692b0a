/**
 * Rate limits and signed messages on the real runtime, over MQTT, HTTP and
 * CoAP with the clients people use (mosquitto_pub, curl, coap-client-notls;
 * MQTT.js, fetch and the coap library to flood). One device flooding past its
 * limit is refused (429 + Retry-After, 4.29, MQTT 5 0x97) while another
 * device on the same address keeps every message accepted (counted, never
 * timed); a device that signs is accepted with a good signature and refused
 * when stale or replayed; the audit log has each refusal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import * as coapLib from 'coap';
import { eventually, type Runtime } from '../helpers/runtime';
import { deviceRuntime } from '../helpers/device-runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const PER_DEVICE = 5;
let rt: Runtime;
const devices = deviceRuntime(tempDir('us-devtraffic-'));
const { secrets, readings, audit } = devices;
let signingKey: Buffer;

async function curl(path: string, body: string, headers: string[]): Promise<{ status: number; body: string; headers: string }> {
  const args = ['-s', '-S', '-i', '-w', '\n%{http_code}', '-X', 'POST', '-H', 'Content-Type: application/json', ...headers.flatMap((h) => ['-H', h]), '--data-binary', body, `${rt.url}${path}`];
  const { stdout } = await run('curl', args);
  const cut = stdout.lastIndexOf('\n');
  const full = stdout.slice(0, cut);
  const split = full.indexOf('\r\n\r\n');
  return { status: Number(stdout.slice(cut + 1)), headers: full.slice(0, split), body: full.slice(split + 4) };
}

async function coapClient(path: string, payload: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('coap-client-notls', ['-m', 'post', '-t', '50', '-e', payload, `coap://127.0.0.1:${rt.coapPort}${path}`], { timeout: 20_000 });
    return `${stdout}${stderr}`;
  } catch (e) {
    const x = e as { stdout: string; stderr: string };
    return `${x.stdout}${x.stderr}`;
  }
}

/** mosquitto_pub -V mqttv5 -q 1: what it printed, with its exit code when it failed. */
async function mosquittoPub(args: string[]): Promise<string> {
  const r = await devices.pub(['-V', 'mqttv5', '-q', '1', ...args]);
  return r.code === 0 ? r.out : `${r.out} (exit ${r.code})`;
}

/** Readings are unique per (device, ts, field): each message names its own time. */
const T = Date.now() - 60_000;

const sig = (ts: string, nonce: string, body: string) => createHmac('sha256', signingKey).update(`${ts}.${nonce}.`).update(body).digest('hex');

before(async () => {
  const env = { UPPERSTACK_RATE_PER_DEVICE: String(PER_DEVICE), UPPERSTACK_RATE_PER_ADDRESS: '100000' };
  rt = await devices.start(['floodH', 'quietH', 'floodC', 'quietC', 'floodM', 'quietM', { id: 'signer', signing: true }], { env });
  signingKey = devices.signingKeys.signer;
});

after(async () => {
  await rt?.stop();
});

test('HTTP: a device flooding gets 429 with Retry-After; another device keeps every request accepted', async () => {
  const flood = Array.from({ length: 200 }, (_, i) =>
    fetch(`${rt.url}/ingest/floodH`, { method: 'POST', headers: { authorization: `Bearer ${secrets.floodH}`, 'content-type': 'application/json' }, body: `{"ts":${T + i},"f":${i}}` }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: await r.text() })),
  );
  const quiet: number[] = [];
  for (let i = 0; i < PER_DEVICE; i++) quiet.push((await curl('/ingest/quietH', `{"ts":${T + i},"q":${i}}`, [`Authorization: Bearer ${secrets.quietH}`])).status);
  const answers = await Promise.all(flood);
  assert.deepEqual(quiet, Array(PER_DEVICE).fill(202), 'every request of the quiet device is accepted');
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length > 0, 'the flooding device is limited');
  assert.equal(answers.filter((a) => a.status === 202).length + limited.length, 200);
  assert.ok(Number(limited[0].retry) >= 1, `Retry-After: ${limited[0].retry}`);
  assert.equal((JSON.parse(limited[0].body) as { error: { code: string } }).error.code, 'RATE_LIMITED');
  const stored = await eventually(async () => {
    const r = await readings('quietH');
    return r.length === PER_DEVICE ? r : undefined;
  });
  assert.equal(stored.length, PER_DEVICE);
});

test('CoAP: a device flooding gets 4.29 with Max-Age; another device keeps every request accepted', async () => {
  const agent = new coapLib.Agent({ type: 'udp4' });
  const flood = Array.from({ length: 100 }, (_, i) =>
    new Promise<string>((resolve) => {
      const req = coapLib.request({ hostname: '127.0.0.1', port: rt.coapPort, method: 'POST', pathname: '/telemetry/floodC', query: `k=${encodeURIComponent(secrets.floodC)}`, confirmable: true, agent });
      req.on('response', (res: { code: string; headers: Record<string, unknown> }) => resolve(`${res.code}|${String(res.headers['Max-Age'] ?? '')}`));
      req.on('error', () => resolve('error'));
      req.end(`{"ts":${T + i},"f":${i}}`);
    }),
  );
  const quiet: string[] = [];
  for (let i = 0; i < PER_DEVICE; i++) quiet.push(await coapClient(`/telemetry/quietC?k=${encodeURIComponent(secrets.quietC)}`, `{"ts":${T + i},"q":${i}}`));
  const codes = await Promise.all(flood);
  agent.close();
  for (const q of quiet) assert.match(q, /"accepted":1/);
  const limited = codes.filter((c) => c.startsWith('4.29'));
  assert.ok(limited.length > 0, codes.join(' '));
  assert.ok(Number(limited[0].split('|')[1]) >= 1, `Max-Age of ${limited[0]}`);
  await eventually(async () => ((await readings('quietC')).length === PER_DEVICE ? true : undefined));
});

test('MQTT: a device flooding gets 0x97 quota exceeded; another device keeps every message accepted', async () => {
  const flood = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'floodM', password: secrets.floodM, protocolVersion: 5, reconnectPeriod: 0 });
  const acks: number[] = [];
  flood.on('packetreceive', (p) => {
    if (p.cmd === 'puback') acks.push((p as { reasonCode?: number }).reasonCode ?? 0);
  });
  const sent = Array.from({ length: 100 }, (_, i) => flood.publishAsync('devices/floodM/telemetry', `{"ts":${T + i},"f":${i}}`, { qos: 1 }).catch(() => undefined));
  const quiet: string[] = [];
  for (let i = 0; i < PER_DEVICE; i++) quiet.push(await mosquittoPub(['-u', 'quietM', '-P', secrets.quietM, '-t', 'devices/quietM/telemetry', '-m', `{"ts":${T + i},"q":${i}}`]));
  await Promise.all(sent);
  await flood.endAsync();
  assert.deepEqual(quiet, Array(PER_DEVICE).fill(''), 'mosquitto_pub reports nothing when its PUBACK is a success');
  assert.equal(acks.length, 100);
  assert.ok(acks.includes(0x97), `PUBACK reason codes: ${[...new Set(acks)].join(', ')}`);
  assert.deepEqual([...new Set(acks)].sort(), [0, 0x97]);
  await eventually(async () => ((await readings('quietM')).length === PER_DEVICE ? true : undefined));
  const acked = acks.filter((c) => c === 0).length;
  await eventually(async () => ((await readings('floodM')).length === acked ? true : undefined), 30_000, 'what was acknowledged is stored, nothing else');
});

test('InfluxDB routes: line protocol written anonymously counts against the limit of each device it names; a request naming one over its limit is 429 whole', async () => {
  const line = (device: string, i: number) => `m,device=${device} f=${i} ${T + i}`;
  // Half on each route; each request names the flooding device and a device of its own that is never over.
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      fetch(`${rt.url}${i % 2 ? '/api/v2/write?org=o&bucket=b&precision=ms' : '/write?db=d&precision=ms'}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `${line('lpFlood', i)}\n${line(`lpMix-${i}`, i)}` })
        .then(async (r) => ({ i, status: r.status, retry: r.headers.get('retry-after'), body: await r.text() })),
    ),
  );
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length > 0, 'the device the lines name is limited');
  assert.equal(answers.filter((a) => a.status === 204).length + limited.length, 100, answers.map((a) => `${a.status} ${a.body}`).join('\n'));
  for (const a of limited) {
    assert.ok(Number(a.retry) >= 1, `Retry-After: ${a.retry}`);
    // Each route answers in its InfluxDB's shape, naming the device over its limit.
    const body = JSON.parse(a.body) as { code?: string; message?: string; error?: string };
    if (a.i % 2) assert.deepEqual([body.code, /device "lpFlood" sends more than 5 messages a second/.test(body.message ?? '')], ['too many requests', true], a.body);
    else assert.match(body.error ?? '', /device "lpFlood" sends more than 5 messages a second/);
  }
  const accepted = answers.filter((a) => a.status === 204);
  await eventually(async () => ((await readings('lpFlood')).length === accepted.length ? true : undefined), 30_000, 'the accepted requests of lpFlood stored, nothing else');
  // A refused request keeps nothing, the lines of its other device neither.
  for (const a of answers) assert.equal((await readings(`lpMix-${a.i}`)).length, a.status === 204 ? 1 : 0, `lpMix-${a.i} (${a.status})`);
  const entries = audit();
  assert.ok(entries.some((e) => e.action === 'rate.limited' && e.via === 'http' && e.target === 'lpFlood'), 'the audit log names the device over its limit');
  assert.ok(!entries.some((e) => e.action === 'rate.limited' && String(e.target).startsWith('lpMix')), 'the other devices of the requests were never limited');
});

/** The rate limit counts per second: a pause lets the signing device start with a full budget. */
const nextWindow = () => new Promise((r) => setTimeout(r, 1100));

test('HTTP signed: accepted once; the same request again is REPLAYED, an old one STALE, an unsigned one refused', async () => {
  await nextWindow();
  const body = `{"ts":${T + 1},"s":1}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = randomUUID();
  const headers = [`Authorization: Bearer ${secrets.signer}`, `X-Upperstack-Timestamp: ${ts}`, `X-Upperstack-Nonce: ${nonce}`, `X-Upperstack-Signature: ${sig(ts, nonce, body)}`];
  assert.equal((await curl('/ingest/signer', body, headers)).status, 202);
  const again = await curl('/ingest/signer', body, headers);
  assert.equal(again.status, 401);
  assert.match(again.body, /"REPLAYED"/);
  const old = String(Math.floor(Date.now() / 1000) - 600);
  const stale = await curl('/ingest/signer', body, [`Authorization: Bearer ${secrets.signer}`, `X-Upperstack-Timestamp: ${old}`, `X-Upperstack-Nonce: n-old`, `X-Upperstack-Signature: ${sig(old, 'n-old', body)}`]);
  assert.match(stale.body, /"STALE"/);
  const altered = await curl('/ingest/signer', '{"s":999}', headers.map((h) => h.replace(nonce, 'n-2')));
  assert.match(altered.body, /"BAD_SIGNATURE"/);
  assert.match((await curl('/ingest/signer', body, [`Authorization: Bearer ${secrets.signer}`])).body, /"SIGNATURE_REQUIRED"/);
});

test('MQTT and CoAP signed envelopes: the body is stored; a replay is refused (0x87 / 4.01)', async () => {
  const envelope = (body: string) => {
    const ts = Date.now();
    const nonce = randomUUID();
    return JSON.stringify({ ts, nonce, body, sig: sig(String(ts), nonce, body) });
  };
  await nextWindow();
  const m = envelope(`{"ts":${T + 2},"s":2}`);
  assert.equal(await mosquittoPub(['-u', 'signer', '-P', secrets.signer, '-t', 'devices/signer/telemetry', '-m', m]), '');
  assert.match(await mosquittoPub(['-u', 'signer', '-P', secrets.signer, '-t', 'devices/signer/telemetry', '-m', m]), /Not authorized/);
  assert.match(await mosquittoPub(['-u', 'signer', '-P', secrets.signer, '-t', 'devices/signer/telemetry', '-m', `{"ts":${T + 3},"s":3}`]), /Not authorized/);
  const c = envelope(`{"ts":${T + 4},"s":4}`);
  const path = `/telemetry/signer?k=${encodeURIComponent(secrets.signer)}`;
  assert.match(await coapClient(path, c), /"accepted":1/);
  assert.match(await coapClient(path, c), /4\.01.*REPLAYED|REPLAYED.*|4\.01/s);
  const stored = await eventually(async () => {
    const r = await readings('signer');
    return r.length === 3 ? r : undefined;
  });
  assert.deepEqual(stored.map((r) => r.fields.s).sort(), [1, 2, 4]);
});

test('the README\'s shell example (openssl, curl) signs a request the runtime accepts', async () => {
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('**Signed messages**'));
  const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(script, 'the example is in the README');
  const runnable = script.replace('curl ', "curl -s -w '\\n%{http_code}' ").replace('http://host:1880/ingest/plug1', `${rt.url}/ingest/signer`);
  await nextWindow();
  const { stdout } = await run('bash', ['-c', runnable], { env: { ...process.env, KEY: signingKey.toString('base64url'), SECRET: secrets.signer } });
  assert.match(stdout, /202$/, stdout);
  await eventually(async () => ((await readings('signer')).some((r) => r.fields.temperature === 21.5) ? true : undefined));
});

test('the audit log has the rate limits and the refused signatures on each protocol', () => {
  const entries = audit();
  const has = (pred: (e: Record<string, unknown>) => boolean, what: string) => assert.ok(entries.some(pred), `${what}:\n${entries.map((e) => JSON.stringify(e)).join('\n')}`);
  for (const [via, device] of [['http', 'floodH'], ['coap', 'floodC'], ['mqtt', 'floodM']]) {
    has((e) => e.action === 'rate.limited' && e.via === via && e.target === device && e.actor === `device:${device}`, `${via} rate limit`);
  }
  assert.ok(!entries.some((e) => e.action === 'rate.limited' && String(e.target).startsWith('quiet')), 'the quiet devices were never limited');
  for (const via of ['http', 'mqtt', 'coap']) has((e) => e.action === 'signature.refused' && e.via === via && e.reason === 'REPLAYED', `${via} replay`);
  has((e) => e.action === 'signature.refused' && e.reason === 'STALE', 'stale');
});
