import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import nodeBuffer from 'node:buffer';
import { decode, encode } from '../../nodes/lib/codec';
import { findMsgpackProblem } from '../../nodes/lib/codec/msgpack-scan';
import { Decoder } from '@msgpack/msgpack';
import { DecodeError, InvalidReadingError } from '../../nodes/lib/errors';
import { findCborProblem } from '../../nodes/lib/codec/cbor-scan';
import { DEFAULT_LIMITS } from '../../nodes/lib/limits';

const reading = { device: 'd1', ts: 1700000000000, fields: { t: 22.5, s: 'hello world', ok: true, n: -3 }, tags: { room: 'kitchen' } };

function decodeError(bytes: number[] | Buffer): DecodeError {
  try {
    decode('msgpack', Buffer.from(bytes));
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, 'msgpack');
    return err;
  }
  throw new assert.AssertionError({ message: 'decode did not fail' });
}

describe('msgpack codec', () => {
  test('round-trips readings and batches', () => {
    assert.deepEqual(decode('msgpack', encode('msgpack', reading)), reading);
    const batch = Array.from({ length: 20 }, (_, i) => ({ ...reading, device: `d${i}`, fields: { i, f: i / 3, s: 'ü'.repeat(i) } }));
    assert.deepEqual(decode('msgpack', encode('msgpack', batch)), batch);
  });

  test('undefined properties are left out, as in JSON', () => {
    assert.deepEqual(decode('msgpack', encode('msgpack', { a: 1, b: undefined })), { a: 1 });
  });

  test('truncated input at every length is a DecodeError with an offset inside the data', () => {
    const full = encode('msgpack', reading);
    for (let cut = 1; cut < full.length; cut++) {
      const err = decodeError(full.subarray(0, cut));
      assert.match(err.message, new RegExp(`^MessagePack data ends early at byte \\d+ of ${cut}: `));
      assert.ok(typeof err.details.offset === 'number' && err.details.offset <= cut);
    }
  });

  test('names the value that is cut off', () => {
    const err = decodeError([0x81, 0xa1, 0x61, 0xcb, 0x40, 0x36]);
    assert.equal(err.details.offset, 3);
    assert.equal(err.message, 'MessagePack data ends early at byte 3 of 6: a float 64 value of 8 bytes starts there but only 2 bytes follow its header');
  });

  test('a header promising more items or bytes than follow is the data ending early, not too wide or too long, as in CBOR', () => {
    // map 16 of 65,535 entries and nothing after it: cut off, whatever the field limit says.
    const map = findMsgpackProblem(Buffer.from([0xde, 0xff, 0xff]), DEFAULT_LIMITS);
    assert.equal(map?.error, undefined);
    assert.equal(map?.message, 'MessagePack data ends early at byte 0 of 3: a map of 65535 entries starts there but only 0 bytes follow');
    // The same in CBOR (a map of 65,535 pairs, 0xB9 0xFF 0xFF) reads the same way.
    assert.match(findCborProblem(Buffer.from([0xb9, 0xff, 0xff]), DEFAULT_LIMITS)?.message ?? '', /^CBOR data ends early at byte 0 of 3: /);
    // array 32 at the top level: more than 10,000 readings declared, 4 bytes there.
    assert.match(findMsgpackProblem(Buffer.from([0xdd, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04]), DEFAULT_LIMITS)?.message ?? '', /^MessagePack data ends early at byte 0 of 9: an array of 65536 items/);
    // str 32 of 4 GiB, 1 byte there.
    assert.match(findMsgpackProblem(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]), DEFAULT_LIMITS)?.message ?? '', /^MessagePack data ends early at byte 0 of 6: a str 32 value/);
    // A header itself cut off is early too.
    assert.match(findMsgpackProblem(Buffer.from([0xde, 0xff]), DEFAULT_LIMITS)?.message ?? '', /^MessagePack data ends early at byte 0 of 2: the map 16 header/);
    // Well-formed data that is wider than the limit is still the limit's error.
    const wide = encode('msgpack', Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`f${i}`, i])));
    assert.equal(findMsgpackProblem(wide, DEFAULT_LIMITS)?.error?.code, 'TOO_MANY_FIELDS');
  });

  test('reports the never-used type byte and trailing data', () => {
    const never = decodeError([0x91, 0xc1]);
    assert.equal(never.details.offset, 1);
    assert.match(never.message, /0xC1 is not a MessagePack type byte/);
    const extra = decodeError([0x01, 0x02]);
    assert.equal(extra.details.offset, 1);
    assert.match(extra.message, /1 unexpected byte\(s\) after the value/);
  });

  test('well-formed data with a non-scalar map key is a DecodeError without an offset', () => {
    const err = decodeError([0x81, 0x80, 0x01]);
    assert.match(err.message, /well-formed but cannot be decoded/);
    assert.equal(err.details.offset, undefined);
  });

  test('a string that is not UTF-8 is a DecodeError at the bad byte, not read as other characters', () => {
    // {"t": "\xff\xfe"} as a fixstr, the same as str 8, a key, overlong "/" and a character cut by the string's end.
    const value = decodeError([0x81, 0xa1, 0x74, 0xa2, 0xff, 0xfe]);
    assert.equal(value.details.offset, 4);
    assert.match(value.message, /^MessagePack data is invalid at byte 4: the string starting at byte 3 is not valid UTF-8: byte 4 \(0xFF\) can never appear in UTF-8$/);
    assert.match(decodeError([0x81, 0xa1, 0x74, 0xd9, 0x02, 0xff, 0xfe]).message, /at byte 5: the str 8 starting at byte 3 /);
    assert.equal(decodeError([0x81, 0xa2, 0xff, 0xfe, 0x01]).details.offset, 2);
    assert.equal(decodeError([0x81, 0xa1, 0x74, 0xa2, 0xc0, 0xaf]).details.offset, 4);
    assert.match(decodeError([0x81, 0xa1, 0x74, 0xa2, 0x61, 0xe2]).message, /byte 5 \(0xE2\) starts a 3-byte character that the end of the string cuts off/);
    assert.deepEqual(decode('msgpack', Buffer.from([0x81, 0xa1, 0x74, 0xa6, ...Buffer.from('ü🚀')])), { t: 'ü🚀' });
    // bin is not text.
    assert.equal(findMsgpackProblem(Buffer.from([0x81, 0xa1, 0x74, 0xc4, 0x02, 0xff, 0xfe])), undefined);
  });

  test('a long string is checked by Node\'s native UTF-8 check, and a bad one is still reported at its first bad byte', () => {
    // The scan reads isUtf8 off the module at each call, so counting calls on the module sees whether it is used.
    const native = nodeBuffer.isUtf8;
    let calls = 0;
    nodeBuffer.isUtf8 = (input) => {
      calls++;
      return native(input);
    };
    try {
      // {"t": <200 bytes of text>} as a str 8 (0xD9 0xC8).
      const good = Buffer.from([0x81, 0xa1, 0x74, 0xd9, 0xc8, ...Buffer.from('ü'.repeat(100))]);
      assert.deepEqual(decode('msgpack', good), { t: 'ü'.repeat(100) });
      assert.ok(calls > 0, 'the long string went through isUtf8');
      for (const [at, byte, why] of [[5, 0xff, 'can never appear in UTF-8'], [150, 0xbf, 'is a continuation byte with no character before it'], [204, 0xc3, 'starts a 2-byte character that the end of the string cuts off']] as const) {
        const bad = Buffer.from(good);
        // The character before becomes ASCII, so 0xBF stands alone and 0xC3 starts the last one.
        if (at > 5) bad[at - 1] = 0x61;
        bad[at] = byte;
        const err = decodeError(bad);
        assert.equal(err.details.offset, at);
        assert.equal(err.message, `MessagePack data is invalid at byte ${at}: the str 8 starting at byte 3 is not valid UTF-8: byte ${at} (0x${byte.toString(16).toUpperCase()}) ${why}`);
      }
    } finally {
      nodeBuffer.isUtf8 = native;
    }
  });

  test('a map key "__proto__" is refused by name whatever the decoder says about it, in any string type; in overlong UTF-8 it is not UTF-8', () => {
    const RESERVED = /^a map key: "__proto__" cannot name a field or tag \(JavaScript reserves it\): rename it$/;
    const refused = (bytes: number[]) => assert.throws(() => decode('msgpack', Buffer.from(bytes)), (e: unknown) => e instanceof InvalidReadingError && RESERVED.test(e.message) && e.details.format === 'msgpack');
    const name = [...Buffer.from('__proto__')];
    const overlong = [0xc1, 0x9f, 0xc1, 0x9f, ...Buffer.from('proto'), 0xc1, 0x9f, 0xc1, 0x9f];
    const keys = [[0xa9, ...name], [0xd9, 9, ...name], [0xda, 0, 9, ...name]];
    assert.match(decodeError([0x81, 0xa0 | overlong.length, ...overlong, 0x05]).message, /at byte 2: the string starting at byte 1 is not valid UTF-8/);
    for (const key of keys) refused([0x82, 0xa1, 0x61, 0x01, ...key, 0x05]);
    // Nested, after a value that is the same text (not a key).
    refused([0x82, 0xa1, 0x61, 0xa9, ...name, 0xa1, 0x62, 0x81, 0xa9, ...name, 0x05]);
    // The decoder's own words are not what tells it.
    const decodeAsIs = Decoder.prototype.decode;
    Decoder.prototype.decode = function reworded(this: InstanceType<typeof Decoder>, ...args: Parameters<typeof decodeAsIs>) {
      try {
        return decodeAsIs.apply(this, args);
      } catch {
        throw new Error('some other wording');
      }
    };
    try {
      for (const key of keys) refused([0x81, ...key, 0x05]);
      assert.match(decodeError([0x81, 0x80, 0x01]).message, /cannot be decoded: some other wording/);
    } finally {
      Decoder.prototype.decode = decodeAsIs;
    }
    // The same text as a value, or a key that only looks like it, decodes.
    assert.deepEqual(decode('msgpack', Buffer.from([0x81, 0xa1, 0x61, 0xa9, ...name])), { a: '__proto__' });
    assert.deepEqual(decode('msgpack', Buffer.from([0x81, 0xaa, ...name, 0x5f, 0x01])), { __proto___: 1 });
  });

  test('the scanner accepts every kind of value the encoder writes', () => {
    const all = { nil: null, t: true, u8: 200, u16: 60000, u32: 4e9, i8: -100, i16: -30000, i32: -2e9, f: 0.1, s: 'x'.repeat(300), bin: new Uint8Array(70000), arr: new Array(20).fill(1), date: new Date(0) };
    assert.equal(findMsgpackProblem(encode('msgpack', all)), undefined);
  });
});
