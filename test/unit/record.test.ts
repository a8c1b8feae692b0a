/** The protocol-neutral journal record, and journals written before it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, encodeRecord, RECORD_VERSION, addressOf, protocolOf, type Received } from '../../nodes/lib/ingest/record';
import { encodeRecord as encodeLegacy } from '../../nodes/lib/mqtt/record';
import { JournalError } from '../../nodes/lib/errors';

test('a record keeps source, remote address, content type, device, QoS, time, protocol details and payload', () => {
  const rec: Received = {
    source: 'http:/api/v2/write',
    payload: Buffer.from('cpu,host=a usage=0.5 1767225600000000000\n'),
    receivedAt: 1767225600123,
    remote: '192.0.2.7:50412',
    contentType: 'text/plain; charset=utf-8',
    device: 'gateway-ä',
    meta: { precision: 'ns', bucket: 'telemetry' },
  };
  const buf = encodeRecord(rec);
  assert.equal(buf[0], RECORD_VERSION, 'the first byte is the version');
  assert.deepEqual(decodeRecord(buf), rec);
  const mqtt: Received = { source: 'mqtt:devices/d1/telemetry', payload: Buffer.from([0, 1, 2]), receivedAt: 1767225600000, qos: 2 };
  assert.deepEqual(decodeRecord(encodeRecord(mqtt)), mqtt, 'absent fields stay absent; QoS 0-2 survives');
  assert.deepEqual(decodeRecord(encodeRecord({ ...mqtt, qos: 0 })).qos, 0);
});

test('records written by the MQTT-only encoder of earlier releases still decode, as mqtt: sources', () => {
  for (const receivedAt of [Date.UTC(1971, 0, 1), Date.UTC(2026, 0, 1, 12, 34, 56, 789), Date.UTC(2500, 11, 31)]) {
    const old = encodeLegacy({ topic: 'devices/d7/telemetry', payload: Buffer.from('{"t":1}'), qos: 1, contentType: 'application/json', receivedAt });
    assert.equal(old[0], 0, 'a whole number of milliseconds leaves the lowest mantissa byte 0');
    assert.deepEqual(decodeRecord(old), { source: 'mqtt:devices/d7/telemetry', payload: Buffer.from('{"t":1}'), qos: 1, contentType: 'application/json', receivedAt });
  }
  const bare = decodeRecord(encodeLegacy({ topic: 'x', payload: Buffer.alloc(0), qos: 0, receivedAt: 1767225600000 }));
  assert.equal(bare.contentType, undefined);
  assert.equal(bare.payload.length, 0);
});

test('an unknown version or a cut record is a JournalError, not garbage', () => {
  const buf = encodeRecord({ source: 'coap:/t', payload: Buffer.from('x'), receivedAt: 1767225600000 });
  const future = Buffer.from(buf);
  future[0] = 9;
  assert.throws(() => decodeRecord(future), (err: unknown) => err instanceof JournalError && /version byte 9/.test(err.message));
  assert.throws(() => decodeRecord(buf.subarray(0, 12)), JournalError);
  const lying = Buffer.from(buf);
  lying.writeUInt32LE(1000, 10);
  assert.throws(() => decodeRecord(lying), /truncated/);
});

test('source names the protocol and the address', () => {
  assert.equal(protocolOf('mqtt:devices/a/telemetry'), 'mqtt');
  assert.equal(addressOf('mqtt:devices/a/telemetry'), 'devices/a/telemetry');
  assert.equal(addressOf('http:/api/v1/ingest'), '/api/v1/ingest');
  assert.equal(addressOf('replay:deadletters/42'), 'deadletters/42');
});
