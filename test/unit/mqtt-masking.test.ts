/** Sensitive fields in MQTT deliveries to keys that may not see them (nodes/lib/security/mqtt-masking.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../../nodes/lib/codec';
import { maskDelivery } from '../../nodes/lib/security/mqtt-masking';
import { WITHHELD_PAYLOAD } from '../../nodes/lib/security/scoped-store';
import type { Mask } from '../../nodes/lib/security/masking';

const masks = new Map<string, Mask>([
  ['lat', { kind: 'round', digits: 2 }],
  ['owner', { kind: 'hide' }],
  ['iban', { kind: 'mask' }],
]);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const body = (d: ReturnType<typeof maskDelivery>) => JSON.parse(d!.payload.toString()) as Record<string, unknown>;

test('device telemetry with a sensitive field: the readings as JSON, masked; without one: as sent', () => {
  const d = maskDelivery('devices/d1/telemetry', json({ ts: 1_767_225_600_000, lat: 52.520008, owner: 'Jane', iban: 'DE0012345678', temp: 5 }), 'application/json', masks);
  assert.equal(d!.contentType, 'application/json');
  assert.deepEqual(body(d), { device: 'd1', ts: 1_767_225_600_000, fields: { lat: 52.52, iban: '********5678', temp: 5 }, tags: {} });
  assert.equal(maskDelivery('devices/d1/telemetry', json({ temp: 5 }), undefined, masks), undefined);
  assert.equal(maskDelivery('devices/d1/telemetry', json({ lat: 1 }), undefined, new Map()), undefined, 'no masks in force');
});

test('other codecs are decoded as the pipeline does (CBOR here), a batch stays a batch; what does not decode is withheld', () => {
  const d = maskDelivery('devices/d2/telemetry', Buffer.from(encode('cbor', [{ ts: 1000, lat: 1.23456 }, { ts: 2000, temp: 3 }])), 'application/cbor', masks);
  assert.deepEqual(
    (JSON.parse(d!.payload.toString()) as Array<{ fields: unknown }>).map((r) => r.fields),
    [{ lat: 1.23 }, { temp: 3 }],
  );
  assert.equal(maskDelivery('devices/d2/telemetry', Buffer.from('{"owner":"Jane",'), undefined, masks), null);
  // Commands to a device are not readings.
  assert.equal(maskDelivery('devices/d2/commands/reboot', Buffer.from('now'), undefined, masks), undefined);
});

test('market averages, alerts and dead letters', () => {
  const m = maskDelivery('market/d1/1m', json({ device: 'd1', ts: 0, end: 60_000, fields: { lat: 52.123456, owner: 'x', temp: 4 }, n: { lat: 2, owner: 2, temp: 2 } }), undefined, masks);
  assert.deepEqual(body(m), { device: 'd1', ts: 0, end: 60_000, fields: { lat: 52.12, temp: 4 }, n: { lat: 2, temp: 2 } });
  assert.equal(maskDelivery('market/d1/1m', json({ device: 'd1', fields: { temp: 4 } }), undefined, masks), undefined);
  const a = maskDelivery('upperstack/alerts/d1', json({ rule: 'r', device: 'd1', field: 'owner', value: 'Jane', message: 'owner changed' }), undefined, masks);
  assert.deepEqual(body(a), { rule: 'r', device: 'd1', field: 'owner', message: 'owner changed' });
  assert.equal(maskDelivery('upperstack/alerts/d1', json({ field: 'temp', value: 40 }), undefined, masks), undefined);
  const l = maskDelivery('upperstack/deadletter/d1', json({ device: 'd1', code: 'DECODE_FAILED', payload: '{"owner":"Jane"' }), undefined, masks);
  assert.deepEqual(body(l), { device: 'd1', code: 'DECODE_FAILED', payload: WITHHELD_PAYLOAD });
});
