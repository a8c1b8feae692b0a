/**
 * upperstack-coap-in with libcoap's coap-client-notls (Debian libcoap3-bin) and a
 * raw UDP socket: CON and NON posts, a 4 KB body block-wise, discovery, Observe
 * receiving two pushed commands, a retransmitted CON stored once, and the 4.xx
 * answers with what is wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';
import { loadCoapIn, waitFor } from '../helpers/coap-node';
import { freeUdpPort } from '../helpers/ports';
import { withRegistered } from '../helpers/registered';
import { checkHealth } from '../../nodes/shared/runtime';
import { intakeStats } from '../../nodes/lib/ingest';
import { catalogTranslator, translating, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');
const commandNode = require('../../nodes/command/command');

const run = promisify(execFile);
helper.init(require.resolve('node-red'));
const scratch = tempDir('us-coap-node-');

let port = 0;
let stored: Reading[] = [];
let failed: Array<Record<string, unknown>> = [];
// A fresh input (and journal) per test: the helper nodes settle nothing, so a reused journal would replay.
let loads = 0;

async function load(extra: Record<string, unknown> = {}) {
  ({ port, stored, failed } = await loadCoapIn([coapNode, commandNode], { id: `c${++loads}`, ...extra }, [
    { id: 'cmd', type: 'upperstack-command', topic: '', configVersion: 1, wires: [[]] },
  ]));
}

function client(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('coap-client-notls', args, { timeout: 20_000 });
}

type Health = Awaited<ReturnType<typeof checkHealth>>;

/** /health's components once `ready` holds of them, or as they are after 30 s (the assertions then say what is wrong). */
async function healthWhen(ready: (h: Health) => boolean): Promise<Health> {
  for (let i = 0; i < 600; i++) {
    const h = await checkHealth();
    if (ready(h)) return h;
    await new Promise((r) => setTimeout(r, 50));
  }
  return checkHealth();
}

useTestRuntime('us-coap-data-');

test('CON and NON posts, SenML, a 4 KB body block-wise, discovery', async () => {
  await load();
  const url = (d: string) => `coap://127.0.0.1:${port}/telemetry/${d}`;
  const con = await client(['-m', 'post', '-t', '50', '-e', '{"ts":1767225600000,"t":21.5}', url('k1')]);
  assert.match(con.stdout, /"accepted":1,"deadLettered":0/);
  await client(['-m', 'put', '-N', '-t', '50', '-e', '{"ts":1767225601000,"t":22}', url('k1')]);
  await client(['-m', 'post', '-t', '110', '-e', '[{"bn":"k1:","bt":1767225602,"n":"t","u":"Cel","v":23}]', url('k1')]);
  const big = Array.from({ length: 60 }, (_, i) => ({ ts: 1767225700000 + i * 1000, temperature: 20 + i / 10, note: 'x'.repeat(20) }));
  const file = join(scratch, 'big.json');
  writeFileSync(file, JSON.stringify(big));
  assert.ok(JSON.stringify(big).length >= 4096);
  const blockwise = await client(['-m', 'post', '-t', '50', '-b', '64', '-f', file, url('k2')]);
  assert.match(blockwise.stdout, /"accepted":60/);
  await waitFor(() => (stored.filter((r) => r.device === 'k1').length >= 3 && stored.filter((r) => r.device === 'k2').length === 60 ? true : undefined), 'readings');
  const k1 = stored.filter((r) => r.device === 'k1').sort((a, b) => a.ts - b.ts);
  assert.deepEqual(k1.map((r) => [r.ts, r.fields.t]), [[1767225600000, 21.5], [1767225601000, 22], [1767225602000, 23]]);
  assert.equal(k1[2].tags['t.unit'], 'Cel');
  assert.deepEqual(stored.filter((r) => r.device === 'k2').map((r) => r.fields.temperature), big.map((b) => b.temperature));
  const core = await client(['-m', 'get', `coap://127.0.0.1:${port}/.well-known/core`]);
  assert.match(core.stdout, /<\/telemetry>;rt="upperstack.telemetry"/);
  assert.match(core.stdout, /<\/commands>;rt="upperstack.commands";if="core.s";obs/);
});

