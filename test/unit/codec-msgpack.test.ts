import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '../../nodes/lib/codec';
import { findMsgpackProblem } from '../../nodes/lib/codec/msgpack-scan';
import { DecodeError } from '../../nodes/lib/errors';

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

  test('the scanner accepts every kind of value the encoder writes', () => {
    const all = { nil: null, t: true, u8: 200, u16: 60000, u32: 4e9, i8: -100, i16: -30000, i32: -2e9, f: 0.1, s: 'x'.repeat(300), bin: new Uint8Array(70000), arr: new Array(20).fill(1), date: new Date(0) };
    assert.equal(findMsgpackProblem(encode('msgpack', all)), undefined);
  });
});
