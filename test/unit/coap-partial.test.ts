/**
 * The 2.04 of a CoAP request partly refused: the counts and up to three refusals (code, short message,
 * index), always whole JSON, within the amplification bound for an anonymous request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'coap-packet';
import { boundAmplification, coapOutcomeAnswer, outcomeRoom, requestSize } from '../../nodes/lib/inputs/coap';
import { InvalidReadingError, SchemaViolationError } from '../../nodes/lib/errors';
import type { InputOutcome } from '../../nodes/lib/inputs/request';

const reading = { device: 'd', ts: 1, fields: { a: 1 }, tags: {} };
const refused = (n: number, message = (i: number) => `[${i}].fields.t is NaN`): InputOutcome => ({
  readings: [reading, reading],
  failures: Array.from({ length: n }, (_, i) => ({ error: i % 2 ? new SchemaViolationError(message(i), { path: '/fields/t' }) : new InvalidReadingError(message(i)), payload: {}, index: i + 2 })),
});
type Body = { accepted: number; deadLettered: number; errors?: Array<{ code: string; message: string; index?: number }> };
const body = (o: InputOutcome, room?: number): Body => JSON.parse(coapOutcomeAnswer(o, room).payload!.toString()) as Body;

test('a partly refused batch: 2.04 with the counts and the first three refusals, code, message and index', () => {
  const a = coapOutcomeAnswer(refused(5));
  assert.equal(a.code, '2.04');
  assert.deepEqual(JSON.parse(a.payload!.toString()), {
    accepted: 2,
    deadLettered: 5,
    errors: [
      { code: 'INVALID_READING', message: '[0].fields.t is NaN', index: 2 },
      { code: 'SCHEMA_VIOLATION', message: '[1].fields.t is NaN', index: 3 },
      { code: 'INVALID_READING', message: '[2].fields.t is NaN', index: 4 },
    ],
  });
  // Nothing refused: the counts alone, as before.
  assert.deepEqual(body({ readings: [reading], failures: [] }), { accepted: 1, deadLettered: 0 });
});

test('a long message is cut to 100 characters with an ellipsis, never inside a surrogate pair', () => {
  const listed = body(refused(1, () => `x${'🌡'.repeat(200)}`)).errors!;
  assert.ok(listed[0].message.length <= 100, String(listed[0].message.length));
  assert.ok(listed[0].message.endsWith('…'));
  assert.doesNotMatch(listed[0].message, /[\ud800-\udbff](?![\udc00-\udfff])/);
});

test('an anonymous request: the answer is whole JSON within 3× the request, listing what fits', () => {
  const long = (i: number) => `[${i}].ts 9999-01-01T00:00:00.000Z is too far in the future: the latest time taken is 2026-12-05T02:00:00.000Z (24 h after the reading arrived); check the device's clock`;
  for (const size of [0, 20, 40, 60, 90, 150, 400]) {
    const token = Buffer.alloc(8, 1);
    const request = generate({ code: 'POST', messageId: 1, token, payload: Buffer.alloc(size, 0x20), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('d') }] });
    const requestBytes = requestSize({ token, payload: Buffer.alloc(size, 0x20), options: [{ value: Buffer.from('telemetry') }, { value: Buffer.from('d') }] });
    const answer = coapOutcomeAnswer(refused(5, long), outcomeRoom(requestBytes, token.length));
    // The bound finds nothing to cut: the body is valid JSON as sent.
    assert.equal(boundAmplification(answer, requestBytes, token.length), answer, `size ${size}`);
    const parsed = JSON.parse(answer.payload!.toString()) as Body;
    assert.deepEqual([parsed.accepted, parsed.deadLettered], [2, 5]);
    for (const e of parsed.errors ?? []) assert.ok(e.message.length >= 16 && e.code === (e.index! % 2 ? 'SCHEMA_VIOLATION' : 'INVALID_READING'));
    const datagram = generate({ code: '2.04', messageId: 1, token, ack: true, payload: answer.payload!, options: [{ name: 'Content-Format', value: Buffer.from([50]) }] });
    assert.ok(datagram.length <= 3 * request.length, `size ${size}: ${datagram.length} > 3 × ${request.length}`);
    if (size >= 150) assert.equal(parsed.errors?.length, 3, `size ${size}`);
    // No room for one entry with a message worth reading: the counts alone.
    if (size === 0) assert.equal(parsed.errors, undefined);
    else assert.ok((parsed.errors?.length ?? 0) >= 1, `size ${size}`);
  }
});
