import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv, { type AnySchemaObject } from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import fc from 'fast-check';
import { hasKeys, limitProperties } from '../../nodes/lib/schema/limit-properties';
import { loadSchema } from '../../nodes/lib/schema/validator';

function ajvs(allErrors: boolean): Array<[string, Ajv, Ajv]> {
  const ours = (a: Ajv) => {
    a.removeKeyword('minProperties');
    a.removeKeyword('maxProperties');
    a.addKeyword(limitProperties);
    return a;
  };
  const opts = { strict: false, logger: false as const, allErrors };
  return [
    ['2020-12', new Ajv2020(opts), ours(new Ajv2020(opts))],
    ['draft-07', new Ajv(opts), ours(new Ajv(opts))],
  ];
}

test('minProperties and maxProperties give what Ajv gives: the same verdict and the same errors, in the same order', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'x y', '1');
  const object = fc.record(
    {
      minProperties: fc.integer({ min: 0, max: 3 }),
      maxProperties: fc.integer({ min: 0, max: 3 }),
      required: fc.uniqueArray(key, { maxLength: 2 }),
      propertyNames: fc.constant({ pattern: '^[a-z]$' }),
      additionalProperties: fc.constantFrom<boolean | object>(true, false, { type: 'number' }),
      properties: fc.dictionary(key, fc.constant({ type: 'string' }), { maxKeys: 2 }),
    },
    { requiredKeys: [] },
  );
  const schema = fc.record(
    { type: fc.constant('object'), properties: fc.record({ f: object }), minProperties: fc.integer({ min: 0, max: 2 }), maxProperties: fc.integer({ min: 0, max: 3 }) },
    { requiredKeys: ['properties'] },
  );
  const data = fc.record({ f: fc.dictionary(key, fc.oneof(fc.integer(), fc.string({ maxLength: 2 })), { maxKeys: 4 }), g: fc.integer() }, { requiredKeys: [] });
  for (const allErrors of [false, true]) {
    for (const [draft, stock, ours] of ajvs(allErrors)) {
      fc.assert(
        fc.property(schema, fc.array(data, { minLength: 1, maxLength: 5 }), (s, list) => {
          const a = stock.compile(s as AnySchemaObject);
          const b = ours.compile(s as AnySchemaObject);
          for (const d of list) {
            assert.equal(b(d), a(d), `${draft} ${JSON.stringify(s)} on ${JSON.stringify(d)}`);
            assert.deepEqual(b.errors, a.errors);
          }
        }),
        { numRuns: 150 },
      );
    }
  }
});

test('a limit given as $data is read from the data, as Ajv reads it', () => {
  const opts = { strict: false, logger: false as const, $data: true };
  const stock = new Ajv(opts);
  const ours = new Ajv(opts);
  ours.removeKeyword('minProperties');
  ours.removeKeyword('maxProperties');
  ours.addKeyword(limitProperties);
  const schema = { type: 'object', properties: { n: { type: 'integer' }, o: { type: 'object', minProperties: { $data: '1/n' } } } };
  for (const d of [{ n: 2, o: { a: 1 } }, { n: 2, o: { a: 1, b: 2 } }, { n: 'x', o: {} }, { o: {} }]) {
    const a = stock.compile(schema);
    const b = ours.compile(schema);
    assert.equal(b(d), a(d), JSON.stringify(d));
    assert.deepEqual(b.errors, a.errors);
  }
});

test('hasKeys counts own enumerable keys as Object.keys lists them', () => {
  const proto = { inherited: 1 };
  const o = Object.create(proto) as Record<string, number>;
  o.a = 1;
  Object.defineProperty(o, 'hidden', { value: 2, enumerable: false });
  (o as Record<symbol, number>)[Symbol('s')] = 3;
  assert.equal(hasKeys(o, 1), true);
  assert.equal(hasKeys(o, 2), false);
  assert.equal(hasKeys({}, 0), true);
  assert.equal(hasKeys({}, 1), false);
  assert.equal(hasKeys([1, 2], 2), true);
});

test('the default schema still refuses a reading without fields, with the same words', () => {
  const r = loadSchema().validate({ device: 'd', ts: 1, fields: {}, tags: {} });
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.message, '/fields must NOT have fewer than 1 properties (got {})');
});
