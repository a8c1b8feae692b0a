/**
 * upperstack-coap-in's requests and answers, with libcoap's coap-client-notls (Debian libcoap3-bin)
 * and a raw UDP socket: CON and NON posts, SenML, a 4 KB body block-wise, discovery, the 4.xx
 * answers with what is wrong (bad requests dead-lettered), a retransmitted CON stored once, Observe
 * receiving two pushed commands, line protocol's ?precision=, and device ids in the path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import { tempDir } from '../helpers/temp';
import { coapRun as client, coapInLoader, waitFor } from '../helpers/coap-node';
import { withRegistered } from '../helpers/registered';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');
const commandNode = require('../../nodes/command/command');

helper.init(require.resolve('node-red'));
const scratch = tempDir('us-coap-node-');

const load = coapInLoader([coapNode, commandNode], 'c', [
  { id: 'cmd', type: 'upperstack-command', topic: '', configVersion: 1, wires: [[]] },
]);

useTestRuntime('us-coap-requests-');

test('CON and NON posts, SenML, a 4 KB body block-wise, discovery', async () => {
  const { port, stored } = await load();
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
  const { port, stored, failed } = await load();
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

test('a retransmitted CON (same message ID, same endpoint) is stored once and answered the same', async () => {
  const { port, stored } = await load();
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
  const { port } = await load();
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

test('line protocol times are read in the unit ?precision= names, as over HTTP; another unit is 4.00 BAD_PARAMETER', async () => {
  const { port, stored } = await load();
  const url = `coap://127.0.0.1:${port}/telemetry/kp1`;
  const ok = await client(['-m', 'post', '-t', '0', '-e', 'm,device=kp1 a=1 1767225600', `${url}?precision=s`]);
  assert.match(ok.stdout, /"accepted":1,"deadLettered":0/);
  const bad = await client(['-m', 'post', '-t', '0', '-e', 'm,device=kp1 b=2 490896', `${url}?precision=h`]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${bad.stdout}${bad.stderr}`, /4\.00 BAD_PARAMETER: invalid precision "h" \(use ns, us, ms or s\)/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.deepEqual(stored.map((r) => [r.device, r.ts, r.fields]), [['kp1', 1767225600000, { a: 1 }]]);
});

test('a Uri-Path that is not UTF-8 is 4.00, never stored under a device name with U+FFFD in it', async () => {
  const { port, stored } = await load();
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
  const { port, stored, failed } = await load();
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
  const { port } = await load();
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
