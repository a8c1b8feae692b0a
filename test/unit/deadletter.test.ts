import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepsForReplay, keptOf, toDeadLetter, topicLevel } from '../../nodes/lib/deadletter';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { processRequest } from '../../nodes/lib/inputs/request';
import { publishFormat } from '../../nodes/lib/mqtt/format';
import { loadSchema } from '../../nodes/lib/schema/validator';
import { decode } from '../../nodes/lib/codec';
import { describeError } from '../../nodes/lib/errors';
import { bearerMatches } from '../../nodes/lib/security/apikey';
import { isLoopback } from '../../nodes/lib/security/net';

test('a dead letter names the device, the source, the code and where it went wrong', () => {
  const l = toDeadLetter({ device: 'd1', topic: 'devices/d1/telemetry', payload: Buffer.from('{"t":'), error: { code: 'DECODE_FAILED', message: 'JSON ends early', offset: 5 } }, 42);
  assert.deepEqual(l, { ts: 42, device: 'd1', source: 'mqtt:devices/d1/telemetry', code: 'DECODE_FAILED', reason: 'JSON ends early (at byte 5)', payload: '{"t":' });
});

test('a reason names the place once: a decode error whose message says the byte gets no "(at byte …)" after it', () => {
  const failed = (format: 'cbor' | 'msgpack', bytes: number[]) => {
    const payload = Buffer.from(bytes);
    try {
      decode(format, payload);
    } catch (err) {
      return toDeadLetter({ device: 'd1', source: 'coap:/telemetry/d1', payload, error: describeError(err) });
    }
    throw new assert.AssertionError({ message: `${format} decoded` });
  };
  // A map of one entry whose value (a float 64) is cut off at byte 4.
  const cbor = failed('cbor', [0xa1, 0x61, 0x74, 0xfb, 0x40, 0x36]);
  assert.equal(cbor.code, 'DECODE_FAILED');
  assert.match(cbor.reason, /^CBOR data ends early at byte 3 of 6: /);
  assert.doesNotMatch(cbor.reason, /\(at byte/);
  const msgpack = failed('msgpack', [0x81, 0xa1, 0x61, 0xcb, 0x40, 0x36]);
  assert.equal(msgpack.reason, 'MessagePack data ends early at byte 3 of 6: a float 64 value of 8 bytes starts there but only 2 bytes follow its header');
  // A message naming another byte (13, not 1) still gets its place.
  assert.equal(toDeadLetter({ error: { code: 'DECODE_FAILED', message: 'bad length at byte 13', offset: 1 } }).reason, 'bad length at byte 13 (at byte 1)');
});

test('binary payloads are kept as base64 and large ones are cut', () => {
  const bin = toDeadLetter({ payload: Buffer.from([0xff, 0x00, 0xfe]), error: { code: 'X', message: 'm' } });
  assert.equal(bin.payload, 'base64:/wD+');
  assert.equal(bin.device, 'unknown');
  const big = toDeadLetter({ payload: 'x'.repeat(10_000), error: { message: 'm' } });
  assert.equal(big.payload.length, 4096);
});

test('a device name is made safe for one topic level', () => {
  assert.equal(topicLevel('a/b+#'), 'a_b__');
  assert.equal(topicLevel(''), 'unknown');
});

test('API keys must match exactly as a Bearer token', () => {
  assert.ok(bearerMatches('Bearer s3cret', 's3cret'));
  assert.ok(bearerMatches('bearer   s3cret ', 's3cret'));
  assert.ok(!bearerMatches('Bearer s3cre', 's3cret'));
  assert.ok(!bearerMatches('Basic s3cret', 's3cret'));
  assert.ok(!bearerMatches(undefined, 's3cret'));
  assert.ok(!bearerMatches('Bearer ', ''));
});

test('only loopback addresses count as loopback', () => {
  for (const h of ['127.0.0.1', '127.5.0.9', 'localhost', '::1']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '192.168.1.2', '::', 'example.org']) assert.ok(!isLoopback(h), h);
});

