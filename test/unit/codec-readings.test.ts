import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, sniffDecoded } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { DecodeError, UnsupportedFormatError } from '../../nodes/lib/errors';

test('sniffing hands back the value it had to decode, equal to a plain decode', () => {
  const json = Buffer.from('{"t":1.5}');
  assert.deepEqual(sniffDecoded(json), { format: 'json', decoded: { value: { t: 1.5 } } });
  const cbor = encode('cbor', [{ t: 2 }]);
  const s = sniffDecoded(cbor);
  assert.equal(s?.format, 'cbor');
  assert.deepEqual(s?.decoded?.value, decode('cbor', cbor));
});

test('auto mode turns each sniffable format into readings', () => {
  const opts = { format: 'auto' as const, device: 'd1', receivedAt: 1767225600000, maxBytes: 1 << 20 };
  for (const [format, payload] of [
    ['json', Buffer.from('{"t":1,"ts":1767225601000}')],
    ['cbor', encode('cbor', { t: 1, ts: 1767225601000 })],
    ['msgpack', encode('msgpack', { t: 1, ts: 1767225601000 })],
    ['lineprotocol', Buffer.from('d1 t=1 1767225601000000000')],
  ] as const) {
    const r = decodeReadings(payload, opts);
    assert.equal(r.format, format);
    assert.equal(r.readings[0].ts, 1767225601000, format);
    assert.equal(r.readings[0].fields.t, 1, format);
  }
});

test('broken JSON in auto mode still reports the byte offset', () => {
  assert.throws(
    () => decodeReadings(Buffer.from('{"t": 1,'), { format: 'auto', receivedAt: 0, maxBytes: 100 }),
    (e: unknown) => e instanceof DecodeError && typeof e.details.offset === 'number',
  );
});

test('bytes of no known format and oversized payloads are refused with the reason', () => {
  assert.throws(() => decodeReadings(Buffer.from([0xc1, 0xc1]), { format: 'auto', receivedAt: 0, maxBytes: 100 }), UnsupportedFormatError);
  assert.throws(() => decodeReadings(Buffer.alloc(101, 0x20), { format: 'auto', receivedAt: 0, maxBytes: 100 }), /more than the limit of 100 bytes/);
});
