/**
 * What a dead letter keeps of an item decoding refused (rejectedBody): decoded again as its
 * letter says, it meets the same refusal, never a value JSON could not hold written as null.
 * Readings validate refused decode back at the same time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rejectedBody, replayFacts, withRejectedBody } from '../../nodes/lib/deadletter-replay';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { encodeCbor } from '../../nodes/lib/codec/cbor';
import { encodeMsgpack } from '../../nodes/lib/codec/msgpack';
import type { Format } from '../../nodes/lib/codec';
import { previewJson } from '../../nodes/lib/preview';
import { setMaxAheadSeconds } from '../../nodes/lib/reading-time';

/** Decodes a message, keeps its first refused item as a dead letter would, and decodes what the letter keeps. */
function replayOf(bytes: Buffer, format: Format): { first: string; again: string; readings: number; kept: string } {
  const result = decodeReadings(bytes, { format, device: 'd', receivedAt: 1 });
  const r = result.rejected[0];
  const msg = withRejectedBody({ payload: bytes, contentType: 'x', format, meta: { route: 'ingest' } }, rejectedBody(r.item, { bytes, readings: result.readings.length, rejected: result.rejected.length, format: result.format }));
  const facts = replayFacts(msg);
  const again = decodeReadings(facts.bytes!, { format: facts.format as Format, device: 'd', receivedAt: 1 });
  assert.equal(again.readings.length, 0, 'the replay stores nothing');
  assert.equal(again.rejected.length, 1);
  return { first: r.error.message, again: again.rejected[0].error.message, readings: result.readings.length, kept: facts.format! };
}

test('a whole message refused keeps its bytes, whatever the item: the replay meets the very same refusal', () => {
  for (const [bytes, format] of [
    [Buffer.from('{"a":1e309,"b":1}'), 'json'],
    [encodeMsgpack({ a: NaN, b: 1 }), 'msgpack'],
    [encodeCbor({ a: new Uint8Array([1, 2, 3]), b: 1 }), 'cbor'],
  ] as Array<[Buffer, Format]>) {
    const r = replayOf(bytes, format);
    assert.equal(r.again, r.first, format);
    assert.equal(r.kept, format);
  }
});

test('an item of a batch is kept alone, in a form that still holds Infinity, NaN and byte strings', () => {
  const cases: Array<[Buffer, Format, string, RegExp]> = [
    [Buffer.from('[{"a":1e309,"b":1},{"c":2}]'), 'json', 'json', /a is Infinity/],
    [Buffer.from('[{"a":-1e309,"b":1},{"c":2}]'), 'json', 'json', /a is -Infinity/],
    [encodeMsgpack([{ a: NaN, b: 1 }, { c: 2 }]), 'msgpack', 'msgpack', /a is NaN/],
    [encodeCbor([{ a: new Uint8Array([1]), b: 1 }, { c: 2 }]), 'cbor', 'cbor', /binary data/],
  ];
  for (const [bytes, format, kept, reason] of cases) {
    const r = replayOf(bytes, format);
    assert.deepEqual([r.readings, r.kept], [1, kept], format);
    assert.match(r.first, reason);
    assert.match(r.again, reason);
  }
});

test('an item JSON cannot hold, from a format that is neither MessagePack nor CBOR, is kept as CBOR', () => {
  const body = rejectedBody({ a: NaN, b: 1 }, { bytes: Buffer.from('x'), readings: 1, rejected: 1, format: 'protobuf' });
  assert.deepEqual(body.as, { contentType: 'application/cbor', format: 'cbor' });
  assert.match(decodeReadings(body.payload as Buffer, { format: 'cbor', device: 'd', receivedAt: 1 }).rejected[0].error.message, /a is NaN/);
  // A plain item stays an object: the letter writes it as JSON, readable.
  assert.deepEqual(rejectedBody({ a: 'x' }, { bytes: Buffer.from('x'), readings: 1, rejected: 1, format: 'json' }), { payload: { a: 'x' } });
});

test('previewJson writes ±Infinity as 1e309 only when asked', () => {
  assert.equal(previewJson({ a: Infinity, b: -Infinity, c: NaN }, 100), '{"a":null,"b":null,"c":null}');
  assert.equal(previewJson({ a: Infinity, b: -Infinity, c: NaN }, 100, { infinity: true }), '{"a":1e309,"b":-1e309,"c":null}');
});

test('a Reading kept as JSON decodes back at its own time, before 1973 and before 1970 too, and past year 5138 with no bound ahead', () => {
  setMaxAheadSeconds(0);
  try {
    for (const ts of [60_000, 0, -86_400_000, Date.UTC(2026, 0, 1), 1.5e14]) {
      const facts = replayFacts({ payload: { device: 'd', ts, fields: { t: 1 }, tags: {} } });
      const again = decodeReadings(facts.bytes!, { format: 'json', receivedAt: Date.UTC(2026, 0, 1) });
      assert.deepEqual(again.readings.map((r) => r.ts), [ts], String(ts));
    }
  } finally {
    setMaxAheadSeconds(undefined);
  }
});

test('a Reading or decoded value holding ±Infinity or NaN is kept so its replay meets the same refusal, not "has no fields"', () => {
  const ts = Date.UTC(2026, 0, 1);
  const cases: Array<[unknown, string, RegExp]> = [
    [{ device: 'd1', ts, fields: { t: Infinity }, tags: {} }, 'json', /^fields\.t is Infinity/],
    [{ device: 'd1', ts, fields: { t: -Infinity }, tags: {} }, 'json', /^fields\.t is -Infinity/],
    [{ device: 'd1', ts, fields: { t: NaN }, tags: {} }, 'cbor', /^fields\.t is NaN/],
    [[{ device: 'd1', ts, fields: { u: 1 }, tags: {} }, { device: 'd1', ts, fields: { t: NaN, v: Infinity }, tags: {} }], 'cbor', /^\[1\]\.fields\.t is NaN/],
    // Decoded data that is not a Reading yet (a function node's object before validate).
    [{ device: 'd1', fields: { t: Infinity } }, 'json', /^fields\.t is Infinity/],
    [{ device: 'd1', fields: { t: NaN } }, 'cbor', /^fields\.t is NaN/],
  ];
  for (const [payload, format, reason] of cases) {
    const facts = replayFacts({ payload });
    assert.equal(facts.format, format, reason.source);
    assert.equal(facts.contentType, `application/${format}`);
    const again = decodeReadings(facts.bytes!, { format: facts.format as Format, device: 'd0', receivedAt: ts });
    assert.equal(again.rejected.length, 1, reason.source);
    assert.match(again.rejected[0].error.message, reason);
    assert.equal(again.rejected[0].error.code, 'INVALID_READING');
  }
  // ±Infinity stays readable JSON text; the time as it was.
  assert.equal(Buffer.from(replayFacts({ payload: { device: 'd1', ts, fields: { t: Infinity }, tags: {} } }).bytes!).toString(), `{"device":"d1","ts":${ts},"fields":{"t":1e309},"tags":{}}`);
  // A cycle or a value beyond the kept size ends the walk; nothing is kept of what does not fit.
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(replayFacts({ payload: cyclic }, 100).bytes, undefined);
});