test('4.00 with a diagnostic, 4.15, 4.03, 4.13 with Size1; bad requests are dead-lettered', async () => {
  await load();
  const url = `coap://127.0.0.1:${port}/telemetry/k3`;
  const bad = await client(['-m', 'post', '-t', '50', '-e', '{"t":', url]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${bad.stdout}${bad.stderr}`, /4\.00/);
  // libcoap prints the diagnostic payload of an error answer on stderr.
  assert.match(`${bad.stdout}${bad.stderr}`, /DECODE_FAILED: JSON payload ends early at byte 5/);
  const type = await client(['-m', 'post', '-t', '40', '-e', '<x>', url]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${type.stdout}${type.stderr}`, /4\.15/);
  // A body may name a device nobody registered (a gateway's), not a registered one.
  const release = await withRegistered('k4');
  const other = await client(['-m', 'post', '-t', '50', '-e', '{"device":"k4","t":1}', url]).catch((e: { stdout: string; stderr: string }) => e);
  release();
  assert.match(`${other.stdout}${other.stderr}`, /4\.03/);
  // A raw request announcing a Block1 transfer far past the limit: refused before anything is reassembled.
  const sock = createSocket('udp4');
  try {
    const answer = new Promise<Buffer>((r) => sock.once('message', r));
    const block1 = Buffer.from([((4000 << 4) | 8 | 2) >> 16, (((4000 << 4) | 8 | 2) >> 8) & 255, ((4000 << 4) | 8 | 2) & 255]);
    sock.send(generate({ code: 'POST', messageId: 4242, token: Buffer.from([1, 2]), confirmable: true, payload: Buffer.alloc(64, 0x20), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('k3') }, { name: 'Block1', value: block1 }] }), port, '127.0.0.1');
    const p = parse(await answer);
    assert.equal(p.code, '4.13');
    assert.equal(p.messageId, 4242);
    const size1 = p.options.find((o) => o.name === 'Size1')!.value;
    assert.equal(size1.readUIntBE(0, size1.length), 8192);
    // The stable code first, as HTTP's 413 names it.
    assert.equal(p.payload.toString(), 'PAYLOAD_TOO_LARGE: the payload would be more than 8192 bytes');
  } finally {
    sock.close();
  }
  await waitFor(() => (failed.length >= 3 ? true : undefined), 'dead letters');
  assert.deepEqual(failed.map((m) => (m.error as { code: string }).code).sort(), ['DECODE_FAILED', 'DEVICE_MISMATCH', 'UNSUPPORTED_FORMAT']);
  assert.ok(failed.every((m) => m.source === 'coap:/telemetry/k3'));
  assert.equal(stored.length, 0);
});

