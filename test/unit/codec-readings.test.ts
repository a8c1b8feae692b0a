import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, sniffDecoded } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { encodeSenmlCbor } from '../../nodes/lib/codec/senml';
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

test('a lone SenML record is SenML in auto mode and as JSON where SenML is looked for; an object that is not SenML beyond doubt stays a reading', () => {
  const opts = { device: 'd1', receivedAt: 1767225600000 };
  const one = Buffer.from('{"bn":"d1:","n":"temp","v":21.5}');
  for (const r of [decodeReadings(one, { ...opts, format: 'auto' }), decodeReadings(one, { ...opts, format: 'json', senmlInJson: true })]) {
    assert.equal(r.format, 'senml');
    assert.deepEqual(r.readings.map((x) => x.fields), [{ temp: 21.5 }]);
  }
  assert.equal(decodeReadings(one, { ...opts, format: 'json' }).format, 'json');
  for (const text of ['{"n":3,"v":1}', '{"n":"temp","v":"21.5"}', '{"n":"temp","v":1,"site":"north"}', '{"n":"temp","u":"Cel"}']) {
    const r = decodeReadings(Buffer.from(text), { ...opts, format: 'auto' });
    assert.equal(r.format, 'json', text);
    assert.deepEqual(r.readings[0].fields, JSON.parse(text), text);
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

test('an empty payload is DECODE_FAILED "the payload is empty" in every format, as the HTTP and CoAP inputs refuse an empty body', () => {
  for (const format of ['auto', 'json', 'cbor', 'protobuf'] as const) {
    assert.throws(
      () => decodeReadings(Buffer.alloc(0), { format, receivedAt: 0 }),
      (e: unknown) => e instanceof DecodeError && e.code === 'DECODE_FAILED' && e.message === 'the payload is empty',
      format,
    );
  }
});

test('a field or tag named "__proto__" is refused in every format, naming it, where it was dropped, renamed or kept before', () => {
  const NOW = 1767225600000;
  const field: Record<string, unknown> = { a: 1 };
  Object.defineProperty(field, '__proto__', { value: 5, enumerable: true });
  const tagged = { a: 1, tags: JSON.parse('{"__proto__":"x"}') as Record<string, string> };
  const double = Buffer.alloc(8);
  double.writeDoubleLE(5);
  // protobufjs cannot write the key: the map entry's bytes are spelled out (field 3, key "__proto__", Value.number 5).
  const entry = Buffer.concat([Buffer.from([0x0a, 0x09]), Buffer.from('__proto__'), Buffer.from([0x12, 0x09, 0x09]), double]);
  const pbField = Buffer.concat([encode('protobuf', { device: 'd1', ts: NOW, fields: { a: 1 }, tags: {} }), Buffer.from([0x1a, entry.length]), entry]);
  const tagEntry = Buffer.concat([Buffer.from([0x0a, 0x09]), Buffer.from('__proto__'), Buffer.from([0x12, 0x01]), Buffer.from('x')]);
  const pbTag = Buffer.concat([encode('protobuf', { device: 'd1', ts: NOW, fields: { a: 1 }, tags: {} }), Buffer.from([0x22, tagEntry.length]), tagEntry]);
  const cases: Array<[string, 'json' | 'cbor' | 'msgpack' | 'protobuf' | 'lineprotocol' | 'xml' | 'senml' | 'senml-cbor', Buffer, RegExp]> = [
    ['JSON field', 'json', Buffer.from('{"__proto__":5,"a":1}'), /^__proto__: "__proto__" cannot name a field \(JavaScript reserves it\): rename it$/],
    ['JSON tag', 'json', Buffer.from('{"a":1,"tags":{"__proto__":"x"}}'), /^tags\.__proto__: "__proto__" cannot name a tag/],
    ['JSON fields member', 'json', Buffer.from('{"fields":{"__proto__":5,"a":1}}'), /^fields\.__proto__: "__proto__" cannot name a field/],
    ['CBOR field', 'cbor', encode('cbor', field), /^__proto__: "__proto__" cannot name a field/],
    ['CBOR tag', 'cbor', encode('cbor', tagged), /^tags\.__proto__: "__proto__" cannot name a tag/],
    ['MessagePack field', 'msgpack', encode('msgpack', field), /"__proto__" cannot name a field or tag/],
    ['protobuf field', 'protobuf', pbField, /^fields\.__proto__: "__proto__" cannot name a field/],
    ['protobuf tag', 'protobuf', pbTag, /^tags\.__proto__: "__proto__" cannot name a tag/],
    ['line protocol field', 'lineprotocol', Buffer.from('m __proto__=5,a=1'), /^\[0\]\.fields\.__proto__: "__proto__" cannot name a field/],
    ['line protocol tag', 'lineprotocol', Buffer.from('m,__proto__=x a=1'), /^\[0\]\.tags\.__proto__: "__proto__" cannot name a tag/],
    ['XML field', 'xml', Buffer.from('<reading><__proto__>5</__proto__><a>1</a></reading>'), /^\[0\]\.fields\.__proto__: "__proto__" cannot name a field/],
    ['XML tag', 'xml', Buffer.from('<reading><a>1</a><tag name="__proto__">x</tag></reading>'), /^\[0\]\.tags\.__proto__: "__proto__" cannot name a tag/],
    // After a base name naming the device, the record's own name is the field.
    ['SenML field after the device', 'senml', Buffer.from('[{"bn":"d1:","n":"__proto__","v":1},{"n":"a","v":2}]'), /^\[0\]\.fields\.__proto__: "__proto__" cannot name a field/],
    ['SenML only field after the device', 'senml', Buffer.from('[{"bn":"d1:","n":"__proto__","v":1}]'), /^\[0\]\.fields\.__proto__: "__proto__" cannot name a field/],
    ['SenML CBOR field after the device', 'senml-cbor', encodeSenmlCbor([new Map<number, unknown>([[-2, 'd1:'], [0, '__proto__'], [2, 1]])]), /^\[0\]\.fields\.__proto__: "__proto__" cannot name a field/],
  ];
  for (const [what, format, payload, message] of cases) {
    let error: { code: string; message: string } | undefined;
    try {
      const out = decodeReadings(payload, { format, device: 'd1', receivedAt: NOW, maxBytes: 1 << 20 });
      assert.equal(out.readings.length, 0, `${what}: ${JSON.stringify(out.readings)}`);
      error = out.rejected[0]?.error;
    } catch (err) {
      error = err as { code: string; message: string };
    }
    assert.equal(error?.code, 'INVALID_READING', what);
    assert.match(error.message, message, what);
  }
  // As a value, or inside a longer name, it is an ordinary string.
  const ok = decodeReadings(encode('protobuf', { device: 'd1', ts: NOW, fields: { a: '__proto__' }, tags: { x: '__proto__' } }), { format: 'protobuf', device: 'd1', receivedAt: NOW, maxBytes: 1 << 20 });
  assert.deepEqual(ok.readings[0].fields, { a: '__proto__' });
  const nested = decodeReadings(encode('cbor', { n: { __x: 1 }, v: '__proto__' }), { format: 'cbor', device: 'd1', receivedAt: NOW, maxBytes: 1 << 20 });
  assert.deepEqual(nested.readings[0].fields, { 'n.__x': 1, v: '__proto__' });
});
