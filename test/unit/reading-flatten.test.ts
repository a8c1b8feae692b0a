/** Nested objects and arrays in readings become dotted field names; nothing a device sent is dropped silently. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { encode } from '../../nodes/lib/codec';
import { InvalidReadingError } from '../../nodes/lib/errors';
import { normalizeReadings } from '../../nodes/lib/reading';

const norm = (v: unknown) => normalizeReadings(v, { device: 'd', receivedAt: 5 });
const one = (v: unknown) => {
  const { readings, rejected } = norm(v);
  assert.deepEqual(rejected.map((r) => r.error.message), []);
  return readings[0];
};

test('a nested object in a flat JSON reading is stored under dotted names, not dropped', () => {
  const r = decodeReadings(Buffer.from('{"x":1,"n":{"a":2}}'), { format: 'json', device: 'd', receivedAt: 5 });
  assert.deepEqual(r.readings, [{ device: 'd', ts: 5, fields: { x: 1, 'n.a': 2 }, tags: {} }]);
});

test('arrays of scalars are numbered, arrays of objects too, at any depth up to the limit', () => {
  assert.deepEqual(one({ l: [3, 4], s: [{ id: 'a', t: 5 }, { id: 'b', t: 6 }], deep: { a: { b: { c: true } } } }).fields, {
    'l.0': 3,
    'l.1': 4,
    's.0.id': 'a',
    's.0.t': 5,
    's.1.id': 'b',
    's.1.t': 6,
    'deep.a.b.c': true,
  });
});

test('nesting inside fields and tags is flattened the same way; numbers in tags become text', () => {
  const r = one({ fields: { t: 1, pos: { lat: 52.1, lon: 4.3 } }, tags: { loc: { room: 2, floor: 'g' }, site: 'lab' } });
  assert.deepEqual(r.fields, { t: 1, 'pos.lat': 52.1, 'pos.lon': 4.3 });
  assert.deepEqual(r.tags, { 'loc.room': '2', 'loc.floor': 'g', site: 'lab' });
});

test('members next to "fields" are fields too', () => {
  const r = normalizeReadings({ ts: 1767225600000, fields: { t: 1 }, unit: 'C', meta: { fw: 3 } }, { device: 'd', receivedAt: 1767225600000 }).readings[0];
  assert.deepEqual(r, { device: 'd', ts: 1767225600000, fields: { t: 1, unit: 'C', 'meta.fw': 3 }, tags: {} });
});

test('nulls and empty containers add nothing; a reading left without fields is rejected, not dropped', () => {
  assert.deepEqual(one({ a: null, b: {}, c: [], d: [null], v: 1 }).fields, { v: 1 });
  const { rejected } = norm({ n: { a: null }, e: [] });
  assert.ok(rejected[0].error instanceof InvalidReadingError);
  assert.match(rejected[0].error.message, /no fields/);
});

test('two values that flatten to one name reject the reading, naming both', () => {
  const { rejected } = norm({ 'n.a': 1, n: { a: 2 } });
  assert.ok(rejected[0].error instanceof InvalidReadingError);
  assert.match(rejected[0].error.message, /n\.a.*"n\.a"/);
});

test('values that are not numbers, booleans or strings are rejected with their dotted path', () => {
  const { rejected } = norm({ n: { bad: Number.NaN } });
  assert.match(rejected[0].error.message, /n\.bad is NaN/);
  assert.equal(rejected[0].error.details.path, 'n.bad');
  const bin = norm({ n: { raw: new Uint8Array([1]) } }).rejected[0].error;
  assert.match(bin.message, /n\.raw must be a number, boolean or string, got binary data/);
});

test('"__proto__" is never a prototype: inside a dotted name it is text, as a whole field or tag name it is refused', () => {
  const r = decodeReadings(Buffer.from('{"__proto__":{"polluted":1},"v":2}'), { format: 'json', device: 'd', receivedAt: 5 }).readings[0];
  assert.deepEqual(Object.keys(r.fields).sort(), ['__proto__.polluted', 'v']);
  assert.equal(Object.getPrototypeOf(r.fields), Object.prototype);
  const top = decodeReadings(Buffer.from('{"__proto__":3,"v":2}'), { format: 'json', device: 'd', receivedAt: 5 });
  assert.deepEqual(top.readings, []);
  assert.equal(top.rejected[0].error.message, '__proto__: "__proto__" cannot name a field (JavaScript reserves it): rename it');
  // A null value is nothing to store, under any name.
  assert.deepEqual(decodeReadings(Buffer.from('{"__proto__":null,"v":2}'), { format: 'json', device: 'd', receivedAt: 5 }).readings[0].fields, { v: 2 });
});

test('CBOR and MessagePack nesting flattens like JSON', () => {
  for (const format of ['cbor', 'msgpack'] as const) {
    const r = decodeReadings(encode(format, { x: 1, n: { a: 2, l: [true, 'x'] } }), { format, device: 'd', receivedAt: 5 });
    assert.deepEqual(r.readings[0].fields, { x: 1, 'n.a': 2, 'n.l.0': true, 'n.l.1': 'x' }, format);
  }
});
