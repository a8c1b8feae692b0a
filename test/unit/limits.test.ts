/**
 * What one message may hold, in every format: nesting depth, fields per reading,
 * string length and readings per message are refused with their own error before
 * a decoder builds anything, and hostile depths never reach a recursive walker.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, sniff, type Format } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import {
  ConfigError,
  DepthExceededError,
  StringTooLongError,
  TooManyFieldsError,
  TooManyReadingsError,
  type UpperstackError,
} from '../../nodes/lib/errors';
import { DEFAULT_LIMITS, REQUEST_LIMITS, resolveLimits, tooManyFields, tooManyReadings, type Limits } from '../../nodes/lib/limits';
import { normalizeReadings } from '../../nodes/lib/reading';

const opts = (limits: Partial<Limits> = {}) => ({ format: 'auto' as const, device: 'd1', receivedAt: 1767225600000, limits: { ...DEFAULT_LIMITS, ...limits } });

function throwsCode(fn: () => unknown, type: abstract new (...a: never[]) => UpperstackError, check?: (e: UpperstackError) => void): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    check?.(err);
    return true;
  });
}

/** n nested one-element arrays around 1, in a format's own bytes (built without recursion). */
function nestedArrays(format: 'json' | 'msgpack' | 'cbor', n: number): Buffer {
  if (format === 'json') return Buffer.from(`${'['.repeat(n)}1${']'.repeat(n)}`);
  return Buffer.concat([Buffer.alloc(n, format === 'msgpack' ? 0x91 : 0x81), Buffer.from([0x01])]);
}

/** n nested one-entry maps {"a": {"a": ... 1}}. */
function nestedMaps(format: 'json' | 'msgpack' | 'cbor', n: number): Buffer {
  if (format === 'json') return Buffer.from(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
  const one = format === 'msgpack' ? [0x81, 0xa1, 0x61] : [0xa1, 0x61, 0x61];
  const parts: number[] = [];
  for (let i = 0; i < n; i++) parts.push(...one);
  return Buffer.from([...parts, 0x01]);
}

describe('nesting depth', () => {
  for (const format of ['json', 'msgpack', 'cbor'] as const) {
    test(`${format}: 5,000 and 100,000 levels are DEPTH_EXCEEDED at the first level too many, arrays and maps`, () => {
      for (const n of [5_000, 100_000]) {
        for (const build of [nestedArrays, nestedMaps]) {
          throwsCode(() => decode(format, build(format, n)), DepthExceededError, (e) => {
            assert.equal(e.code, 'DEPTH_EXCEEDED');
            assert.equal(e.details.limit, 32);
            assert.equal(e.details.format, format);
            assert.equal(typeof e.details.offset, 'number');
            assert.match(e.message, /more than 32 levels/);
          });
        }
      }
    });

    test(`${format}: exactly the limit decodes, one more does not`, () => {
      assert.deepEqual(decode(format, nestedArrays(format, 32)), JSON.parse(`${'['.repeat(32)}1${']'.repeat(32)}`));
      throwsCode(() => decode(format, nestedArrays(format, 33)), DepthExceededError);
      throwsCode(() => decode(format, nestedArrays(format, 5), { limits: { ...DEFAULT_LIMITS, maxDepth: 4 } }), DepthExceededError);
    });
  }

  test('auto mode names the limit, not an unknown format', () => {
    for (const buf of [nestedArrays('json', 100_000), nestedArrays('msgpack', 100_000), nestedArrays('cbor', 100_000), nestedMaps('msgpack', 5000)]) {
      throwsCode(() => decodeReadings(buf, opts()), DepthExceededError);
    }
    assert.equal(sniff(nestedArrays('json', 100_000)), 'json');
  });

  test('CBOR tags nest like containers (the decoder recurses into them)', () => {
    const tags = Buffer.concat([Buffer.alloc(10_000 * 2).map((_, i) => (i % 2 === 0 ? 0xd8 : 0x64)), Buffer.from([0x01])]); // tag(100) ... 1
    throwsCode(() => decode('cbor', tags), DepthExceededError);
  });

  test('an already parsed value nested 100,000 deep is rejected without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const { readings, rejected } = normalizeReadings({ x: 1, n: deep }, { device: 'd', receivedAt: 0 });
    assert.equal(readings.length, 0);
    assert.ok(rejected[0].error instanceof DepthExceededError);
    assert.match(rejected[0].error.message, /at n\.a\.a/);
    // A cycle is just endless depth.
    const loop: Record<string, unknown> = { v: 1 };
    loop.self = loop;
    assert.ok(normalizeReadings(loop, { device: 'd', receivedAt: 0 }).rejected[0].error instanceof DepthExceededError);
  });
});

