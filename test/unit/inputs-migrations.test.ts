import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { httpInMigrations, type HttpInOptions } from '../../nodes/http-in/options';
import { coapInMigrations, type CoapInOptions } from '../../nodes/coap-in/options';

test('http in v0 → v1: every option present, numbers from text, bad numbers back to the defaults', () => {
  const c = migrate<HttpInOptions>({ name: 'h', maxBytes: '2048', rateLimit: 'x' }, httpInMigrations.slice(0, 1));
  assert.deepEqual(c, {
    name: 'h', store: '', ingest: true, cromflag: true, influx: true, deviceTag: 'device', schemaSource: 'default', schema: '', schemaFile: '',
    protoType: 'upperstack.Reading', maxBytes: 2048, rateLimit: 0, highWater: 5000, configVersion: 1,
  });
  assert.equal(migrate<HttpInOptions>({ maxBytes: 0 }, httpInMigrations.slice(0, 1)).maxBytes, 1048576);
  assert.equal(migrate<HttpInOptions>({ influx: false, deviceTag: 'host' }, httpInMigrations).deviceTag, 'host');
});

test('coap in v0 → v1: every option present, numbers from text', () => {
  const c = migrate<CoapInOptions>({ name: 'c', port: '5684', highWater: '10' }, coapInMigrations.slice(0, 1));
  assert.deepEqual(c, {
    name: 'c', port: '5684', bind: '127.0.0.1', octetFormat: 'msgpack', protoType: 'upperstack.Reading', schemaSource: 'default', schema: '', schemaFile: '',
    maxBytes: 262144, highWater: 10, configVersion: 1,
  });
});

test('http in and coap in v1 → v2: a readings mark, 50,000 by default, 0 when the request mark is 0, kept when set', () => {
  for (const steps of [httpInMigrations.slice(0, 2), coapInMigrations.slice(0, 2)] as ReadonlyArray<ReadonlyArray<(old: Record<string, unknown>) => Record<string, unknown>>>) {
    const up = (c: Record<string, unknown>) => migrate<{ highWaterReadings: number; configVersion: number }>({ configVersion: 1, highWater: 5000, ...c }, steps as never);
    assert.deepEqual({ ...up({}) }, { configVersion: 2, highWater: 5000, highWaterReadings: 50000 });
    assert.equal(up({ highWater: 0 }).highWaterReadings, 0);
    assert.equal(up({ highWaterReadings: '2000' }).highWaterReadings, 2000);
    assert.equal(up({ highWaterReadings: 'x' }).highWaterReadings, 50000);
    // Unversioned flows go through both steps.
    assert.equal(migrate<{ highWaterReadings: number; configVersion: number }>({}, steps as never).highWaterReadings, 50000);
  }
});

test('http in v2 → v3: a body timeout, 30 s by default, kept when set, text read as a number', () => {
  const up = (c: Record<string, unknown>) => migrate<HttpInOptions>({ configVersion: 2, highWater: 5000, highWaterReadings: 50000, ...c }, httpInMigrations);
  assert.equal(up({}).configVersion, 3);
  assert.equal(up({}).bodyTimeout, 30);
  assert.equal(up({ bodyTimeout: 0 }).bodyTimeout, 0);
  assert.equal(up({ bodyTimeout: '45' }).bodyTimeout, 45);
  // Unversioned flows go through every step.
  assert.equal(migrate<HttpInOptions>({}, httpInMigrations).bodyTimeout, 30);
});
