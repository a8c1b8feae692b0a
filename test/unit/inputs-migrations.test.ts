import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { httpInMigrations, type HttpInOptions } from '../../nodes/http-in/options';
import { coapInMigrations, type CoapInOptions } from '../../nodes/coap-in/options';

test('http in v0 → v1: every option present, numbers from text, bad numbers back to the defaults', () => {
  const c = migrate<HttpInOptions>({ name: 'h', maxBytes: '2048', rateLimit: 'x' }, httpInMigrations);
  assert.deepEqual(c, {
    name: 'h', store: '', ingest: true, cromflag: true, influx: true, deviceTag: 'device', schemaSource: 'default', schema: '', schemaFile: '',
    protoType: 'upperstack.Reading', maxBytes: 2048, rateLimit: 0, highWater: 5000, configVersion: 1,
  });
  assert.equal(migrate<HttpInOptions>({ maxBytes: 0 }, httpInMigrations).maxBytes, 1048576);
  assert.equal(migrate<HttpInOptions>({ influx: false, deviceTag: 'host' }, httpInMigrations).deviceTag, 'host');
});

test('coap in v0 → v1: every option present, numbers from text', () => {
  const c = migrate<CoapInOptions>({ name: 'c', port: '5684', highWater: '10' }, coapInMigrations);
  assert.deepEqual(c, {
    name: 'c', port: '5684', bind: '127.0.0.1', octetFormat: 'msgpack', protoType: 'upperstack.Reading', schemaSource: 'default', schema: '', schemaFile: '',
    maxBytes: 262144, highWater: 10, configVersion: 1,
  });
});
