/**
 * The readings copy that replaces Node-RED's generic deep clone when an
 * Upperstack node's output fans out: the same result as a generic deep copy,
 * sharing no object with the original, and no copy at all (left to Node-RED)
 * for payloads of another shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cloneReadingsPayload } from '../../nodes/lib/reading-clone';
import { copyForWire } from '../../nodes/shared/fan-out';

const scalar = fc.oneof(fc.double(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined));
const flat = fc.dictionary(fc.string(), scalar);
const reading = fc.record({ device: fc.string(), ts: fc.integer(), fields: flat, tags: flat }, { requiredKeys: ['device', 'ts', 'fields'] });
const extra = fc.dictionary(fc.string().filter((k) => !['device', 'ts', 'fields', 'tags', '__proto__'].includes(k)), fc.oneof(scalar, flat));
const annotated = fc.tuple(reading, extra).map(([r, e]) => ({ ...e, ...r }));

/** Every object reachable from v (two levels are all a reading has). */
function objects(v: unknown, out = new Set<object>()): Set<object> {
  if (v !== null && typeof v === 'object') {
    out.add(v);
    for (const x of Object.values(v)) objects(x, out);
  }
  return out;
}

function hasProtoKey(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  return Object.prototype.hasOwnProperty.call(v, '__proto__') || Object.values(v).some(hasProtoKey);
}

test('a copied reading or batch equals the original and shares no object with it', () => {
  fc.assert(
    fc.property(fc.oneof(annotated, fc.array(annotated, { maxLength: 20 })), (payload) => {
      const copy = cloneReadingsPayload(payload);
      // An own "__proto__" key is left to the generic copy (asserted below); everything else is copied here.
      if (hasProtoKey(payload)) return assert.equal(copy, undefined);
      assert.deepStrictEqual(copy, payload);
      const mine = objects(copy);
      for (const o of objects(payload)) assert.ok(!mine.has(o));
    }),
  );
});

test('payloads of another shape are not copied here', () => {
  const r = { device: 'd', ts: 1, fields: { t: 1 } };
  for (const p of [
    'text',
    42,
    null,
    Buffer.from('x'),
    [r, 'x'],
    [r, null],
    { ...r, fields: { t: { deeper: 1 } } },
    { ...r, fields: { list: [1, 2] } },
    { ...r, at: new Date(0) },
    { ...r, fields: { b: Buffer.from('x') } },
    { ...r, fn: () => 1 },
    new (class Reading { device = 'd'; })(),
    JSON.parse('{"device":"d","ts":1,"fields":{"__proto__":{"x":1}}}'),
    JSON.parse('{"device":"d","ts":1,"fields":{"__proto__":1}}'),
    // eslint-disable-next-line no-sparse-arrays
    [r, , r],
  ]) {
    assert.equal(cloneReadingsPayload(p), undefined, String(p));
  }
});

test('a message copy for another wire: payload copied, the rest cloned the Node-RED way (req/res shared)', () => {
  const req = { socket: {} };
  const res = { socket: {} };
  const msg = { _msgid: 'm1', topic: 't', meta: { a: [1, 2] }, req, res, payload: [{ device: 'd', ts: 1, fields: { t: 1 }, tags: { site: 'a' } }] };
  const cloneMessage = (m: unknown) => {
    const { req: q, res: s, ...rest } = m as Record<string, unknown>;
    return { ...structuredClone(rest), ...(q ? { req: q } : {}), ...(s ? { res: s } : {}) };
  };
  const copy = copyForWire(msg, cloneMessage)!;
  assert.deepStrictEqual(copy, msg);
  assert.equal(copy.req, req);
  assert.equal(copy.res, res);
  assert.notEqual(copy.meta, msg.meta);
  assert.notEqual((copy.payload as unknown[])[0], msg.payload[0]);
  assert.equal(copyForWire({ payload: 'text' }, cloneMessage), undefined);
});
