import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode, formatFromContentType, sniff, sniffDecoded } from '../../nodes/lib/codec';
import { DecodeError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';

const fixture = (name: string) => readFileSync(join(packageRoot(), 'test', 'fixtures', 'users', name));
const reading = { device: 'd1', ts: 1700000000000, fields: { t: 22.5 }, tags: {} };

describe('sniff', () => {
  test('JSON objects and arrays, after whitespace or a BOM', () => {
    assert.equal(sniff(Buffer.from(' \r\n\t{"a":1}')), 'json');
    assert.equal(sniff(Buffer.from('[1,2]')), 'json');
    assert.equal(sniff(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')])), 'json');
    assert.equal(sniff(fixture('http-insert-sample.json')), 'json');
  });

  test('broken JSON is still JSON (for its precise error) unless it has the line protocol shape', () => {
    assert.equal(sniff(Buffer.from('{"a": oops')), 'json');
    assert.equal(sniff(Buffer.from('{x},host=a v=1')), 'lineprotocol');
  });

  test('CBOR maps, arrays and the self-describe tag', () => {
    assert.equal(sniff(encode('cbor', reading)), 'cbor');
    assert.equal(sniff(encode('cbor', [reading, reading])), 'cbor');
    assert.equal(sniff(Buffer.from([0xd9, 0xd9, 0xf7, 0xa0])), 'cbor');
    // Tag 259 before a map (cbor-x's JS Map); the same header before anything else, or cut short, is not taken for it.
    assert.equal(sniff(Buffer.from([0xd9, 0x01, 0x03, 0xa1, 0x61, 0x74, 0x01])), 'cbor');
    assert.equal(sniff(Buffer.from([0xd9, 0x01, 0x03, 0x01])), undefined);
    assert.equal(sniff(Buffer.from([0xd9, 0x01])), undefined);
  });

  test('MessagePack fixmap, map16 and fixarray', () => {
    assert.equal(sniff(encode('msgpack', reading)), 'msgpack');
    const wide = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, i]));
    assert.equal(encode('msgpack', wide)[0], 0xde);
    assert.equal(sniff(encode('msgpack', wide)), 'msgpack');
    assert.equal(sniff(encode('msgpack', [reading, reading])), 'msgpack');
  });

  test('bytes both decoders accept follow the documented tie-break', () => {
    assert.equal(sniff(Buffer.from([0x80])), 'msgpack'); // empty map in msgpack, empty array in CBOR
    // CBOR: array of 7 ones; MessagePack: fixarray of 8 (7, then seven ones).
    assert.equal(sniff(Buffer.from([0x98, 0x07, 1, 1, 1, 1, 1, 1, 1])), 'cbor');
    assert.equal(sniff(Buffer.from([0x90])), 'msgpack', 'only MessagePack can read an empty fixarray');
  });

  test('a payload well-formed in one binary format whose text is not UTF-8 is that format, and decoding says why', () => {
    // {"t": "\xff\xfe"} as MessagePack; as CBOR these bytes are cut short.
    const mp = Buffer.from([0x81, 0xa1, 0x74, 0xa2, 0xff, 0xfe]);
    assert.equal(sniff(mp), 'msgpack');
    assert.throws(() => sniffDecoded(mp), (e: unknown) => e instanceof DecodeError && e.details.format === 'msgpack' && e.details.offset === 4 && /not valid UTF-8/.test(e.message));
    // [{"t": "\xff"}] as CBOR; as MessagePack a fixarray of one map of 0xA1 entries, cut short.
    const cbor = Buffer.from([0x81, 0xa1, 0x61, 0x74, 0x61, 0xff]);
    assert.equal(sniff(cbor), 'cbor');
    assert.throws(() => sniffDecoded(cbor), (e: unknown) => e instanceof DecodeError && e.details.format === 'cbor' && e.details.offset === 5);
    // Malformed structure after the bad text is reported first: nothing says the data is that format.
    assert.equal(sniff(Buffer.from([0x82, 0xa1, 0x74, 0xa2, 0xff, 0xfe])), undefined);
  });

  test('line protocol, also after comments', () => {
    assert.equal(sniff(fixture('line-protocol-sample.txt')), 'lineprotocol');
    assert.equal(sniff(Buffer.from('# exported\n\nweather\\ station,site=a temp=1.5 1\n')), 'lineprotocol');
  });

  test('protobuf, plain text and nothing are not guessed', () => {
    assert.equal(sniff(Buffer.from([0x0a, 0x02, 0x64, 0x31, 0x10, 0x05])), undefined);
    assert.equal(sniff(Buffer.from('hello world')), undefined);
    assert.equal(sniff(Buffer.from('4 2')), undefined);
    assert.equal(sniff(Buffer.alloc(0)), undefined);
    assert.equal(sniff(Buffer.from('   ')), undefined);
  });

  test('a JSON scalar is JSON (a reading it is not, which normalising says)', () => {
    for (const text of ['42', '-0.5e-3 ', '"on"', 'true', 'false', 'null']) assert.equal(sniff(Buffer.from(text)), 'json', text);
    for (const text of ['042', '"open', 'nulls', 'True']) assert.equal(sniff(Buffer.from(text)), undefined, text);
  });
});

describe('formatFromContentType', () => {
  test('maps the usual media types, ignoring case and parameters', () => {
    const cases: Array<[string, string | undefined]> = [
      ['application/json', 'json'],
      ['Application/JSON; charset=utf-8', 'json'],
      ['application/senml+json', 'senml'],
      ['application/vnd.example+json', 'json'],
      ['application/cbor', 'cbor'],
      ['application/senml+cbor', 'senml-cbor'],
      ['application/vnd.example+cbor', 'cbor'],
      ['application/xml', 'xml'],
      ['application/msgpack', 'msgpack'],
      ['application/x-msgpack', 'msgpack'],
      ['application/vnd.msgpack', 'msgpack'],
      ['application/x-protobuf', 'protobuf'],
      ['application/protobuf', 'protobuf'],
      ['text/plain', 'lineprotocol'],
      ['text/plain; charset=utf-8', 'lineprotocol'],
      ['application/octet-stream', undefined],
      ['constructor', undefined],
      ['', undefined],
    ];
    for (const [ct, format] of cases) assert.equal(formatFromContentType(ct), format, ct);
    assert.equal(formatFromContentType(undefined), undefined);
  });
});
