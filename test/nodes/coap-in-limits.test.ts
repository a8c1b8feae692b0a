/**
 * upperstack-coap-in's limits, with libcoap's coap-client-notls and a raw UDP socket: a Block1
 * upload whose Size1 announces more than the size limit is refused at its first block, a body of
 * more than 10,000 readings is refused naming the limit, and requests past the readings mark are
 * answered 5.03 (one client after another, and several at once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import { tempDir } from '../helpers/temp';
import { coapRun as client, coapInLoader, waitFor } from '../helpers/coap-node';
import { intakeStats } from '../../nodes/lib/ingest';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');

helper.init(require.resolve('node-red'));
const scratch = tempDir('us-coap-limits-');

const load = coapInLoader([coapNode], 'c');

useTestRuntime('us-coap-limits-');

test('a Block1 upload whose Size1 announces more than the limit is refused 4.13 with Size1 at its first block', async () => {
  const { port, stored, failed } = await load();
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
  const { id, port, stored, failed } = await load({ maxBytes: 65536 });
  const file = join(scratch, 'too-many.json');
  writeFileSync(file, JSON.stringify(Array.from({ length: 10_001 }, () => ({}))));
  const url = `coap://127.0.0.1:${port}/telemetry/k10`;
  const out = await client(['-m', 'post', '-t', '50', '-b', '1024', '-f', file, url]).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${out.stdout}${out.stderr}`, /4\.13 TOO_MANY_READINGS: the request holds more than 10,000 readings; the limit is 10,000 per request: split the request into smaller ones/);
  // The next request is the only one the journal holds (the helper nodes settle nothing).
  const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":1}', url]);
  assert.match(ok.stdout, /"accepted":1/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.equal(intakeStats().find((s) => s.id === id)!.pending, 1);
  assert.deepEqual(failed, []);
});

test('40-reading requests pause the input at its readings mark of 50: 5.03 with Max-Age naming the readings', async () => {
  // The helper nodes settle nothing: every request's readings stay in flight.
  const { port } = await load({ highWater: 1000, highWaterReadings: 50, configVersion: 2 });
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
  const { id, port } = await load({ highWater: 1000, highWaterReadings: 50, configVersion: 2 });
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
    const pending = intakeStats().find((s) => s.id === id)!;
    assert.equal(pending.pendingReadings, 80);
  } finally {
    for (const s of socks) s.close();
  }
});
