/**
 * upperstack-coap-in and datagrams that are not requests, sent from a raw UDP socket: a message it
 * cannot read gets a Reset when confirmable and nothing otherwise, never a 5.00 with the parser's
 * error; a ping (an empty CON) gets a Reset, a stray Reset and an empty NON get no answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import { coapInLoader, waitFor } from '../helpers/coap-node';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');

helper.init(require.resolve('node-red'));

const load = coapInLoader([coapNode], 'c');

useTestRuntime('us-coap-malformed-');

test('a datagram that is not readable CoAP gets a Reset (confirmable) or nothing, never a 5.00 with the parser\'s error', async () => {
  const { port } = await load();
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

test('a ping (empty CON) gets a Reset; a stray Reset, an empty NON and a 9-byte token get no request answer', async () => {
  const { port } = await load();
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