test('a Block1 upload whose Size1 announces more than the limit is refused 4.13 with Size1 at its first block', async () => {
  await load();
  const file = join(scratch, 'too-big.json');
  writeFileSync(file, JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ ts: 1767225600000 + i, t: i, note: 'y'.repeat(20) }))));
  const url = `coap://127.0.0.1:${port}/telemetry/k7`;
  // libcoap announces the whole body's size (Size1) with its first block.
  const out = await client(['-m', 'post', '-t', '50', '-b', '64', '-f', file, url]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${out.stdout}${out.stderr}`, /4\.13/);
  assert.match(`${out.stdout}${out.stderr}`, /4\.13 PAYLOAD_TOO_LARGE: the payload announced \(Size1 \d{5} bytes\) is more than 8192 bytes/);
  // Block 0 of 64 bytes announcing 20,000: answered 4.13 with the limit in Size1 and a diagnostic, not 2.31 Continue.
  const sock = createSocket('udp4');
  try {
    const answer = new Promise<Buffer>((r) => sock.once('message', r));
    const size1 = Buffer.alloc(2);
    size1.writeUInt16BE(20000);
    sock.send(generate({ code: 'POST', messageId: 4343, token: Buffer.from([3, 4]), confirmable: true, payload: Buffer.alloc(64, 0x20), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('k7') }, { name: 'Block1', value: Buffer.from([0x0a]) }, { name: 'Size1', value: size1 }] }), port, '127.0.0.1');
    const p = parse(await answer);
    assert.equal(p.code, '4.13');
    assert.equal(p.messageId, 4343);
    const limit = p.options.find((o) => o.name === 'Size1')!.value;
    assert.equal(limit.readUIntBE(0, limit.length), 8192);
    assert.equal(p.payload.toString(), 'PAYLOAD_TOO_LARGE: the payload announced (Size1 20000 bytes) is more than 8192 bytes');
  } finally {
    sock.close();
  }
  assert.equal(stored.length, 0);
  assert.equal(failed.length, 0);
});

test('a body of more than 10,000 readings is 4.13 TOO_MANY_READINGS naming the limit, neither journaled nor dead-lettered', async () => {
  await load({ maxBytes: 65536 });
  const file = join(scratch, 'too-many.json');
  writeFileSync(file, JSON.stringify(Array.from({ length: 10_001 }, () => ({}))));
  const url = `coap://127.0.0.1:${port}/telemetry/k10`;
  const out = await client(['-m', 'post', '-t', '50', '-b', '1024', '-f', file, url]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${out.stdout}${out.stderr}`, /4\.13 TOO_MANY_READINGS: the request holds more than 10,000 readings; the limit is 10,000 per request: split the request into smaller ones/);
  // The next request is the only one the journal holds (the helper nodes settle nothing).
  const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":1}', url]);
  assert.match(ok.stdout, /"accepted":1/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.equal(intakeStats().find((s) => s.id === `c${loads}`)!.pending, 1);
  assert.deepEqual(failed, []);
});

test('40-reading requests pause the input at its readings mark of 50: 5.03 with Max-Age naming the readings', async () => {
  // The helper nodes settle nothing: every request's readings stay in flight.
  await load({ highWater: 1000, highWaterReadings: 50, configVersion: 2 });
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const post = async (mid: number) => {
      const answer = new Promise<Buffer>((r) => sock.once('message', r));
      const body = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ t: mid * 100 + i })));
      sock.send(generate({ code: 'POST', messageId: mid, token: Buffer.from([mid]), confirmable: true, payload: Buffer.from(body), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('k9') }, { name: 'Content-Format', value: Buffer.from([50]) }] }), port, '127.0.0.1');
      return parse(await answer);
    };
    assert.equal((await post(1)).code, '2.04');
    // 40 readings in flight, below 50: taken; then 80.
    assert.equal((await post(2)).code, '2.04');
    const busy = await post(3);
    assert.equal(busy.code, '5.03');
    assert.match(busy.payload.toString(), /80 readings are waiting to be stored \(pause mark 50 readings\)/);
    assert.ok(busy.options.some((o) => o.name === 'Max-Age'));
  } finally {
    sock.close();
  }
});

test('a burst of 40-reading requests from several clients at once: 2.04 up to the readings mark of 50, 5.03 beyond', async () => {
  // The helper nodes settle nothing: every accepted request's readings stay in flight.
  await load({ highWater: 1000, highWaterReadings: 50, configVersion: 2 });
  const socks = Array.from({ length: 5 }, () => createSocket('udp4'));
  try {
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    // All sent before any is answered, as devices do that post at the same moment.
    const answers = socks.map((s) => new Promise<ReturnType<typeof parse>>((r) => s.once('message', (m) => r(parse(m)))));
    socks.forEach((s, n) => {
      const body = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ t: n * 100 + i })));
      s.send(generate({ code: 'POST', messageId: 500 + n, token: Buffer.from([n]), confirmable: true, payload: Buffer.from(body), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from(`b${n}`) }, { name: 'Content-Format', value: Buffer.from([50]) }] }), port, '127.0.0.1');
    });
    const codes = (await Promise.all(answers)).map((p) => p.code);
    // Below the mark a request is taken, so the one that reaches it is the last: 40, then 80 readings in flight.
    assert.deepEqual(codes.filter((c) => c === '2.04').length, 2, codes.join(' '));
    assert.deepEqual(codes.filter((c) => c === '5.03').length, 3, codes.join(' '));
    const pending = intakeStats().find((s) => s.id === `c${loads}`)!;
    assert.equal(pending.pendingReadings, 80);
  } finally {
    for (const s of socks) s.close();
  }
});

test('a retransmitted CON (same message ID, same endpoint) is stored once and answered the same', async () => {
  await load();
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const answers: Buffer[] = [];
    sock.on('message', (m) => answers.push(m));
    // No timestamp: a second store would be a second reading at another time.
    const req = generate({ code: 'POST', messageId: 777, token: Buffer.from([9]), confirmable: true, payload: Buffer.from('{"t":5}'), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('k5') }, { name: 'Content-Format', value: Buffer.from([50]) }] });
    sock.send(req, port, '127.0.0.1');
    sock.send(req, port, '127.0.0.1');
    const done = () => answers.map((a) => parse(a)).filter((p) => p.code === '2.04');
    await waitFor(() => (done().length >= 1 ? true : undefined), 'an answer');
    await new Promise((r) => setTimeout(r, 300));
    sock.send(req, port, '127.0.0.1');
    await waitFor(() => (done().length >= 2 ? true : undefined), 'the answer to the retransmission');
    const [first, again] = done();
    assert.equal(first.code, '2.04');
    assert.equal(again.code, '2.04');
    assert.equal(again.messageId, 777);
    assert.deepEqual(again.payload, first.payload);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stored.filter((r) => r.device === 'k5').length, 1);
  } finally {
    sock.close();
  }
});

test('Observe on /commands/{device} receives two commands pushed by the command node', async () => {
  await load();
  const observer = spawn('coap-client-notls', ['-m', 'get', '-s', '6', `coap://127.0.0.1:${port}/commands/k6`]);
  let out = '';
  observer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => observer.once('exit', () => r()));
  try {
    // The observation is registered once the initial (empty) notification went out.
    await new Promise((r) => setTimeout(r, 800));
    helper.getNode('cmd')!.receive({ device: 'k6', payload: { valve: 'open' } });
    await waitFor(() => (out.includes('"valve":"open"') ? true : undefined), 'the first command');
    helper.getNode('cmd')!.receive({ device: 'k6', payload: { valve: 'closed' } });
    await waitFor(() => (out.includes('"valve":"closed"') ? true : undefined), 'the second command');
  } finally {
    observer.kill('SIGTERM');
    await exited;
  }
  const get = await client(['-m', 'get', `coap://127.0.0.1:${port}/commands/k6`]);
  assert.match(get.stdout, /"valve":"closed"/);
});

