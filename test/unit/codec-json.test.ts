import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from '../../nodes/lib/codec';
import { locateJsonError } from '../../nodes/lib/codec/json-locate';
import { findInvalidUtf8 } from '../../nodes/lib/codec/text';
import { DecodeError, DepthExceededError, InvalidReadingError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';

function decodeError(text: string | Buffer): DecodeError {
  try {
    decode('json', typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    return err;
  }
  throw new assert.AssertionError({ message: 'decode did not fail' });
}

describe('json codec', () => {
  test('round-trips a reading with unicode, nesting and every scalar type', () => {
    const value = { device: 'Küche-1', ts: 1700000000000, fields: { t: -22.5, ok: true, s: 'ünï 🚀', n: 0 }, tags: { room: 'a/b' }, list: [1, null, 'x'] };
    assert.deepEqual(decode('json', encode('json', value)), value);
  });

  test('decodes the shared HTTP insert fixture verbatim', () => {
    const buf = readFileSync(join(packageRoot(), 'test', 'fixtures', 'users', 'http-insert-sample.json'));
    const value = decode('json', buf) as { deviceinfo: { deviceid: string; batt_lvl: number }; tsdata: Array<{ timestamp: number; motion: boolean }> };
    assert.equal(value.deviceinfo.deviceid, 'sample');
    assert.equal(value.deviceinfo.batt_lvl, 78);
    assert.equal(value.tsdata.length, 6);
    assert.equal(value.tsdata[0].timestamp, 1582046738255);
    assert.equal(value.tsdata[3].motion, true);
  });

  test('syntax errors V8 gives no position for still get byte, line and column', () => {
    const err = decodeError('{"a":}');
    assert.equal(err.details.offset, 5);
    assert.equal(err.details.line, 1);
    assert.equal(err.details.column, 6);
    assert.match(err.message, /at byte 5 \(line 1, column 6\): expected a value, found '\}'/);
  });

  test('offsets count bytes, not characters, after multi-byte text', () => {
    // "é" is one character but two bytes, so the '}' is character 5 (column 6) and byte 6.
    const err = decodeError('{"é":}');
    assert.equal(err.details.offset, 6);
    assert.equal(err.details.column, 6);
  });

  test('names line and column in multi-line input and explains trailing commas', () => {
    const err = decodeError('{\n  "a": 1,\n  "b": [1, 2,]\n}');
    assert.equal(err.details.line, 3);
    assert.equal(err.details.column, 14);
    assert.match(err.message, /trailing comma/);
  });

  test('input that stops early says so and points at the end', () => {
    const text = '{"a": [1, {"b": 2}';
    const err = decodeError(text);
    assert.equal(err.details.offset, Buffer.byteLength(text));
    assert.match(err.message, /ends early/);
    assert.match(err.message, /array opened at byte 6 is not closed/);
  });

  test('text after the value is reported where it starts', () => {
    assert.equal(decodeError('{"a":1} x').details.offset, 8);
  });

  test('invalid UTF-8 is reported as such, at the bad byte', () => {
    const bad = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]);
    const err = decodeError(bad);
    assert.equal(err.details.offset, 6);
    assert.match(err.message, /not valid UTF-8/);
    const cut = decodeError(Buffer.concat([Buffer.from('"x'), Buffer.from([0xe2, 0x82])]));
    assert.equal(cut.details.offset, 2);
    assert.match(cut.message, /cuts off/);
  });

  test('long payloads decode the same whether ASCII, other UTF-8, or broken far in', () => {
    const pad = 'x'.repeat(600);
    assert.deepEqual(decode('json', Buffer.from(`{"a":"${pad}","b":[1,2.5,true]}`)), { a: pad, b: [1, 2.5, true] });
    assert.deepEqual(decode('json', Buffer.from(`{"a":"${pad}é€😀"}`)), { a: `${pad}é€😀` });
    const broken = Buffer.concat([Buffer.from(`{"a":"${pad}`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const err = decodeError(broken);
    assert.equal(err.details.offset, 606);
    assert.match(err.message, /not valid UTF-8/);
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    assert.equal(decodeError(Buffer.concat([bom, Buffer.from(`{"a":"${pad}",}`)])).details.offset, 3 + 6 + 600 + 2);
  });

  test('a UTF-8 BOM is accepted and counted in offsets', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    assert.deepEqual(decode('json', Buffer.concat([bom, Buffer.from('{"a":1}')])), { a: 1 });
    assert.equal(decodeError(Buffer.concat([bom, Buffer.from('{"a":}')])).details.offset, 8);
  });

  test('empty and whitespace-only payloads are errors', () => {
    assert.match(decodeError('').message, /empty/);
    assert.match(decodeError(' \n ').message, /empty/);
  });

  test('deep nesting fails cleanly instead of overflowing the stack', () => {
    assert.throws(() => decode('json', Buffer.from('['.repeat(200_000))), (err: unknown) => {
      assert.ok(err instanceof DepthExceededError);
      assert.equal(err.code, 'DEPTH_EXCEEDED');
      assert.equal(err.details.offset, 32, 'the 33rd "[" is one too many');
      return true;
    });
  });

  test('values JSON cannot hold are InvalidReadingError on encode', () => {
    assert.throws(() => encode('json', { n: 1n }), InvalidReadingError);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    assert.throws(() => encode('json', loop), InvalidReadingError);
  });

  test('the error locator agrees with JSON.parse on thousands of mutated documents', () => {
    const base = '{"device":"d-1","ts":1700000000000,"fields":{"t":-2.5e3,"ok":true,"s":"a\\"b\\u00e9"},"tags":{},"x":[null,false,[]]}';
    const alphabet = '{}[]",:0123456789-+.eEtrufalsn \\/xu\n';
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const chars = base.split('');
      for (let k = 1 + rnd(3); k > 0; k--) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]);
        else chars[at] = alphabet[rnd(alphabet.length)];
      }
      const text = chars.join('');
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      assert.equal(locateJsonError(text) === undefined, parses, `disagreement on ${JSON.stringify(text)}`);
    }
  });

  test('the UTF-8 checker agrees with the strict TextDecoder on random byte strings', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 50_000; i++) {
      // Mostly high bytes, so multi-byte sequences, overlongs and surrogates all occur.
      const bytes = Buffer.from(Array.from({ length: 1 + rnd(6) }, () => (rnd(2) ? 0x80 + rnd(0x80) : rnd(0x100))));
      let valid = true;
      try {
        strict.decode(bytes);
      } catch {
        valid = false;
      }
      assert.equal(findInvalidUtf8(bytes) === undefined, valid, bytes.toString('hex'));
    }
  });
});
