import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decode, FORMATS, sniff, type Format } from '../../nodes/lib/codec';
import { DecodeError } from '../../nodes/lib/errors';

const MB = 1 << 20;

/** Deterministic junk (mulberry32), so a failure can be reproduced. */
function junk(seed: number, size = MB, alphabet?: string): Buffer {
  const buf = Buffer.alloc(size);
  let a = seed;
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const r = (t ^ (t >>> 14)) >>> 0;
    buf[i] = alphabet ? alphabet.charCodeAt(r % alphabet.length) : r & 0xff;
  }
  return buf;
}

function assertDecodeError(format: Format, buf: Buffer): void {
  const started = Date.now();
  assert.throws(() => decode(format, buf), (err: unknown) => {
    assert.ok(err instanceof DecodeError, `${format}: expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, format);
    assert.ok(err.message.length < 500, `${format}: message is ${err.message.length} characters`);
    return true;
  });
  assert.ok(Date.now() - started < 2000, `${format} took ${Date.now() - started} ms`);
}

describe('1 MB of junk', () => {
  for (const format of FORMATS) {
    test(`random bytes are a DecodeError for ${format}, quickly`, () => {
      for (const seed of [1, 2, 3]) assertDecodeError(format, junk(seed));
    });
  }

  test('random printable text is a DecodeError for the text formats', () => {
    const text = junk(7, MB, 'abc{}[]",:=\\ 0123456789.\n#');
    assertDecodeError('json', text);
    assertDecodeError('lineprotocol', text);
  });

  test('deep nesting cannot overflow the stack', () => {
    assertDecodeError('json', Buffer.alloc(MB, '['));
    assertDecodeError('cbor', Buffer.alloc(MB, 0x81)); // arrays of one array of one ...
    assertDecodeError('cbor', Buffer.alloc(MB, 0x9f)); // indefinite arrays, never closed
    assertDecodeError('msgpack', Buffer.alloc(MB, 0x91));
    assertDecodeError('protobuf', Buffer.alloc(MB, 0x0b)); // nested groups
  });

  test('one huge line is a DecodeError whose message stays short', () => {
    assertDecodeError('lineprotocol', Buffer.alloc(MB, 'a'));
  });

  test('sniffing junk returns a format or undefined and never throws', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const guess = sniff(junk(seed));
      assert.ok(guess === undefined || FORMATS.includes(guess));
    }
  });
});