test('a device login is required when configured; 4.01 answers stay within 3x the request', async () => {
  process.env.UPPERSTACK_MQTT_USERNAME = 'dev';
  process.env.UPPERSTACK_MQTT_PASSWORD = 'pw';
  try {
    await load();
    const sock = createSocket('udp4');
    try {
      const answer = new Promise<Buffer>((r) => sock.once('message', r));
      const req = generate({ code: 'POST', messageId: 1, confirmable: true, payload: Buffer.from('{}'), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('k7') }] });
      sock.send(req, port, '127.0.0.1');
      const a = await answer;
      assert.equal(parse(a).code, '4.01');
      assert.ok(a.length <= 3 * req.length, `${a.length} > 3 x ${req.length}`);
    } finally {
      sock.close();
    }
    const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":1}', `coap://127.0.0.1:${port}/telemetry/k7?u=dev&p=pw`]);
    assert.match(ok.stdout, /"accepted":1/);
  } finally {
    delete process.env.UPPERSTACK_MQTT_USERNAME;
    delete process.env.UPPERSTACK_MQTT_PASSWORD;
  }
});

test('a login in the query is read as the options carry it: a password with +, & and % logs in as over MQTT and HTTP', async () => {
  // A base64 password holds "+"; libcoap sends "%26" and "%25" as "&" and "%" inside the one Uri-Query option.
  process.env.UPPERSTACK_MQTT_USERNAME = 'dev';
  process.env.UPPERSTACK_MQTT_PASSWORD = 'pa+ss&w%41rd=';
  try {
    await load();
    const answer = async (args: string[]) => {
      const r = await client(args).catch((e: { stdout: string; stderr: string }) => e);
      return `${r.stdout}${r.stderr}`;
    };
    const url = `coap://127.0.0.1:${port}/telemetry/kq1`;
    assert.match(await answer(['-m', 'post', '-t', '50', '-e', '{"t":1}', `${url}?u=dev&p=pa+ss%26w%2541rd=`]), /"accepted":1,"deadLettered":0/);
    // The same characters percent-encoded once more are another password, not this one read twice.
    assert.match(await answer(['-m', 'post', '-t', '50', '-e', '{"t":2}', `${url}?u=dev&p=pa%252Bss%2526w%252541rd=`]), /4\.01 UNAUTHORIZED: wrong device login/);
    assert.match(await answer(['-m', 'post', '-t', '50', '-e', '{"t":3}', `${url}?u=dev&p=pa ss%26wArd=`]), /4\.01 UNAUTHORIZED: wrong device login/);
    await waitFor(() => (stored.length ? true : undefined), 'the reading');
    assert.deepEqual(stored.map((r) => [r.device, r.fields.t]), [['kq1', 1]]);
  } finally {
    delete process.env.UPPERSTACK_MQTT_USERNAME;
    delete process.env.UPPERSTACK_MQTT_PASSWORD;
  }
});

test('line protocol times are read in the unit ?precision= names, as over HTTP; another unit is 4.00 BAD_PARAMETER', async () => {
  await load();
  const url = `coap://127.0.0.1:${port}/telemetry/kp1`;
  const ok = await client(['-m', 'post', '-t', '0', '-e', 'm,device=kp1 a=1 1767225600', `${url}?precision=s`]);
  assert.match(ok.stdout, /"accepted":1,"deadLettered":0/);
  const bad = await client(['-m', 'post', '-t', '0', '-e', 'm,device=kp1 b=2 490896', `${url}?precision=h`]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${bad.stdout}${bad.stderr}`, /4\.00 BAD_PARAMETER: invalid precision "h" \(use ns, us, ms or s\)/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.deepEqual(stored.map((r) => [r.device, r.ts, r.fields]), [['kp1', 1767225600000, { a: 1 }]]);
});

test('where a login is required, an anonymous request is 4.01 before its device id is checked, as HTTP answers 401 before 400', async () => {
  process.env.UPPERSTACK_MQTT_USERNAME = 'dev';
  process.env.UPPERSTACK_MQTT_PASSWORD = 'pw';
  try {
    await load();
    const answer = async (args: string[]) => {
      const r = await client(args).catch((e: { stdout: string; stderr: string }) => e);
      return `${r.stdout}${r.stderr}`;
    };
    const bad = `coap://127.0.0.1:${port}/telemetry/temp%20sensor`;
    const anonymous = await answer(['-m', 'post', '-t', '50', '-e', '{"t":1}', bad]);
    assert.match(anonymous, /4\.01 UNAUTHORIZED: /);
    assert.doesNotMatch(anonymous, /BAD_DEVICE_ID/);
    assert.match(await answer(['-m', 'post', '-t', '50', '-e', '{"t":1}', `${bad}?u=dev&p=wrong`]), /4\.01 UNAUTHORIZED: wrong device login/);
    assert.match(await answer(['-m', 'get', `coap://127.0.0.1:${port}/commands/temp%20sensor`]), /4\.01/);
    // Logged in, the id is checked and refused in the rule's words.
    assert.match(await answer(['-m', 'post', '-t', '50', '-e', '{"t":1}', `${bad}?u=dev&p=pw`]), /4\.00 BAD_DEVICE_ID: "temp sensor" is not a device id/);
    assert.deepEqual([stored, failed], [[], []]);
  } finally {
    delete process.env.UPPERSTACK_MQTT_USERNAME;
    delete process.env.UPPERSTACK_MQTT_PASSWORD;
  }
});

