import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RemoteInfo, Socket } from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { datagramFilter } from '../../nodes/coap-in/datagrams';

/** What the filter answers to one datagram itself (it sends on the socket), parsed. */
function answerTo(datagram: Buffer, maxBytes: number): ReturnType<typeof parse> {
  const sent: Buffer[] = [];
  const sock = { send: (b: Buffer) => sent.push(b) } as unknown as Socket;
  const rinfo: RemoteInfo = { address: '127.0.0.1', port: 40000, family: 'IPv4', size: datagram.length };
  assert.equal(datagramFilter(maxBytes, () => undefined)(datagram, rinfo, sock), undefined, 'answered by the filter, not passed on');
  assert.equal(sent.length, 1);
  return parse(sent[0]);
}

const path = [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('d1') }] as const;

test('the answers the datagram filter gives start with their stable code, as the input\'s other diagnostics do', () => {
  // A payload past the limit in one datagram: 4.13, PAYLOAD_TOO_LARGE as HTTP's 413.
  const big = answerTo(generate({ code: 'POST', messageId: 1, token: Buffer.from([1]), confirmable: true, payload: Buffer.alloc(300, 0x20), options: [...path] }), 256);
  assert.equal(big.code, '4.13');
  assert.equal(big.payload.toString(), 'PAYLOAD_TOO_LARGE: the payload is more than 256 bytes');
  // A Block1 option of four bytes cannot be read (at most three).
  const unreadable = answerTo(generate({ code: 'POST', messageId: 2, token: Buffer.from([2]), confirmable: true, payload: Buffer.alloc(16), options: [...path, { name: 'Block1', value: Buffer.from([0, 0, 0, 0x0a]) }] }), 256);
  assert.equal(unreadable.code, '4.00');
  assert.equal(unreadable.payload.toString(), 'BAD_REQUEST: the Block1 option cannot be read');
  // A block out of order: 4.08 Request Entity Incomplete.
  const late = answerTo(generate({ code: 'POST', messageId: 3, token: Buffer.from([3]), confirmable: true, payload: Buffer.alloc(16), options: [...path, { name: 'Block1', value: Buffer.from([0x18]) }] }), 256);
  assert.equal(late.code, '4.08');
  assert.match(late.payload.toString(), /^REQUEST_INCOMPLETE: block 1 came without the blocks before it/);
});
