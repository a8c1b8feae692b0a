/**
 * upperstack-coap-in and the login of a Block1 upload, with libcoap's coap-client-notls
 * (`-b 64`) and a raw UDP socket, against a registered device: every block carries the
 * login (Uri-Query), so a wrong or missing one is answered 4.01 at the first block,
 * with the diagnostic a single request gets, and nothing of the upload is kept (the
 * next block is 4.08, no transfer to continue); the right login stores the body once.
 * An upload to /.well-known/core, which anyone may ask and which takes no body, is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { useDevices } from '../../nodes/shared/devices';
import { intakeStats } from '../../nodes/lib/ingest';
import { coapClient as client, coapInLoader, waitFor } from '../helpers/coap-node';
import { tempDir } from '../helpers/temp';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');

helper.init(require.resolve('node-red'));
const scratch = tempDir('us-coap-block1-');

const load = coapInLoader([coapNode], 'b');

/** One block of an upload (a POST to /telemetry/{device} unless told), sent from `sock` to the input on `port`; resolves the answer to it. */
function sendBlock(sock: ReturnType<typeof createSocket>, port: number, messageId: number, device: string, query: string[], block1: number, payload: Buffer, code = 'POST', path = ['telemetry', device]): Promise<ReturnType<typeof parse>> {
  const answer = new Promise<ReturnType<typeof parse>>((resolve) => {
    const on = (m: Buffer) => {
      const p = parse(m);
      if (p.messageId !== messageId) return;
      sock.off('message', on);
      resolve(p);
    };
    sock.on('message', on);
  });
  const options = [
    ...path.map((segment) => ({ name: 'Uri-Path', value: Buffer.from(segment) })),
    ...query.map((q) => ({ name: 'Uri-Query', value: Buffer.from(q) })),
    { name: 'Block1', value: Buffer.from([block1]) },
  ];
  sock.send(generate({ code, messageId, token: Buffer.from([messageId & 255]), confirmable: true, payload, options: options as Parameters<typeof generate>[0]['options'] }), port, '127.0.0.1');
  return answer;
}

useTestRuntime('us-coap-block1-data-');

test('a Block1 upload with a wrong or missing login is 4.01 at its first block and nothing is kept; the right login stores it once', async () => {
  const { id, port, stored, failed } = await load();
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const auth = new DeviceAuth({ registry });
  await auth.ready;
  const { secret } = await registry.add({ id: 'blk-1' });
  const release = useDevices({ owner: {}, auth, registry });
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  try {
    const big = Array.from({ length: 40 }, (_, i) => ({ ts: 1767225600000 + i * 1000, t: i, note: 'z'.repeat(20) }));
    const file = join(scratch, 'upload.json');
    writeFileSync(file, JSON.stringify(big));
    const url = (query: string) => `coap://127.0.0.1:${port}/telemetry/blk-1${query}`;

    // The diagnostic a single request with the wrong secret gets, and what the upload gets.
    const single = await client(['-m', 'post', '-t', '50', '-e', '{"t":1}', url('?k=wrong')]);
    assert.match(single, /4\.01 UNAUTHORIZED: wrong secret for device "blk-1"/);
    const wrong = await client(['-m', 'post', '-t', '50', '-b', '64', '-f', file, url('?k=wrong')]);
    assert.match(wrong, /4\.01 UNAUTHORIZED: wrong secret for device "blk-1"/);

    // Block 0 of a raw upload (64 bytes, more to come): 4.01 at once rather than 2.31 Continue.
    const block = Buffer.alloc(64, 0x20);
    const first = await sendBlock(sock, port, 7001, 'blk-1', ['k=wrong'], 0x0a, block);
    assert.equal(first.code, '4.01');
    assert.equal(first.payload.toString(), 'UNAUTHORIZED: wrong secret for device "blk-1"');
    // Nothing was kept: block 1, even with the right login, has no transfer to continue.
    const next = await sendBlock(sock, port, 7002, 'blk-1', [`k=${secret}`], 0x1a, block);
    assert.equal(next.code, '4.08');
    assert.match(next.payload.toString(), /^REQUEST_INCOMPLETE: block 1 came without the blocks before it/);
    // No login at all, for a registered device: refused at block 0 as a single request is.
    const anonymous = await sendBlock(sock, port, 7003, 'blk-1', [], 0x0a, block);
    assert.equal(anonymous.code, '4.01');
    assert.equal(anonymous.payload.toString(), 'UNAUTHORIZED: device "blk-1" is registered: it must log in with its own id and secret');
    assert.equal((await sendBlock(sock, port, 7004, 'blk-1', [], 0x1a, block)).code, '4.08');
    // Discovery needs no login, and takes no body: an upload to it is refused, not kept.
    const discovery = await sendBlock(sock, port, 7005, '', [], 0x0a, block, 'GET', ['.well-known', 'core']);
    assert.equal(discovery.code, '4.02');
    assert.equal(discovery.payload.toString(), 'BAD_OPTION: /.well-known/core takes no body: send the request without Block1');

    // The right login (as ?u=&p= confirmable, as ?k= non-confirmable): each upload is taken whole and journaled once.
    const right = await client(['-m', 'post', '-t', '50', '-b', '64', '-f', file, url(`?u=blk-1&p=${secret}`)]);
    assert.match(right, /"accepted":40,"deadLettered":0/);
    const again = await client(['-m', 'post', '-N', '-t', '50', '-b', '64', '-f', file, url(`?k=${secret}`)]);
    assert.match(again, /"accepted":40,"deadLettered":0/);
    await waitFor(() => (stored.length >= 80 ? true : undefined), 'the readings');
    assert.deepEqual(stored.map((r) => r.fields.t), [...big, ...big].map((b) => b.t));
    assert.equal(intakeStats().find((s) => s.id === id)!.pending, 2);
    assert.deepEqual(failed, []);
  } finally {
    sock.close();
    release();
  }
});
