/** Bounded JSON for dead letters and messages: any value, however deep, wide or cyclic, in bounded work. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { previewJson } from '../../nodes/lib/preview';
import { toDeadLetter } from '../../nodes/lib/deadletter';

test('ordinary values come out as JSON.stringify writes them', () => {
  for (const v of [null, 1, 'x"y', true, [1, 'a', null, { b: [] }], { a: 1, b: { c: 'd' }, e: undefined, f: [undefined] }, { device: 'Küche', fields: { t: 1.5 } }]) {
    assert.equal(previewJson(v, 10_000), JSON.stringify(v));
  }
  assert.equal(previewJson({ n: 1n, bad: Number.NaN }, 100), '{"n":1,"bad":null}');
});

test('100,000 levels deep, a million members wide, or a cycle: cut at the limit, no RangeError', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.throws(() => JSON.stringify(deep), RangeError);
  const text = previewJson(deep, 4096);
  assert.equal(text.length, 4096);
  assert.ok(text.endsWith('…'));
  assert.ok(text.startsWith('[[[['));

  const wide = Object.fromEntries(Array.from({ length: 1_000_000 }, (_, i) => [`f${i}`, i]));
  assert.ok(previewJson(wide, 100).length <= 100);

  const loop: Record<string, unknown> = { a: 1 };
  loop.self = loop;
  assert.ok(previewJson(loop, 200).length <= 200);
  assert.equal(previewJson('x'.repeat(10_000), 50).length, 50);
});

test('a dead letter of a deeply nested payload keeps 4 KB of it as text', () => {
  let deep: unknown = { v: 1 };
  for (let i = 0; i < 50_000; i++) deep = { n: deep };
  const letter = toDeadLetter({ device: 'd', payload: deep, error: { code: 'DEPTH_EXCEEDED', message: 'too deep' } });
  assert.equal(letter.payload.length, 4096);
  assert.ok(letter.payload.startsWith('{"n":{"n":'));
  assert.equal(letter.code, 'DEPTH_EXCEEDED');
  // An error whose message is not text is described, not thrown over.
  assert.equal(toDeadLetter({ payload: 'x', error: { message: [[1]] } }).reason, '[[1]]');
});
