import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clearProtoCache, decode, defaultProtoDir, encode, listProtoTypes, protobufMessageType } from '../../nodes/lib/codec';
import { scanTopLevel } from '../../nodes/lib/codec/protobuf';
import { DEFAULT_LIMITS } from '../../nodes/lib/limits';
import { ConfigError, DecodeError, InvalidReadingError, TooManyReadingsError, UnsupportedFormatError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';
import { normalizeReadings } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const tmp = tempDir('upperstack-proto-');
after(() => rmSync(tmp, { recursive: true, force: true }));

function decodeError(buf: Uint8Array, protoType?: string, messageType?: string): DecodeError {
  try {
    decode('protobuf', Buffer.from(buf), { protoType, messageType });
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
    const err = decodeError(encode('protobuf', { device: 'd1', ts: 5, fields: { t: 1 }, tags: {} }), undefined, 'upperstack.Batch');
    assert.match(err.message, /^upperstack\.Batch cannot be decoded: invalid wire type 4 at byte 3/);
    assert.equal(err.details.offset, 3);
    assert.equal(err.details.protoType, 'upperstack.Batch');
  });

  test('with upperstack.Reading or upperstack.Batch configured, the bytes tell a Batch from a Reading', () => {
    const reading = { device: 'd1', ts: 5, fields: { t: 1 }, tags: { k: 'v' } };
    const batch = [reading, { device: 'd2', ts: 6, fields: { u: true }, tags: {} }];
    for (const protoType of ['upperstack.Reading', 'upperstack.Batch', undefined]) {
      assert.deepEqual(decode('protobuf', encode('protobuf', batch), { protoType }), batch, String(protoType));
      assert.deepEqual(decode('protobuf', encode('protobuf', reading), { protoType }), reading, String(protoType));
    }
    // A batch of readings that name no device (the topic or URL does) is still only field 1.
    assert.deepEqual(decode('protobuf', encode('protobuf', [{ fields: { t: 1 } }, { fields: { t: 2 } }] as never)), [{ fields: { t: 1 }, tags: {} }, { fields: { t: 2 }, tags: {} }]);
  });

  test('a message type named in the content type is decoded as named, and a wrong one says how to name a Batch', () => {
    const batch = encode('protobuf', [{ device: 'd1', ts: 1767225600000, fields: { t: 1.5 }, tags: {} }, { device: 'd1', ts: 1767225601000, fields: { t: 2 }, tags: {} }]);
    const err = decodeError(batch, undefined, 'upperstack.Reading');
    assert.doesNotMatch(err.message, /has a string field/);
    assert.match(err.message, /^upperstack\.Reading cannot be decoded/);
    assert.match(err.message, /the content type names upperstack\.Reading; an upperstack\.Batch is sent as "application\/x-protobuf; messageType=upperstack\.Batch"/);
    assert.throws(
      () => decode('protobuf', batch, { messageType: 'acme.Nope' }),
      (e: unknown) => e instanceof UnsupportedFormatError && /names protobuf message type "acme\.Nope".*upperstack\.Batch, upperstack\.Reading/.test(e.message),
    );
  });

  test('the readings of a Batch are counted on the bytes, before any is decoded', () => {
    // Three readings whose insides are not even valid: the count is refused first.
    const three = Buffer.from([0x0a, 0x01, 0xff, 0x0a, 0x01, 0xff, 0x0a, 0x01, 0xff]);
    assert.throws(() => decode('protobuf', three, { limits: { ...DEFAULT_LIMITS, maxReadings: 2 } }), (e: unknown) => e instanceof TooManyReadingsError && e.details.count === 3 && e.details.limit === 2);
    assert.deepEqual(scanTopLevel(three), { onlyField1: true, count: 3 });
    assert.equal(scanTopLevel(Buffer.from([0x0a, 0x05, 0x01])), undefined);
  });

  test('the scan splits every wire type, and bytes that do not split into fields are left to the decoder to place', () => {
    const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');
    // A reading, then a varint, a fixed64, a fixed32 and a length-delimited field 2.
    assert.deepEqual(scanTopLevel(hex('0a01ff 1096 01 11 0102030405060708 15 01020304 1202 aabb')), { onlyField1: false, count: 1 });
    assert.deepEqual(scanTopLevel(Buffer.alloc(0)), { onlyField1: true, count: 0 });
    for (const [bytes, why] of [
      ['0a80', 'a length varint cut off'],
      ['0a01ff 0a', 'a second reading cut off after its tag'],
      ['0a01ff 96', 'a tag varint cut off'],
      ['0a01ff 1080', 'a value varint cut off'],
      ['0a01ff 0d000000', 'a fixed32 cut off'],
      ['0a01ff 0900', 'a fixed64 cut off'],
      ['0b 0c', 'a group, which neither Reading nor Batch has'],
      ['0a01ff 0c', 'an end-group tag with no group'],
      ['0a01ff 0e', 'wire type 6, which does not exist'],
      ['0002', 'field number 0'],
    ] as const) {
      assert.equal(scanTopLevel(hex(bytes)), undefined, why);
    }
    // The decoder then says where the bytes fail, under the configured type.
    const cut = decodeError(hex('0a80'), 'upperstack.Batch');
    assert.match(cut.message, /^upperstack\.Batch data ends early at byte 2 of 2: 1 more byte\(s\) needed/);
    assert.equal(cut.details.offset, 2);
    assert.match(decodeError(hex('0002')).message, /^upperstack\.Reading cannot be decoded at byte 1: illegal tag: field number 0/);
    // A group in field 1 is skipped by the decoder: a Batch of no readings, which the scan did not count as one.
    assert.deepEqual(decode('protobuf', hex('0b0c'), { protoType: 'upperstack.Batch' }), []);
  });

  test('the message type parameter of a content type', () => {
    assert.equal(protobufMessageType('application/x-protobuf; messageType=upperstack.Batch'), 'upperstack.Batch');
    assert.equal(protobufMessageType('application/x-protobuf;messagetype="upperstack.Batch"'), 'upperstack.Batch');
    assert.equal(protobufMessageType('application/vnd.google.protobuf; proto=upperstack.Reading; encoding=delimited'), 'upperstack.Reading');
    assert.equal(protobufMessageType('application/x-protobuf'), undefined);
    assert.equal(protobufMessageType(undefined), undefined);
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
    assert.match(decodeError(Buffer.from([0x0a, 0x02, 0xff, 0xfe, 0x10, 0x05])).message, /^upperstack\.Reading cannot be decoded: a string field ending before byte 4 is not valid UTF-8/);
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