test('anonymous discovery and 4.04 answers stay within 3x the datagram; libcoap still reads the whole list block-wise', async () => {
  await load();
  const sock = createSocket('udp4');
  try {
    const ask = async (req: Buffer) => {
      const answer = new Promise<Buffer>((r) => sock.once('message', r));
      sock.send(req, port, '127.0.0.1');
      const a = await answer;
      assert.ok(a.length <= 3 * req.length, `${a.length} > 3 x ${req.length} bytes`);
      return parse(a);
    };
    const path = (...segments: string[]) => segments.map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) }));
    // 21 bytes: the smallest discovery request there is (no token).
    const core = await ask(generate({ code: 'GET', messageId: 11, confirmable: true, options: path('.well-known', 'core') }));
    assert.equal(core.code, '2.05');
    assert.ok(core.options.some((o) => o.name === 'Block2'), 'a list longer than 3x the request goes block-wise');
    assert.match(core.payload.toString(), /^<\/telemetry>/);
    const missing = await ask(generate({ code: 'GET', messageId: 12, confirmable: true, options: path('x') }));
    assert.equal(missing.code, '4.04');
  } finally {
    sock.close();
  }
  const whole = await client(['-m', 'get', `coap://127.0.0.1:${port}/.well-known/core`]);
  assert.match(whole.stdout, /<\/telemetry>;rt="upperstack.telemetry";if="core.p";ct="50 60 110 112 42 41 0";title="POST or PUT \/telemetry\/\{device\}",<\/commands>;rt="upperstack.commands";if="core.s";obs;ct=50;title="GET \/commands\/\{device\} with Observe"/);
});

test('a datagram that is not readable CoAP gets a Reset (confirmable) or nothing, never a 5.00 with the parser\'s error', async () => {
  await load();
  const sock = createSocket('udp4');
  try {
    const answers: Buffer[] = [];
    sock.on('message', (m) => answers.push(m));
    // Confirmable, message ID 0x1234, an option whose extended delta byte is missing.
    sock.send(Buffer.from([0x40, 0x02, 0x12, 0x34, 0xd1]), port, '127.0.0.1');
    await waitFor(() => (answers.length > 0 ? true : undefined), 'the Reset');
    assert.deepEqual([...answers[0]], [0x70, 0x00, 0x12, 0x34]);
    // A payload marker with no payload, and a Uri-Path cut off by the end of the datagram, are message
    // format errors (RFC 7252 §3): a Reset each, not a request for a path that was never sent.
    sock.send(Buffer.from([0x40, 0x02, 0x12, 0x35, 0xb9, ...Buffer.from('telemetry'), 0x02, ...Buffer.from('d1'), 0xff]), port, '127.0.0.1');
    await waitFor(() => (answers.length > 1 ? true : undefined), 'the second Reset');
    assert.deepEqual([...answers[1]], [0x70, 0x00, 0x12, 0x35]);
    sock.send(Buffer.from([0x40, 0x02, 0x12, 0x36, 0xb9, ...Buffer.from('telemetry'), 0x08, ...Buffer.from('d1'), 0xff, 0x31]), port, '127.0.0.1');
    await waitFor(() => (answers.length > 2 ? true : undefined), 'the third Reset');
    assert.deepEqual([...answers[2]], [0x70, 0x00, 0x12, 0x36]);
    answers.splice(1, 2);
    // Version 2 and a non-confirmable malformed message are ignored: the next answer is the discovery's.
    sock.send(Buffer.from([0x80, 0x01, 0x00, 0x01]), port, '127.0.0.1');
    sock.send(Buffer.from([0x50, 0x02, 0x00, 0x02, 0x0d]), port, '127.0.0.1');
    sock.send(generate({ code: 'GET', messageId: 3, confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('.well-known') }, { name: 'Uri-Path', value: Buffer.from('core') }] }), port, '127.0.0.1');
    await waitFor(() => (answers.length > 1 ? true : undefined), 'the discovery answer');
    const next = parse(answers[1]);
    assert.equal(next.code, '2.05');
    assert.equal(next.messageId, 3);
  } finally {
    sock.close();
  }
});

