/**
 * upperstack-coap-in and the options of a request, with libcoap's coap-client-notls:
 * a POST or PUT that carries Observe is stored like a plain one (RFC 7641: Observe
 * means nothing there), and a critical option the input does not understand is
 * refused 4.02 naming it (RFC 7252 §5.4.1), a proxy request 5.05, while an elective
 * option the input does not know is ignored. Two Block1 uploads at once from one
 * endpoint to one resource are kept apart by their Request-Tag (RFC 9175).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import { coapClient as client, coapInLoader, waitFor } from '../helpers/coap-node';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');

helper.init(require.resolve('node-red'));

const load = coapInLoader([coapNode], 'o');

useTestRuntime('us-coap-options-');

test('a confirmable POST and a non-confirmable PUT with Observe are stored and answered 2.04 like plain ones', async () => {
  const { port, stored, failed } = await load();
  // -s asks libcoap to observe: it sends Observe 0 with the POST.
  const con = await client(['-m', 'post', '-s', '1', '-t', '50', '-e', '{"t":2}', `coap://127.0.0.1:${port}/telemetry/cobs1`]);
  assert.match(con, /"accepted":1,"deadLettered":0/);
  assert.doesNotMatch(con, /Observe can only/);
  const non = await client(['-m', 'put', '-N', '-s', '1', '-t', '50', '-e', '{"t":3}', `coap://127.0.0.1:${port}/telemetry/cobs2`]);
  assert.match(non, /"accepted":1,"deadLettered":0/);
  await waitFor(() => (stored.length >= 2 ? true : undefined), 'both readings');
  assert.deepEqual(stored.map((r) => [r.device, r.fields.t]).sort(), [['cobs1', 2], ['cobs2', 3]]);
  assert.deepEqual(failed, []);
});

test('an unknown critical option is 4.02 naming it, a proxy request 5.05, and nothing is stored; an unknown elective option is ignored', async () => {
  const { port, stored, failed } = await load();
  const url = `coap://127.0.0.1:${port}/telemetry/copt`;
  const oscore = await client(['-m', 'post', '-t', '50', '-O', '9,abc', '-e', '{"t":1}', url]);
  assert.match(oscore, /4\.02/);
  assert.match(oscore, /BAD_OPTION: critical option 9 \(OSCORE\) is not supported: send the request without it/);
  const unknown = await client(['-m', 'post', '-N', '-t', '50', '-O', '65001,abc', '-e', '{"t":2}', url]);
  assert.match(unknown, /4\.02/);
  assert.match(unknown, /critical option 65001 is not supported/);
  // libcoap sends a request with a proxy option to a proxy of its own: a raw one goes to the input.
  const sock = createSocket('udp4');
  try {
    const answer = new Promise<Buffer>((r) => sock.once('message', r));
    const options = [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('copt') }, { name: 'Proxy-Uri', value: Buffer.from('coap://elsewhere/x') }] as const;
    sock.send(generate({ code: 'POST', messageId: 51, token: Buffer.from([5]), confirmable: true, payload: Buffer.from('{"t":4}'), options: [...options] }), port, '127.0.0.1');
    const p = parse(await answer);
    assert.equal(p.code, '5.05');
    assert.equal(p.messageId, 51);
    assert.ok(p.ack);
    assert.equal(p.payload.toString(), 'PROXYING_NOT_SUPPORTED: this endpoint is not a proxy (Proxy-Uri); send the request to the server itself');
  } finally {
    sock.close();
  }
  const elective = await client(['-m', 'post', '-t', '50', '-O', '65000,abc', '-e', '{"t":3}', url]);
  assert.match(elective, /"accepted":1/);
  await waitFor(() => (stored.length ? true : undefined), 'the reading');
  assert.deepEqual(stored.map((r) => r.fields.t), [3]);
  assert.deepEqual(failed, []);
});

test('two Block1 uploads from one endpoint to one resource at once, told apart by their Request-Tag, are each stored whole', async () => {
  const { port, stored, failed } = await load();
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const answers = new Map<number, (p: ReturnType<typeof parse>) => void>();
  sock.on('message', (m) => {
    const p = parse(m);
    answers.get(p.messageId)?.(p);
  });
  let mid = 700;
  const send = (tag: number, num: number, more: boolean, payload: Buffer) => {
    const messageId = ++mid;
    // An answer that never comes fails the test rather than leaving it waiting.
    const answer = new Promise<ReturnType<typeof parse>>((r, j) => {
      const timer = setTimeout(() => j(new Error(`no answer to message ${messageId}`)), 10_000);
      answers.set(messageId, (p) => {
        clearTimeout(timer);
        r(p);
      });
    });
    // Block1 with 16-byte blocks (SZX 0); a Request-Tag (option 292) of one byte per upload.
    const options = [
      { name: 'Uri-Path', value: Buffer.from('telemetry') },
      { name: 'Uri-Path', value: Buffer.from('ctag') },
      { name: 'Content-Format', value: Buffer.from([50]) },
      { name: 'Block1', value: Buffer.from([(num << 4) | (more ? 8 : 0)]) },
      { name: 292, value: Buffer.from([tag]) },
    ] as const;
    sock.send(generate({ code: 'POST', messageId, token: Buffer.from([tag, num]), confirmable: true, payload, options: [...options] }), port, '127.0.0.1');
    return answer;
  };
  const body = (base: number) => Buffer.from(JSON.stringify(Array.from({ length: 4 }, (_, i) => ({ ts: 1767225600000 + i * 1000, t: base + i }))));
  const a = body(10);
  const b = body(90);
  assert.equal(a.length, b.length);
  const blocks = Math.ceil(a.length / 16);
  assert.ok(blocks >= 3);
  try {
    // The blocks of the two uploads alternate: A0 B0 A1 B1 ...
    for (let num = 0; num < blocks; num++) {
      const more = num < blocks - 1;
      for (const [tag, whole] of [[1, a], [2, b]] as const) {
        const p = await send(tag, num, more, whole.subarray(num * 16, (num + 1) * 16));
        assert.equal(p.code, more ? '2.31' : '2.04', `upload ${tag} block ${num}: ${p.payload.toString()}`);
        if (!more) assert.match(p.payload.toString(), /"accepted":4,"deadLettered":0/);
      }
    }
  } finally {
    sock.close();
  }
  await waitFor(() => (stored.length >= 8 ? true : undefined), 'both uploads');
  assert.deepEqual(stored.map((r) => r.fields.t).sort((x, y) => Number(x) - Number(y)), [10, 11, 12, 13, 90, 91, 92, 93]);
  assert.ok(stored.every((r) => r.device === 'ctag'));
  assert.deepEqual(failed, []);
});

test('a FETCH, with or without a Content-Format, is answered 4.05 (4.04 off the resources) in the exchange it came in, and so is an unassigned method with Observe; nothing is stored', async () => {
  const { port, stored, failed } = await load();
  const url = `coap://127.0.0.1:${port}`;
  // -B 5: without an answer it can match, libcoap gives up after 5 s and prints nothing.
  const bare = await client(['-m', 'fetch', '-B', '5', `${url}/telemetry/cfetch`]);
  assert.match(bare, /4\.05 METHOD_NOT_ALLOWED: POST or PUT telemetry/);
  const typed = await client(['-m', 'fetch', '-B', '5', '-t', '50', '-e', '{"t":1}', `${url}/telemetry/cfetch`]);
  assert.match(typed, /4\.05 METHOD_NOT_ALLOWED: POST or PUT telemetry/);
  assert.match(await client(['-m', 'fetch', '-B', '5', '-N', `${url}/commands/cfetch`]), /4\.05 METHOD_NOT_ALLOWED: GET \(with Observe\) the commands/);
  assert.match(await client(['-m', 'fetch', '-B', '5', `${url}/.well-known/core`]), /4\.05 METHOD_NOT_ALLOWED: GET only/);
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  try {
    const answer = new Promise<Buffer>((r, j) => {
      const timer = setTimeout(() => j(new Error('no answer to the FETCH')), 10_000);
      sock.once('message', (m) => {
        clearTimeout(timer);
        r(m);
      });
    });
    const options = [{ name: 'Uri-Path', value: Buffer.from('nowhere') }] as const;
    const token = Buffer.from([7, 8, 9]);
    const req = generate({ code: '0.05', messageId: 61, token, confirmable: true, options: [...options] });
    sock.send(req, port, '127.0.0.1');
    const raw = await answer;
    const p = parse(raw);
    assert.equal(p.code, '4.04');
    assert.ok(p.ack, 'a piggybacked answer (ACK) to the confirmable request');
    assert.equal(p.messageId, 61);
    assert.deepEqual(p.token, token);
    assert.match(p.payload.toString(), /^NOT_FOUND: /);
    assert.ok(raw.length <= 3 * req.length, `${raw.length} > 3 x ${req.length}`);
    // An unassigned method code with Observe: the same 4.05 a POST-only resource gives any other method.
    const again = new Promise<Buffer>((r) => sock.once('message', r));
    sock.send(generate({ code: '0.10', messageId: 62, token, confirmable: true, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('cfetch') }], payload: Buffer.from('{"t":1}') }), port, '127.0.0.1');
    const q = parse(await again);
    assert.deepEqual([q.code, q.ack, q.messageId, q.token], ['4.05', true, 62, token]);
    assert.equal(q.payload.toString(), 'METHOD_NOT_ALLOWED: POST or PUT telemetry');
  } finally {
    sock.close();
  }
  assert.deepEqual([stored, failed], [[], []]);
});
