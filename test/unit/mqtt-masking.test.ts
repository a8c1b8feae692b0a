/** Sensitive fields in MQTT deliveries to keys that may not see them (nodes/lib/security/mqtt-masking.ts), on the default topics and on those the flows configure (own-topics.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../../nodes/lib/codec';
import { maskDelivery } from '../../nodes/lib/security/mqtt-masking';
import { WITHHELD_PAYLOAD } from '../../nodes/lib/security/scoped-store';
import type { Mask } from '../../nodes/lib/security/masking';
import { randomBytes } from 'node:crypto';
import { OwnTopics } from '../../nodes/lib/security/own-topics';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';

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
  const refused = maskDelivery('upperstack/deadletter/d1', json({ device: 'd1', code: 'SCHEMA_VIOLATION', reason: '/fields/owner must be string (got 55512345678)', payload: '{"owner":55512345678}' }), undefined, masks);
  assert.deepEqual(body(refused), { device: 'd1', code: 'SCHEMA_VIOLATION', reason: '/fields/owner must be string (got a number)', payload: WITHHELD_PAYLOAD });
  // A letter that says where its reason quotes the sender's values: those told by kind, and where they were not sent on.
  const reason = 'line protocol line 1, column 4: field "owner" has value "Jane", which is not a float';
  const lp = maskDelivery('upperstack/deadletter/d1', json({ device: 'd1', code: 'DECODE_FAILED', reason, quoted: [{ at: 56, text: '"Jane"', kind: '(text without quotes)', field: 'owner' }], payload: 'd1 owner=Jane' }), undefined, masks);
  assert.deepEqual(body(lp), { device: 'd1', code: 'DECODE_FAILED', reason: 'line protocol line 1, column 4: field "owner" has value (text without quotes), which is not a float', payload: WITHHELD_PAYLOAD });
});

test('dead-letter, alert and notification topics configured in the flows are masked as the default ones; a removed node\'s topic no longer is', () => {
  const own = new OwnTopics();
  const forgetLetters = own.add('deadletter', 'plant/errors/{device}');
  own.add('alert', 'plant/alarms/{device}');
  own.add('alert', 'ops/{severity}/x-{device}');
  const letter = json({ device: 'd1', code: 'DECODE_FAILED', payload: '{"owner":"Jane"' });
  const alert = json({ rule: 'r', device: 'd1', field: 'owner', value: 'Jane', message: 'owner changed' });
  // Without the configuration these topics say nothing of what they carry: delivered as sent.
  assert.equal(maskDelivery('plant/errors/d1', letter, undefined, masks), undefined);
  assert.deepEqual(own.match('plant/errors/d1'), { kind: 'deadletter', device: 'd1' });
  assert.deepEqual(body(maskDelivery('plant/errors/d1', letter, undefined, masks, own.match('plant/errors/d1'))), { device: 'd1', code: 'DECODE_FAILED', payload: WITHHELD_PAYLOAD });
  assert.deepEqual(body(maskDelivery('plant/alarms/d1', alert, undefined, masks, own.match('plant/alarms/d1'))), { rule: 'r', device: 'd1', field: 'owner', message: 'owner changed' });
  assert.deepEqual(own.match('ops/critical/x-d1'), { kind: 'alert', device: 'd1' });
  assert.deepEqual(body(maskDelivery('ops/critical/x-d1', alert, undefined, masks, own.match('ops/critical/x-d1'))).value, undefined);
  // Whole topics only.
  assert.equal(own.match('plant/errors/d1/more'), undefined);
  assert.equal(own.match('plant/errorsX/d1'), undefined);
  forgetLetters();
  assert.equal(own.match('plant/errors/d1'), undefined);
});

test('an API key over MQTT: configured topics are masked and judged by the device they name, as the default ones', () => {
  const own = new OwnTopics();
  own.add('deadletter', 'plant/errors/{device}');
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const auth = new DeviceAuth({ registry, keySees: (_scopes, device) => device === 'd1', keyMasks: () => masks, ownTopic: (t) => own.match(t) });
  const reader = { kind: 'key' as const, id: 'k', scopes: ['read:tag=customer=acme'] };
  assert.equal(auth.mayReceive(reader, 'plant/errors/d1'), true);
  assert.equal(auth.mayReceive(reader, 'plant/errors/d2'), false);
  const shown = auth.delivery(reader, 'plant/errors/d1', json({ device: 'd1', code: 'DECODE_FAILED', payload: '{"owner":"Jane"' }));
  assert.deepEqual(body(shown), { device: 'd1', code: 'DECODE_FAILED', payload: WITHHELD_PAYLOAD });
});