test('a Uri-Path that is not UTF-8 is 4.00, never stored under a device name with U+FFFD in it', async () => {
  await load();
  const sock = createSocket('udp4');
  try {
    const answer = new Promise<Buffer>((r) => sock.once('message', r));
    sock.send(generate({ code: 'POST', messageId: 31, token: Buffer.from([3]), confirmable: true, payload: Buffer.from('{"t":1}'), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from([0x61, 0xff, 0x62]) }, { name: 'Content-Format', value: Buffer.from([50]) }] }), port, '127.0.0.1');
    const p = parse(await answer);
    assert.equal(p.code, '4.00');
    assert.equal(p.messageId, 31);
    assert.equal(p.payload.toString(), 'BAD_REQUEST: a Uri-Path option is not UTF-8 text');
  } finally {
    sock.close();
  }
  // A device id by the rule is stored: the input itself is fine.
  const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":2}', `coap://127.0.0.1:${port}/telemetry/a-b`]);
  assert.match(ok.stdout, /"accepted":1/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.deepEqual(stored.map((r) => [r.device, r.fields.t]), [['a-b', 2]]);
});

test('a device id in the path that breaks the id rule is 4.00 BAD_DEVICE_ID naming the rule, without a registry', async () => {
  await load();
  const body = '{"ts":1767225600000,"t":21.5}';
  for (const [path, shown] of [['telemetry/temp%20sensor', 'temp sensor'], ['telemetry/a,b', 'a,b'], ['telemetry/a%C3%BFb', 'a..b'], ['telemetry/a%2Fb', 'a/b']] as const) {
    const res = await client(['-m', 'post', '-t', '50', '-e', body, `coap://127.0.0.1:${port}/${path}`]).catch((e: { stdout: string; stderr: string }) => e);
    const out = `${res.stdout}${res.stderr}`;
    assert.match(out, /4\.00/, path);
    // libcoap prints the diagnostic payload of an error answer on stderr, bytes past ASCII as dots.
    assert.ok(out.includes(`BAD_DEVICE_ID: "${shown}" is not a device id: use 1 to 128 letters, digits, ".", "_", "-", ":" or "@"`), `${path}: ${out}`);
  }
  // Observing the commands of such a name is refused alike (the diagnostic of a GET without a body is cut at 3x its size).
  const get = await client(['-m', 'get', '-B', '2', `coap://127.0.0.1:${port}/commands/temp%20sensor`]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${get.stdout}${get.stderr}`, /4\.00 BAD_DEVICE_ID: "temp sensor" is not a device id/);
  // Not dead-lettered either: nothing was journaled under such a name.
  const ok = await client(['-m', 'post', '-t', '50', '-e', body, `coap://127.0.0.1:${port}/telemetry/temp-sensor`]);
  assert.match(ok.stdout, /"accepted":1/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.deepEqual(stored.map((r) => r.device), ['temp-sensor']);
  assert.deepEqual(failed, []);
});

test('an Observe GET that is refused gets its 4.xx code without an Observe option, not a 2.05 notification', async () => {
  await load();
  const sock = createSocket('udp4');
  try {
    const answer = new Promise<Buffer>((r) => sock.once('message', r));
    // GET /commands with Observe but without a device: no such resource.
    sock.send(generate({ code: 'GET', messageId: 41, token: Buffer.from([4, 1]), confirmable: true, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('commands') }] }), port, '127.0.0.1');
    const p = parse(await answer);
    assert.equal(p.code, '4.04');
    assert.equal(p.messageId, 41);
    assert.equal(p.options.find((o) => o.name === 'Observe'), undefined);
    assert.match(p.payload.toString(), /^NOT_FOUND: resources: /);
  } finally {
    sock.close();
  }
});

test('a CoAP port already in use fails the input and /health, and the runtime keeps running', async () => {
  // Held by a plain socket, as by any other program on the machine.
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  const busy = taken.address().port;
  try {
    // Before, the library's socket error had no listener: an uncaught exception ended this process.
    await helper.load([coapNode], [{ id: 'busy', type: 'upperstack-coap-in', name: 'busy port', port: String(busy), bind: '127.0.0.1', wires: [[], []] }]);
    const shown: Array<{ fill?: string; text?: string }> = [];
    (helper.getNode('busy') as unknown as { on(e: 'call:status', f: (c: { args: [{ fill?: string; text?: string }] }) => void): void }).on('call:status', (c) => shown.push(c.args[0]));
    const health = await healthWhen((h) => h['coap:busy port']?.ok === false);
    assert.equal(health['coap:busy port']?.ok, false);
    assert.equal(health['coap:busy port'].detail, `not listening on udp 127.0.0.1:${busy}: port ${busy} on 127.0.0.1 is already in use by another program: stop it, or give this CoAP input another port; trying again`);
    // The status keeps the failure: before, the request rate (green, "0 req/s") replaced it within a second.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(shown.filter((s) => s.fill !== 'red'), [], JSON.stringify(shown));
    // The rest of the runtime still answers: a second input on a free port takes a reading.
    await helper.unload();
    await load();
    const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":3}', `coap://127.0.0.1:${port}/telemetry/k8`]);
    assert.match(ok.stdout, /"accepted":1/);
    assert.equal((await checkHealth())['coap:busy port'], undefined);
  } finally {
    taken.close();
  }
});