test('an impostor\'s body (DEVICE_MISMATCH) is left out of its letter, whatever the input; other failures keep theirs', () => {
  const error = { code: 'DEVICE_MISMATCH', message: 'the payload names device "b" but the topic names "a"' };
  const mqtt = keptOf({ device: 'a', topic: 'devices/a/telemetry', payload: Buffer.from('{"device":"b","t":1}'), error });
  assert.equal(toDeadLetter(mqtt).payload, '');
  assert.equal(toDeadLetter(mqtt).reason, error.message);
  const bad = { device: 'a', payload: Buffer.from('{"t":'), error: { code: 'DECODE_FAILED', message: 'JSON ends early' } };
  assert.equal(keptOf(bad), bad);
});

test('a letter keeps its message for a replay unless the message alone decides the refusal on its input, whatever the settings', () => {
  const validate = loadSchema({}).validate;
  const opts = { validate, maxBytes: 1 << 20 };
  /** Whether the letter of the first failure of a request keeps its message, with its code. */
  const request = (route: 'ingest' | 'coap', contentType: string | undefined, body: string) => {
    const out = processRequest({ route, device: 'd1', receivedAt: 1767225600000, payload: Buffer.from(body), ...(contentType ? { contentType } : {}) }, opts);
    const error = describeError(out.failures[0].error);
    return [error.code, keepsForReplay({ payload: Buffer.from(body), error })];
  };
  const thrown = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      const error = describeError(err);
      return [error.code, keepsForReplay({ payload: Buffer.from('x'), error })];
    }
    throw new Error('expected a refusal');
  };
  // No setting reads an empty message, on any input or format.
  assert.deepEqual(request('ingest', 'application/json', ''), ['DECODE_FAILED', false]);
  assert.deepEqual(request('coap', 'application/json', ''), ['DECODE_FAILED', false]);
  for (const format of ['auto', 'json', 'protobuf'] as const) assert.deepEqual(thrown(() => decodeReadings(Buffer.alloc(0), { format, device: 'd1', receivedAt: 0 })), ['DECODE_FAILED', false], format);
  // HTTP and CoAP have no format setting: a content type the route does not read is refused again on replay.
  assert.deepEqual(request('ingest', 'image/png', '{"t":1}'), ['UNSUPPORTED_FORMAT', false]);
  assert.deepEqual(request('ingest', undefined, '{"t":1}'), ['UNSUPPORTED_FORMAT', false]);
  assert.deepEqual(request('ingest', 'application/json; charset=latin1', '{"t":1}'), ['UNSUPPORTED_FORMAT', false]);
  assert.deepEqual(request('coap', 'image/png', '{"t":1}'), ['UNSUPPORTED_FORMAT', false]);
  // What a change of the user's may let through stays replayable: malformed bytes (the input's format, a decoder),
  // a schema refusal, and over MQTT a content type, which an input with a fixed format reads whatever it names.
  assert.deepEqual(request('ingest', 'application/json', '{"t":'), ['DECODE_FAILED', true]);
  assert.deepEqual(request('ingest', 'application/json', '{"ts":1767225600000,"bad name":1}'), ['SCHEMA_VIOLATION', true]);
  assert.deepEqual(thrown(() => decodeReadings(Buffer.from([0xff, 0x01]), { format: 'auto', device: 'd1', receivedAt: 0 })).slice(1), [true]);
  assert.deepEqual(thrown(() => publishFormat('image/png', 'd1')), ['UNSUPPORTED_FORMAT', true]);
  assert.deepEqual(thrown(() => publishFormat('application/json; charset=latin1', 'd1')), ['UNSUPPORTED_FORMAT', true]);
  assert.equal(keepsForReplay({ error: { code: 'INTERNAL', message: 'x' } }), true);
});