describe('fields per reading', () => {
  const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, i]));

  test('20,000 fields is TOO_MANY_FIELDS in every format, before decoding', () => {
    for (const format of ['json', 'msgpack', 'cbor'] as const) {
      throwsCode(() => decodeReadings(encode(format, wide(20_000)), { ...opts(), format }), TooManyFieldsError, (e) => {
        assert.equal(e.code, 'TOO_MANY_FIELDS');
        assert.equal(e.details.limit, 1000);
        assert.equal(typeof e.details.offset, 'number', 'found on the bytes');
      });
    }
    const line = `m ${Array.from({ length: 20_000 }, (_, i) => `f${i}=${i}`).join(',')}`;
    throwsCode(() => decodeReadings(Buffer.from(line), { ...opts(), format: 'lineprotocol' }), TooManyFieldsError, (e) => assert.equal(e.details.line, 1));
    const pb = encode('protobuf', { device: 'd', ts: 1, fields: wide(20_000), tags: {} });
    throwsCode(() => decodeReadings(pb, { ...opts(), format: 'protobuf' }), TooManyFieldsError, (e) => assert.equal(e.details.path, 'fields'));
  });

  test('1,000 fields are fine; 1,001 after flattening reject that reading only', () => {
    assert.equal(Object.keys(decodeReadings(encode('json', wide(1000)), opts()).readings[0].fields).length, 1000);
    const nested = { a: wide(600), b: wide(401) };
    const { readings, rejected } = decodeReadings(encode('json', [{ x: 1 }, nested]), opts());
    assert.equal(readings.length, 1);
    assert.equal(rejected[0].index, 1);
    assert.ok(rejected[0].error instanceof TooManyFieldsError);
    assert.match(rejected[0].error.message, /reading at \[1\] has more than 1,000 fields/);
  });

  test('the limit is a setting', () => {
    throwsCode(() => normalizeReadings(wide(11), { device: 'd', receivedAt: 0, limits: { ...DEFAULT_LIMITS, maxFields: 10 } }).rejected.forEach((r) => { throw r.error; }), TooManyFieldsError);
  });
});

describe('string length', () => {
  test('a string field over the limit is STRING_TOO_LONG with its path; a huge one is found on the bytes', () => {
    const { rejected } = decodeReadings(encode('json', { s: 'x'.repeat(70_000) }), opts());
    assert.ok(rejected[0].error instanceof StringTooLongError);
    assert.equal(rejected[0].error.details.path, 's');
    assert.match(rejected[0].error.message, /s is 70,000 characters long; the limit is 65,536/);
    for (const format of ['json', 'msgpack', 'cbor'] as const) {
      throwsCode(() => decodeReadings(encode(format, { s: 'x'.repeat(500_000) }), { ...opts(), format }), StringTooLongError, (e) => assert.equal(typeof e.details.offset, 'number'));
    }
    throwsCode(() => decodeReadings(Buffer.from(`m s="${'x'.repeat(70_000)}"`), { ...opts(), format: 'lineprotocol' }), StringTooLongError);
  });

  test('tag values count too, and the limit is a setting', () => {
    const { rejected } = decodeReadings(encode('json', { v: 1, tags: { site: 'abcdef' } }), opts({ maxStringLength: 5 }));
    assert.ok(rejected[0].error instanceof StringTooLongError);
    assert.equal(rejected[0].error.details.path, 'tags.site');
  });
});

describe('readings per message', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ ts: 1767225600000 + i, v: i }));

  test('10,001 readings are TOO_MANY_READINGS in every format; 10,000 are fine', () => {
    for (const format of ['json', 'msgpack', 'cbor'] as const) {
      throwsCode(() => decodeReadings(encode(format, many(10_001)), { ...opts(), format, maxBytes: 8 << 20 }), TooManyReadingsError, (e) => assert.equal(e.code, 'TOO_MANY_READINGS'));
    }
    assert.equal(decodeReadings(encode('json', many(10_000)), { ...opts(), maxBytes: 8 << 20 }).readings.length, 10_000);
    const lines = many(10_001).map((r) => `d1 v=${r.v} ${r.ts}000000`).join('\n');
    throwsCode(() => decodeReadings(Buffer.from(lines), { ...opts(), format: 'lineprotocol', maxBytes: 8 << 20 }), TooManyReadingsError, (e) => assert.equal(e.details.line, 10_001));
    const pb = encode('protobuf', many(10_001).map((r) => ({ device: 'd1', ts: r.ts, fields: { v: r.v }, tags: {} })));
    throwsCode(() => decodeReadings(pb, { ...opts(), format: 'protobuf', protoType: 'upperstack.Batch', maxBytes: 8 << 20 }), TooManyReadingsError);
  });

  test('an already parsed array is counted too', () => {
    throwsCode(() => decodeReadings(many(11), opts({ maxReadings: 10 })), TooManyReadingsError, (e) => assert.equal(e.details.count, 11));
  });
});

