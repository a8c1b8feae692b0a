import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import nodeBuffer from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { decode, encode } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { findCborProblem } from '../../nodes/lib/codec/cbor-scan';
import { DecodeError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';

const reading = { device: 'd1', ts: 1700000000000, fields: { t: 22.5, s: 'hello world', ok: false, n: -3 }, tags: { room: 'kitchen' } };

function decodeError(bytes: number[] | Buffer): DecodeError {
  try {
    decode('cbor', Buffer.from(bytes));
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, 'cbor');
    return err;
  }
  throw new assert.AssertionError({ message: 'decode did not fail' });
}

describe('cbor codec', () => {
  test('round-trips readings, arrays and nested values', () => {
    assert.deepEqual(decode('cbor', encode('cbor', reading)), reading);
    const batch = [reading, { ...reading, device: 'd2', fields: { big: 2 ** 40, tiny: 1e-9, text: 'ü🚀' } }];
    assert.deepEqual(decode('cbor', encode('cbor', batch)), batch);
  });

  test('truncated input at every length is a DecodeError with the offset of the cut-off item', () => {
    const full = encode('cbor', reading);
    for (let cut = 1; cut < full.length; cut++) {
      const err = decodeError(full.subarray(0, cut));
      assert.match(err.message, new RegExp(`^CBOR data ends early at byte \\d+ of ${cut}: `));
      assert.ok(typeof err.details.offset === 'number' && err.details.offset >= 0 && err.details.offset <= cut, `offset ${err.details.offset} for cut ${cut}`);
    }
  });

  test('names the item that the end of the data cuts off', () => {
    const err = decodeError([0x63, 0x61, 0x62]);
    assert.equal(err.message, 'CBOR data ends early at byte 0 of 3: a text string of 3 bytes starts there but only 2 bytes follow its header');
    assert.equal(err.details.offset, 0);
    const inMap = decodeError([0xa2, 0x61, 0x61, 0x01, 0x61, 0x62]);
    assert.equal(inMap.details.offset, 0);
    assert.match(inMap.message, /the map starting there still needs 1 more item/);
  });

  test('a 64-bit length past 2^53 is named exactly as the data declares it', () => {
    const ff = Array<number>(8).fill(0xff);
    assert.equal(decodeError([0x9b, ...ff]).message, 'CBOR data ends early at byte 0 of 9: an array of 18446744073709551615 items starts there but only 0 bytes follow');
    assert.equal(decodeError([0xbb, ...ff]).message, 'CBOR data ends early at byte 0 of 9: a map of 18446744073709551615 entries starts there but only 0 bytes follow');
    assert.equal(
      decodeError([0x5b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]).message,
      'CBOR data ends early at byte 0 of 9: a byte string of 9007199254740993 bytes starts there but only 0 bytes follow its header',
    );
  });

  test('reports malformed bytes and trailing data where they are', () => {
    assert.match(decodeError([0xff]).message, /byte 0: a break \(0xFF\) outside/);
    assert.match(decodeError([0x1c]).message, /byte 0: 0x1C is not a valid initial byte/);
    assert.match(decodeError([0xbf, 0x61, 0x61, 0xff]).message, /byte 3: the indefinite-length map starting at byte 0 ends after a key with no value/);
    const extra = decodeError(Buffer.concat([encode('cbor', reading), Buffer.from([0x01, 0x02])]));
    assert.equal(extra.details.offset, encode('cbor', reading).length);
    assert.match(extra.message, /2 unexpected byte\(s\) after the value/);
  });

  test('a text string that is not UTF-8 is a DecodeError at the bad byte, not text with U+FFFD in it', () => {
    // {"t": "\xff\xfe"}: the value, a key, a chunk of an indefinite string, and a character cut by the string's end.
    const value = decodeError([0xa1, 0x61, 0x74, 0x62, 0xff, 0xfe]);
    assert.equal(value.details.offset, 4);
    assert.match(value.message, /^CBOR data is invalid at byte 4: the text string starting at byte 3 is not valid UTF-8: byte 4 \(0xFF\) can never appear in UTF-8$/);
    assert.equal(decodeError([0xa1, 0x62, 0x74, 0xc3, 0x01]).details.offset, 3);
    assert.equal(decodeError([0xa1, 0x61, 0x74, 0x7f, 0x61, 0x61, 0x62, 0x61, 0x80, 0xff]).details.offset, 8);
    assert.match(decodeError([0xa1, 0x61, 0x74, 0x7f, 0x61, 0xc3, 0x61, 0xa9, 0xff]).message, /byte 5 \(0xC3\) starts a 2-byte character that the end of the text string cuts off/);
    // Overlong and surrogate forms are not UTF-8 either; byte strings are not text.
    assert.equal(decodeError([0xa1, 0x61, 0x74, 0x62, 0xc1, 0x9f]).details.offset, 4);
    assert.equal(decodeError([0xa1, 0x61, 0x74, 0x63, 0xed, 0xa0, 0x80]).details.offset, 4);
    assert.deepEqual(decode('cbor', Buffer.from([0xa1, 0x61, 0x74, 0x66, ...Buffer.from('ü🚀')])), { t: 'ü🚀' });
    assert.equal(findCborProblem(Buffer.from([0xa1, 0x61, 0x74, 0x42, 0xff, 0xfe])), undefined);
    // Data malformed after the bad text is reported as malformed.
    assert.match(decodeError([0x82, 0x62, 0xff, 0xfe]).message, /^CBOR data ends early at byte 0 of 4: the array starting there still needs 1 more item/);
  });

  test('a long text string is checked by Node\'s native UTF-8 check, and a bad one is still reported at its first bad byte', () => {
    // The scan reads isUtf8 off the module at each call, so counting calls on the module sees whether it is used.
    const native = nodeBuffer.isUtf8;
    let calls = 0;
    nodeBuffer.isUtf8 = (input) => {
      calls++;
      return native(input);
    };
    try {
      const text = Buffer.from('ü'.repeat(100));
      // {"t": <200 bytes of text>}: a text string with a one-byte length after its header (0x78 0xC8).
      const good = Buffer.from([0xa1, 0x61, 0x74, 0x78, 0xc8, ...text]);
      assert.deepEqual(decode('cbor', good), { t: 'ü'.repeat(100) });
      assert.ok(calls > 0, 'the long string went through isUtf8');
      for (const [at, byte, why] of [[5, 0xff, 'can never appear in UTF-8'], [150, 0xbf, 'is a continuation byte with no character before it'], [204, 0xc3, 'starts a 2-byte character that the end of the text string cuts off']] as const) {
        const bad = Buffer.from(good);
        // The character before becomes ASCII, so 0xBF stands alone and 0xC3 starts the last one.
        if (at > 5) bad[at - 1] = 0x61;
        bad[at] = byte;
        const err = decodeError(bad);
        assert.equal(err.details.offset, at);
        assert.equal(err.message, `CBOR data is invalid at byte ${at}: the text string starting at byte 3 is not valid UTF-8: byte ${at} (0x${byte.toString(16).toUpperCase()}) ${why}`);
      }
    } finally {
      nodeBuffer.isUtf8 = native;
    }
  });

  test('well-formed data that cannot become an object says so, without an offset', () => {
    const err = decodeError([0xa1, 0x80, 0x01]); // map whose key is an array
    assert.match(err.message, /well-formed but cannot be decoded/);
    assert.equal(err.details.offset, undefined);
  });

  test('the scanner accepts valid CBOR, including indefinite lengths', () => {
    for (const bytes of [[0x9f, 0x01, 0x02, 0xff], [0xbf, 0x61, 0x61, 0x01, 0xff], [0x7f, 0x61, 0x61, 0x61, 0x62, 0xff], [0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00], [0xf9, 0x3c, 0x00]]) {
      assert.equal(findCborProblem(Buffer.from(bytes)), undefined, Buffer.from(bytes).toString('hex'));
    }
    assert.equal(findCborProblem(encode('cbor', [reading, reading])), undefined);
  });

  test('a map written with tag 259 (cbor-x for a JS Map) decodes like a plain map, at the top and nested', () => {
    // The bytes a device running cbor-x sends for a Map: d9 0103 (tag 259) then the map.
    const { Encoder } = require('cbor-x') as { Encoder: new (o: object) => { encode(v: unknown): Uint8Array } };
    const cborx = new Encoder({ useRecords: false });
    const top = Buffer.from(cborx.encode(new Map<string, unknown>([['temperature', 21.5], ['ts', 1767225601000]])));
    assert.equal(top.subarray(0, 3).toString('hex'), 'd90103');
    assert.deepEqual(decode('cbor', top), { temperature: 21.5, ts: 1767225601000 });
    for (const format of ['cbor', 'auto'] as const) {
      const r = decodeReadings(top, { format, device: 'd1', receivedAt: 1767225600000, maxBytes: 1 << 20 });
      assert.equal(r.readings.length, 1, format);
      assert.deepEqual(r.readings[0].fields, { temperature: 21.5 }, format);
      assert.equal(r.readings[0].ts, 1767225601000, format);
    }
    // A Map for the fields inside an object, in a batch; numeric keys become text as in a plain map.
    const nested = Buffer.from(cborx.encode([{ device: 'd2', fields: new Map<unknown, unknown>([['humidity', 40], [7, true]]) }]));
    assert.deepEqual(decode('cbor', nested), [{ device: 'd2', fields: { humidity: 40, '7': true } }]);
    // A key a plain map may not have (an array) is refused here too.
    const err = decodeError(Buffer.from(cborx.encode(new Map<unknown, unknown>([[[1], 2]]))));
    assert.match(err.message, /well-formed but cannot be decoded/);
  });

  test('values shared by reference (tags 28/29) or packed (tags 51/6) are refused, not copied into every place that names them', () => {
    const { Encoder } = require('cbor-x') as { Encoder: new (o: object) => { encode(v: unknown): Uint8Array } };
    // cbor-x with pack: true writes a repeated string once, in a table (tag 51), and each use as a reference.
    const text = 'x'.repeat(60_000);
    const batch = Array.from({ length: 20 }, (_, i) => ({ ts: 1700000000000 + i, fields: Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`s${j}`, text])) }));
    const packed = Buffer.from(new Encoder({ pack: true, useRecords: false }).encode(batch));
    assert.ok(packed.length < 2 * text.length, `the packed batch is ${packed.length} bytes for 12 MB of text`);
    const table = decodeError(packed);
    assert.equal(table.message, 'CBOR data uses tag 51 (a packed CBOR table) at byte 0, which is not accepted: one value would stand in many places, past the limits on what a message holds; send each value in full');
    assert.equal(table.details.offset, 0);
    // One fields object marked shareable (tag 28) in the first reading and referred to (tag 29) by the next two.
    const fields = [0xa1, 0x61, 0x74, 0x01];
    const shared = [0x83, 0xa1, 0x66, ...Buffer.from('fields'), 0xd8, 0x1c, ...fields, 0xa1, 0x66, ...Buffer.from('fields'), 0xd8, 0x1d, 0x00, 0xa1, 0x66, ...Buffer.from('fields'), 0xd8, 0x1d, 0x00];
    const share = decodeError(shared);
    assert.match(share.message, /^CBOR data uses tag 28 \(a value marked for sharing\) at byte 9, which is not accepted/);
    assert.equal(share.details.offset, 9);
    assert.match(decodeError([0xd8, 0x1d, 0x00]).message, /^CBOR data uses tag 29 \(a reference to a shared value\) at byte 0/);
    assert.match(decodeError([0x81, 0xc6, 0x00]).message, /^CBOR data uses tag 6 \(a packed CBOR reference\) at byte 1/);
    // Guessing the format (MQTT's auto) names the same reason instead of "cannot tell the payload format".
    assert.throws(() => decodeReadings(Buffer.from(shared), { format: 'auto', device: 'd1', receivedAt: 1767225600000, maxBytes: 1 << 20 }), (err: Error) => {
      assert.ok(err instanceof DecodeError);
      assert.match(err.message, /tag 28 \(a value marked for sharing\) at byte 9/);
      return true;
    });
    // Other tags are read as before.
    assert.deepEqual(decode('cbor', Buffer.from([0xa1, 0x61, 0x74, 0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00])), { t: new Date(1700000000000) });
  });

  test('simple values other than false, true, null and undefined are refused naming the value and its byte', () => {
    const reason = (value: number, at: number) => `CBOR data uses simple value ${value} at byte ${at}, which is not accepted: a reading's values are numbers, text, true, false or null (simple values 20 to 22); send the value as one of those`;
    // {"t": simple(16)} in the initial byte, {"t": simple(32)} and simple(255) in the byte after it, and a lone simple(0).
    const cases: Array<[number[], number, number]> = [
      [[0xa1, 0x61, 0x74, 0xf0], 16, 3],
      [[0xa1, 0x61, 0x74, 0xf8, 0x20], 32, 3],
      [[0x82, 0x01, 0xf8, 0xff], 255, 2],
      [[0xe0], 0, 0],
    ];
    for (const [bytes, value, at] of cases) {
      const err = decodeError(bytes);
      assert.equal(err.code, 'DECODE_FAILED');
      assert.equal(err.message, reason(value, at));
      assert.equal(err.details.offset, at);
      assert.equal(err.details.simple, value);
    }
    // Guessing the format (MQTT's auto) and the HTTP and CoAP inputs' readings give the same reason.
    for (const format of ['auto', 'cbor'] as const) {
      assert.throws(() => decodeReadings(Buffer.from([0xa1, 0x61, 0x74, 0xf0]), { format, device: 'd1', receivedAt: 1767225600000, maxBytes: 1 << 20 }), (err: Error) => err instanceof DecodeError && err.message === reason(16, 3), format);
    }
    // A batch's first byte is an array in MessagePack too: the simple value still says the bytes are CBOR.
    assert.throws(() => decodeReadings(Buffer.from([0x81, 0xa1, 0x61, 0x74, 0xf0]), { format: 'auto', device: 'd1', receivedAt: 1767225600000, maxBytes: 1 << 20 }), (err: Error) => err instanceof DecodeError && err.message === reason(16, 4));
    // The assigned ones read as before: false, true, null (dropped, leaving "n") and undefined.
    assert.deepEqual(decode('cbor', Buffer.from([0xa4, 0x61, 0x66, 0xf4, 0x61, 0x74, 0xf5, 0x61, 0x6e, 0xf6, 0x61, 0x75, 0xf7])), { f: false, t: true, n: null, u: undefined });
  });

  test('works when the optional native cbor-extract cannot be loaded', () => {
    const codec = join(__dirname, '..', '..', 'nodes', 'lib', 'codec', 'index.js');
    const script = `
      const Module = require('node:module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request === 'cbor-extract') throw Object.assign(new Error('blocked for the test'), { code: 'MODULE_NOT_FOUND' });
        return resolve.call(this, request, ...rest);
      };
      const codec = require(${JSON.stringify(codec)});
      const value = { device: 'd', fields: { s: 'x'.repeat(200), n: 1.5 } };
      const back = codec.decode('cbor', codec.encode('cbor', value));
      process.stdout.write(JSON.stringify({ same: JSON.stringify(back) === JSON.stringify(value), native: require('cbor-x').isNativeAccelerationEnabled }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: packageRoot(), encoding: 'utf8' }));
    assert.deepEqual(out, { same: true, native: false });
  });
});
