import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decode, FORMATS, sniff, type Format } from '../../nodes/lib/codec';
import { DecodeError, DepthExceededError, isLimitError } from '../../nodes/lib/errors';

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

/** Junk is a DecodeError, or the error of a limit it breaks first (deep nesting, too many members...). */
function assertDecodeError(format: Format, buf: Buffer, expected: 'decode' | 'limit' | typeof DepthExceededError = 'decode'): void {
  assert.throws(() => decode(format, buf), (err: unknown) => {
    if (typeof expected === 'function') assert.ok(err instanceof expected, `${format}: expected ${expected.name}, got ${String(err)}`);
    else if (expected === 'limit') assert.ok(err instanceof DecodeError || isLimitError(err), `${format}: expected DecodeError or a limit, got ${String(err)}`);
    else assert.ok(err instanceof DecodeError, `${format}: expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, format);
    assert.ok(err.message.length < 500, `${format}: message is ${err.message.length} characters`);
    return true;
  });
}

describe('1 MB of junk', () => {
  for (const format of FORMATS) {
    test(`random bytes are a DecodeError for ${format}`, () => {
      for (const seed of [1, 2, 3]) assertDecodeError(format, junk(seed), 'limit');
    });
  }

  test('random printable text is a DecodeError for the text formats', () => {
    const text = junk(7, MB, 'abc{}[]",:=\\ 0123456789.\n#');
    assertDecodeError('json', text, 'limit');
    assertDecodeError('lineprotocol', text, 'limit');
  });

  test('deep nesting cannot overflow the stack: it is DEPTH_EXCEEDED, found before decoding', () => {
    assertDecodeError('json', Buffer.alloc(MB, '['), DepthExceededError);
    assertDecodeError('cbor', Buffer.alloc(MB, 0x81), DepthExceededError); // arrays of one array of one ...
    assertDecodeError('cbor', Buffer.alloc(MB, 0x9f), DepthExceededError); // indefinite arrays, never closed
    assertDecodeError('msgpack', Buffer.alloc(MB, 0x91), DepthExceededError);
    assertDecodeError('protobuf', Buffer.alloc(MB, 0x0b), DepthExceededError); // nested groups
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