test('limit settings out of range are a ConfigError naming the setting, or the default with onInvalid', () => {
  assert.deepEqual(resolveLimits({}), DEFAULT_LIMITS);
  assert.equal(resolveLimits({ maxDepth: '8' }).maxDepth, 8);
  assert.throws(() => resolveLimits({ maxDepth: 1 }), (e: unknown) => e instanceof ConfigError && /maxDepth/.test(e.message));
  assert.throws(() => resolveLimits({ maxFields: 'many' }), ConfigError);
  const seen: string[] = [];
  assert.equal(resolveLimits({ maxReadings: -1 }, (e) => seen.push(e.message)).maxReadings, 10_000);
  assert.match(seen[0], /maxReadings/);
});

test('every format still decodes ordinary readings with the limits in place', () => {
  const reading = { device: 'd1', ts: 1767225600000, fields: { t: 21.5, ok: true, s: 'x' }, tags: { site: 'a' } };
  for (const format of ['json', 'msgpack', 'cbor', 'protobuf', 'lineprotocol'] as Format[]) {
    const r = decodeReadings(encode(format, reading), { ...opts(), format });
    // Line protocol always names the measurement in a tag.
    assert.deepEqual(r.readings, [format === 'lineprotocol' ? { ...reading, tags: { ...reading.tags, measurement: 'd1' } } : reading], format);
  }
});

describe('SenML and XML', () => {
  test('XML: fields per reading, readings per message and text length are limits too, found while parsing', () => {
    const fields = (n: number) => `<reading device="d">${Array.from({ length: n }, (_, i) => `<f${i}>${i}</f${i}>`).join('')}</reading>`;
    throwsCode(() => decode('xml', Buffer.from(fields(1001))), TooManyFieldsError, (e) => assert.equal(e.details.format, 'xml'));
    assert.equal(Object.keys((decode('xml', Buffer.from(fields(1000))) as Array<{ fields: object }>)[0].fields).length, 1000);
    const many = `<readings device="d">${'<reading><v>1</v></reading>'.repeat(10_001)}</readings>`;
    throwsCode(() => decode('xml', Buffer.from(many)), TooManyReadingsError);
    throwsCode(() => decode('xml', Buffer.from(`<reading device="d"><s type="string">${'x'.repeat(70_000)}</s></reading>`)), StringTooLongError, (e) => assert.match(e.message, /field "s"/));
  });

  test('SenML nested too deep is DEPTH_EXCEEDED in its own format', () => {
    const deep = Buffer.from(`[{"n":"t","v":${'['.repeat(5000)}${']'.repeat(5000)}}]`);
    throwsCode(() => decode('senml', deep), DepthExceededError, (e) => assert.equal(e.details.format, 'senml'));
  });
});

test('JSON limits hold from one payload to the next whatever came before: deeper limits, an abandoned scan', () => {
  const nested = (d: number) => Buffer.from(`${'['.repeat(d)}1${']'.repeat(d)}`);
  const wide = (n: number) => Buffer.from(`[[${Array.from({ length: n }, () => 1).join(',')}]]`);
  decode('json', nested(200), { limits: { ...DEFAULT_LIMITS, maxDepth: 300 } });
  throwsCode(() => decode('json', nested(5), { limits: { ...DEFAULT_LIMITS, maxDepth: 4 } }), DepthExceededError, (e) => assert.equal(e.details.offset, 4));
  // A scan that stopped at a too-wide inner array leaves no count behind for the next payload.
  throwsCode(() => decode('json', wide(4), { limits: { ...DEFAULT_LIMITS, maxFields: 3 } }), TooManyFieldsError);
  assert.deepEqual(decode('json', wide(3), { limits: { ...DEFAULT_LIMITS, maxFields: 3 } }), [[1, 1, 1]]);
  throwsCode(() => decode('json', Buffer.from('[{"a":1},{"a":1},{"a":1}]'), { limits: { ...DEFAULT_LIMITS, maxReadings: 2 } }), TooManyReadingsError, (e) => assert.equal(e.details.offset, 0));
});

test('a limit error takes its limit and its remedy from the limits: a node setting to raise, a request to split, or neither', () => {
  const node: Limits = { ...DEFAULT_LIMITS, maxFields: 5, maxReadings: 7, origin: { kind: 'node', node: 'decode node', labels: { maxFields: 'Fields limit', maxReadings: 'Readings limit' } } };
  const fields = tooManyFields(node, { path: '[0]', what: 'tags' });
  assert.deepEqual(fields.details, { limit: 5, path: '[0]', what: 'tags' });
  assert.match(fields.message, /at most 5 tags: split the data into several readings or raise the decode node's Fields limit$/);
  assert.match(tooManyReadings(node, { count: 8 }).message, /holds 8 readings; the limit is 7 per message: send smaller batches or raise the decode node's Readings limit$/);
  assert.match(tooManyReadings(REQUEST_LIMITS, { format: 'json', offset: 0 }).message, /the request holds more than 10,000 readings; the limit is 10,000 per request: split the request into smaller ones$/);
  assert.match(tooManyFields(DEFAULT_LIMITS, { line: 3 }).message, /^line 3 has more than 1,000 fields; a reading may have at most 1,000 fields: split the data into several readings$/);
});
