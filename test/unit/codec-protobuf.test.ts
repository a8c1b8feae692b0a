import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clearProtoCache, decode, defaultProtoDir, encode, listProtoTypes } from '../../nodes/lib/codec';
import { ConfigError, DecodeError, InvalidReadingError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';
import { normalizeReadings } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const tmp = tempDir('upperstack-proto-');
after(() => rmSync(tmp, { recursive: true, force: true }));

function decodeError(buf: Uint8Array, protoType?: string): DecodeError {
  try {
    decode('protobuf', Buffer.from(buf), { protoType });
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, 'protobuf');
    return err;
  }
  throw new assert.AssertionError({ message: 'decode did not fail' });
}

describe('protobuf codec', () => {
  test('ships proto/telemetry.proto and finds it from the compiled code', () => {
    assert.equal(defaultProtoDir(), join(packageRoot(), 'proto'));
    assert.ok(existsSync(join(defaultProtoDir(), 'telemetry.proto')));
    assert.deepEqual(listProtoTypes(), ['upperstack.Batch', 'upperstack.Reading', 'upperstack.Value']);
  });

  test('a Reading round-trips into the Reading contract shape, Value unwrapped', () => {
    const reading = { device: 'd1', ts: 1700000000123, fields: { t: 22.5, zero: 0, on: true, off: false, s: 'ü', empty: '' }, tags: { room: 'kitchen' } };
    assert.deepEqual(decode('protobuf', encode('protobuf', reading)), reading);
  });

  test('int64 values come back as numbers', () => {
    const back = decode('protobuf', encode('protobuf', { device: 'd', ts: 1, fields: { count: 9007199254740991n }, tags: {} })) as { fields: { count: unknown } };
    assert.equal(back.fields.count, 9007199254740991);
  });

  test('an array encodes as a Batch and decodes to an array of readings', () => {
    const batch = [
      { device: 'a', ts: 1, fields: { x: 1 }, tags: {} },
      { device: 'b', ts: 2, fields: { y: 'z' }, tags: { k: 'v' } },
    ];
    assert.deepEqual(decode('protobuf', encode('protobuf', batch), { protoType: 'upperstack.Batch' }), batch);
  });

  test('unset device and ts are left out so the topic device and time of receipt apply', () => {
    const decoded = decode('protobuf', encode('protobuf', { fields: { t: 1 }, tags: {} }));
    assert.deepEqual(decoded, { fields: { t: 1 }, tags: {} });
    const { readings } = normalizeReadings(decoded, { device: 'from-topic', receivedAt: 42 });
    assert.deepEqual(readings, [{ device: 'from-topic', ts: 42, fields: { t: 1 }, tags: {} }]);
  });

  test('bytes of another message type are a DecodeError naming the type and byte', () => {
    const err = decodeError(encode('protobuf', { device: 'd1', ts: 5, fields: { t: 1 }, tags: {} }), 'upperstack.Batch');
    assert.match(err.message, /^upperstack\.Batch cannot be decoded: invalid wire type 4 at byte 3/);
    assert.equal(err.details.offset, 3);
    assert.equal(err.details.protoType, 'upperstack.Batch');
  });

  test('truncated bytes say where they end', () => {
    const full = encode('protobuf', { device: 'device-1', ts: 5, fields: { t: 1 }, tags: {} });
    const err = decodeError(full.subarray(0, 6));
    assert.match(err.message, /^upperstack\.Reading data ends early at byte 2 of 6: 8 more byte\(s\) needed/);
    assert.equal(err.details.offset, 2);
  });

  test('a Reading with none of its fields present is flagged as probably the wrong type', () => {
    assert.match(decodeError(Buffer.alloc(0)).message, /decoded to nothing/);
  });

  test('invalid UTF-8 in a string field is reported as such', () => {
    assert.match(decodeError(Buffer.from([0x0a, 0x02, 0xff, 0xfe])).message, /not valid UTF-8/);
  });

  test('an unknown message type is a ConfigError listing the defined ones', () => {
    assert.throws(() => decode('protobuf', Buffer.alloc(0), { protoType: 'acme.Nope' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /"acme\.Nope" is not defined .*upperstack\.Batch, upperstack\.Reading, upperstack\.Value/);
      return true;
    });
  });

  test('user types from another folder keep their field names and map int64/enums to number/string', () => {
    const dir = join(tmp, 'user');
    mkdirSync(dir);
    writeFileSync(join(dir, 'common.proto'), 'syntax = "proto3";\npackage acme;\nmessage Where { string site_name = 1; }\n');
    writeFileSync(join(dir, 'meter.proto'), 'syntax = "proto3";\npackage acme;\nimport "common.proto";\nmessage Meter { uint64 total_wh = 1; enum State { OFF = 0; ON = 1; } State state = 2; acme.Where where = 3; }\n');
    assert.deepEqual(listProtoTypes(dir), ['acme.Meter', 'acme.Where']);
    const value = { total_wh: 123456789012, state: 'ON', where: { site_name: 'north' } };
    const bytes = encode('protobuf', value, { protoType: 'acme.Meter', protoDir: dir });
    assert.deepEqual(decode('protobuf', bytes, { protoType: 'acme.Meter', protoDir: dir }), value);
    assert.throws(() => encode('protobuf', { where: 'not an object' }, { protoType: 'acme.Meter', protoDir: dir }), InvalidReadingError);
  });

  test('a folder is parsed once; clearProtoCache reads it again', () => {
    const dir = join(tmp, 'cached');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.proto'), 'syntax = "proto3";\nmessage First { string a = 1; }\n');
    assert.deepEqual(listProtoTypes(dir), ['First']);
    writeFileSync(join(dir, 'b.proto'), 'syntax = "proto3";\nmessage Second { string b = 1; }\n');
    assert.deepEqual(listProtoTypes(dir), ['First']);
    clearProtoCache();
    assert.deepEqual(listProtoTypes(dir), ['First', 'Second']);
  });

  test('missing, empty and broken proto folders are ConfigErrors that say which', () => {
    assert.throws(() => listProtoTypes(join(tmp, 'does-not-exist')), /does not exist/);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    assert.throws(() => listProtoTypes(empty), /holds no \.proto files/);
    const broken = join(tmp, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'bad.proto'), 'syntax = "proto3";\nmessage X {\n  int32 b = ;\n}\n');
    assert.throws(() => listProtoTypes(broken), (err: unknown) => err instanceof ConfigError && /bad\.proto, line 3/.test(err.message));
  });

  test('encoding checks the value shape', () => {
    assert.throws(() => encode('protobuf', [{ device: 'a', fields: { x: 1 } }], { protoType: 'upperstack.Reading' }), /use upperstack\.Batch/);
    assert.throws(() => encode('protobuf', { device: 'a', fields: { x: { nested: 1 } } }), InvalidReadingError);
  });
});