interface Call {
  thisValue: unknown;
  args: unknown[];
}

/** The helper spies on Node-RED's Node prototype: what node `id` alone logged or showed. */
function callsOn(id: string, method: 'error' | 'status' | 'log'): unknown[][] {
  const node = helper.getNode(id) as unknown as Record<string, { getCalls(): Call[] }>;
  return node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}

/** A UDP socket on a free loopback port, as any other program on the machine holds one. */
async function holdUdpPort(): Promise<{ port: number; release(): Promise<void> }> {
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  return { port: taken.address().port, release: () => new Promise<void>((r) => taken.close(() => r())) };
}

/** With the node's English texts, as the log and the editor show them. */
const translated = [translating(catalogTranslator(['coap-in'])), coapNode];

const inputOn = (id: string, on: number) => [
  { id, type: 'upperstack-coap-in', name: 'waiting', port: String(on), bind: '127.0.0.1', wires: [['ok'], ['bad']] },
  { id: 'ok', type: 'helper' },
  { id: 'bad', type: 'helper' },
];

/** A reading posted until the input answers 2.04 (coap-client prints the answer's body, which says what it took). */
async function posted(on: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const res = await client(['-m', 'post', '-B', '1', '-t', '50', '-e', '{"t":3}', `coap://127.0.0.1:${on}/telemetry/k8`]).catch(() => ({ stdout: '' }));
    if (/"accepted":1/.test(res.stdout)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no 2.04 from udp 127.0.0.1:${on}`);
}

test('a CoAP port another program holds: the input says so once, keeps trying, and answers 2.04 once the port comes free', async () => {
  const held = await holdUdpPort();
  let released = false;
  try {
    await helper.load(translated, inputOn('wait1', held.port));
    const failing = await healthWhen((h) => h['coap:waiting']?.ok === false);
    assert.match(failing['coap:waiting']?.detail ?? '', new RegExp(`^not listening on udp 127\\.0\\.0\\.1:${held.port}: port ${held.port} on 127\\.0\\.0\\.1 is already in use by another program: .*; trying again$`));
    const errors = await waitFor(() => (callsOn('wait1', 'error').length ? callsOn('wait1', 'error') : undefined), 'the refusal logged');
    assert.match(String(errors[0]?.[0]), /^cannot listen on udp 127\.0\.0\.1:\d+: port \d+ on 127\.0\.0\.1 is already in use by another program: .*; trying again$/);
    const shown = callsOn('wait1', 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
    assert.equal(shown?.fill, 'red');
    assert.match(shown?.text ?? '', /already in use by another program.*; trying again$/);

    await held.release();
    released = true;
    await posted(held.port);
    assert.deepEqual((await checkHealth())['coap:waiting'], { ok: true, detail: `listening on udp 127.0.0.1:${held.port}` });
    assert.equal(callsOn('wait1', 'error').length, 1, 'the refusal is logged once, however often it was tried');
    assert.ok(callsOn('wait1', 'log').some((a) => String(a[0]) === `listening on udp 127.0.0.1:${held.port} after the port came free`), JSON.stringify(callsOn('wait1', 'log')));
  } finally {
    if (!released) await held.release();
  }
});

test('a redeploy while the CoAP port is in use stops the old input trying; the new one answers once the port comes free', async () => {
  const held = await holdUdpPort();
  let released = false;
  try {
    await helper.load(translated, inputOn('wait2', held.port));
    await healthWhen((h) => h['coap:waiting']?.ok === false);
    await helper.unload();
    await helper.load(translated, inputOn('wait3', held.port));
    const failing = await healthWhen((h) => h['coap:waiting']?.ok === false);
    assert.equal(failing['coap:waiting']?.ok, false);
    await held.release();
    released = true;
    await posted(held.port);
    assert.equal((await checkHealth())['coap:waiting']?.ok, true);
  } finally {
    if (!released) await held.release();
  }
});

test('a second CoAP input on a port one already listens on fails with EADDRINUSE instead of sharing it', async () => {
  // Before, the library's SO_REUSEADDR let both bind: both said they listened, and the kernel gave
  // every datagram to only one of them.
  const shared = await freeUdpPort();
  await helper.load([coapNode], [
    { id: 'shareA', type: 'upperstack-coap-in', name: 'one', port: String(shared), bind: '127.0.0.1', wires: [[], []] },
    { id: 'shareB', type: 'upperstack-coap-in', name: 'other', port: String(shared), bind: '127.0.0.1', wires: [[], []] },
  ]);
  const settled = (h: Health) => h['coap:one']?.detail !== 'starting' && h['coap:other']?.detail !== 'starting' && (h['coap:one']?.ok === false || h['coap:other']?.ok === false);
  const health = await healthWhen(settled);
  const states = [health['coap:one'], health['coap:other']];
  const failing = states.filter((c) => c?.ok === false);
  const listening = states.filter((c) => c?.ok === true);
  assert.equal(failing.length, 1, JSON.stringify(health));
  assert.equal(listening.length, 1, JSON.stringify(health));
  assert.match(failing[0]!.detail, new RegExp(`^not listening on udp 127\\.0\\.0\\.1:${shared}: port ${shared} on 127\\.0\\.0\\.1 is already in use by `));
  assert.equal(listening[0]!.detail, `listening on udp 127.0.0.1:${shared}`);
  // The one refused names the input that has the port, so the user knows which of the two to change.
  const holder = listening[0] === health['coap:one'] ? 'CoAP input "one" (shareA)' : 'CoAP input "other" (shareB)';
  assert.ok(failing[0]!.detail.endsWith(` is already in use by ${holder} in this Node-RED: give one of them another port; trying again`), failing[0]!.detail);
});

test('two CoAP inputs of one name are both in /health, told apart by id: a failing one is not hidden by the other', async () => {
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  const busy = taken.address().port;
  const free = await freeUdpPort();
  try {
    await helper.load([coapNode], [
      { id: 'twinBusy', type: 'upperstack-coap-in', name: 'field', port: String(busy), bind: '127.0.0.1', wires: [[], []] },
      { id: 'twinFree', type: 'upperstack-coap-in', name: 'field', port: String(free), bind: '127.0.0.1', wires: [[], []] },
    ]);
    const health = await healthWhen((h) => h['coap:field (twinBusy)']?.ok === false && /^listening/.test(h['coap:field (twinFree)']?.detail ?? ''));
    assert.equal(health['coap:field (twinBusy)']?.ok, false, 'the input on the taken port is listed, failing');
    assert.match(health['coap:field (twinBusy)'].detail, /is already in use by another program/);
    assert.equal(health['coap:field (twinFree)']?.ok, true, 'the other is listed, healthy');
    assert.equal(health['coap:field (twinFree)'].detail, `listening on udp 127.0.0.1:${free}`);
    assert.equal(health['coap:field'], undefined);
    // With one of them gone, the other is under its name alone again.
    await helper.unload();
    await helper.load([coapNode], [{ id: 'twinFree', type: 'upperstack-coap-in', name: 'field', port: String(free), bind: '127.0.0.1', wires: [[], []] }]);
    const alone = await healthWhen((h) => h['coap:field']?.ok === true);
    assert.equal(alone['coap:field']?.ok, true);
    assert.equal(alone['coap:field (twinFree)'], undefined);
  } finally {
    taken.close();
  }
});

test('a ping (empty CON) gets a Reset; a stray Reset, an empty NON and a 9-byte token get no request answer', async () => {
  await load();
  const sock = createSocket('udp4');
  try {
    const answers: Buffer[] = [];
    sock.on('message', (m) => answers.push(m));
    // A Reset for no exchange of ours, an empty NON, an empty CON (ping): only the ping is answered.
    sock.send(Buffer.from([0x70, 0x00, 0x00, 0x06]), port, '127.0.0.1');
    sock.send(Buffer.from([0x50, 0x00, 0x00, 0x07]), port, '127.0.0.1');
    sock.send(Buffer.from([0x40, 0x00, 0x00, 0x08]), port, '127.0.0.1');
    await waitFor(() => (answers.length > 0 ? true : undefined), 'the Reset');
    // A CON whose token length nibble is 9 (reserved): a message format error, so a Reset, never 4.04.
    sock.send(Buffer.concat([Buffer.from([0x49, 0x02, 0x00, 0x09]), Buffer.from('123456789')]), port, '127.0.0.1');
    await waitFor(() => (answers.length > 1 ? true : undefined), 'the second Reset');
    sock.send(generate({ code: 'GET', messageId: 10, confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('.well-known') }, { name: 'Uri-Path', value: Buffer.from('core') }] }), port, '127.0.0.1');
    await waitFor(() => (answers.length > 2 ? true : undefined), 'the discovery answer');
    const [ping, tkl, next] = answers.map((a) => parse(a));
    assert.deepEqual([ping.reset, ping.code, ping.messageId], [true, '0.00', 8]);
    assert.deepEqual([tkl.reset, tkl.messageId], [true, 9]);
    assert.deepEqual([next.code, next.messageId], ['2.05', 10]);
    assert.equal(answers.length, 3);
  } finally {
    sock.close();
  }
});
