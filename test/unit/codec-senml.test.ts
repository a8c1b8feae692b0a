import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { encode, formatFromContentType, sniff } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { decodeSenmlCbor, decodeSenmlJson, encodeSenmlCbor, resolveSenml } from '../../nodes/lib/codec/senml';
import { encodeCbor } from '../../nodes/lib/codec/cbor';
import { BadDeviceIdError, DecodeError } from '../../nodes/lib/errors';

const NOW = 1767225600000; // 2026-01-01T00:00:00Z
const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
const read = (v: unknown, device?: string) => decodeReadings(json(v), { format: 'senml', device, receivedAt: NOW, maxBytes: 1 << 20 });

function senmlError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    return err;
  }
  throw new assert.AssertionError({ message: 'did not fail' });
}

describe('SenML resolution (RFC 8428)', () => {
  test('two records with the same resolved name and time refuse the pack, naming both records, in JSON and CBOR', () => {
    const packs: Array<[unknown[], string]> = [
      [[{ bn: 'd1:', bt: 1767225600, n: 'temp', v: 1 }, { n: 'temp', vs: 'hot' }], '[1]'],
      [[{ bn: 'd1:', n: 'temp', v: 1, t: 1767225600 }, { n: 'hum', v: 2, t: 1767225600 }, { n: 'temp', v: 3, t: 1767225600 }], '[2]'],
      // A base name and a record name resolve to the same "d1:temp" as the full name.
      [[{ n: 'temp', v: 1 }, { bn: 'd1:', n: 'hum', v: 2 }, { bn: '', n: 'temp', v: 2 }], '[2]'],
      // A sum without a value is the field itself.
      [[{ bn: 'd1:', n: 'energy', v: 5 }, { n: 'energy', s: 10 }], '[1]'],
    ];
    for (const [pack, at] of packs) {
      const err = senmlError(() => read(pack, 'd1'));
      assert.equal(err.code, 'DECODE_FAILED');
      assert.equal(err.details.path, at);
      assert.match(err.message, /^SenML \[\d\]: record "[^"]+" has the same resolved name and time as record \[\d\]: a pack gives one value per name and time$/);
    }
    assert.equal(senmlError(() => read(packs[0][0], 'd1')).message, 'SenML [1]: record "d1:temp" has the same resolved name and time as record [0]: a pack gives one value per name and time');
    const cbor = encodeSenmlCbor([new Map<number, unknown>([[-2, 'd1:'], [-3, 1767225600], [0, 'temp'], [2, 1]]), new Map<number, unknown>([[0, 'temp'], [2, 2]])]);
    const err = senmlError(() => decodeReadings(cbor, { format: 'senml-cbor', receivedAt: NOW, maxBytes: 1 << 20 }));
    assert.equal(err.message, 'SenML [1]: record "d1:temp" has the same resolved name and time as record [0]: a pack gives one value per name and time');
    assert.equal(err.details.format, 'senml-cbor');
    // The same name at another time, and another name at the same time, are one pack's usual content.
    assert.equal(read([{ bn: 'd1:', bt: 1767225600, n: 'temp', v: 1 }, { n: 'temp', v: 2, t: 60 }, { n: 'hum', v: 3 }]).readings.length, 2);
  });

  test('RFC 8428 5.1.2: multiple records share a base name and base time; the base name names the device', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.320067464e9, bu: '%RH', v: 20, n: 'humidity' },
      { u: 'lon', v: 24.30621, n: 'longitude' },
      { u: 'lat', v: 60.07965, n: 'latitude' },
      { n: 'temperature', u: 'Cel', v: 23.1 },
      { n: 'humidity', t: 60, v: 20.3 },
    ];
    const { readings, rejected, format } = read(pack);
    assert.equal(format, 'senml');
    assert.deepEqual(rejected, []);
    assert.deepEqual(readings, [
      {
        device: 'urn:dev:ow:10e2073a01080063',
        ts: 1320067464000,
        fields: { humidity: 20, longitude: 24.30621, latitude: 60.07965, temperature: 23.1 },
        tags: { 'humidity.unit': '%RH', 'longitude.unit': 'lon', 'latitude.unit': 'lat', 'temperature.unit': 'Cel' },
      },
      { device: 'urn:dev:ow:10e2073a01080063', ts: 1320067524000, fields: { humidity: 20.3 }, tags: { 'humidity.unit': '%RH' } },
    ]);
  });

  test('with a transport device, resolved names are the fields; a base name equal to the device is left out', () => {
    const lwm2m = read([{ bn: '/3303/0/', n: '5700', v: 21.5 }, { bn: '/3303/1/', n: '5700', v: 19 }], 'ep1').readings;
    assert.deepEqual(lwm2m, [{ device: 'ep1', ts: NOW, fields: { '/3303/0/5700': 21.5, '/3303/1/5700': 19 }, tags: {} }]);
    const own = read([{ bn: 'dev1:', n: 'temp', v: 1 }], 'dev1').readings;
    assert.deepEqual(own[0].fields, { temp: 1 });
  });

  test('a base name ending in ":" names the device over the transport\'s, as a gateway sends for the devices behind it', () => {
    const gw = read([{ bn: 'devA:', n: 't', v: 1 }, { bn: 'devB:', n: 't', v: 2 }, { bn: '/3303/0/', n: '5700', v: 3 }], 'gw1').readings;
    assert.deepEqual(gw, [
      { device: 'devA', ts: NOW, fields: { t: 1 }, tags: {} },
      { device: 'devB', ts: NOW, fields: { t: 2 }, tags: {} },
      { device: 'gw1', ts: NOW, fields: { '/3303/0/5700': 3 }, tags: {} },
    ]);
    const urn = read([{ bn: 'urn:dev:ow:10e2073a01080063:', n: 'temp', u: 'Cel', v: 23.1 }], 'gw1').readings;
    assert.deepEqual(urn, [{ device: 'urn:dev:ow:10e2073a01080063', ts: NOW, fields: { temp: 23.1 }, tags: { 'temp.unit': 'Cel' } }]);
  });

  test('relative times count from receipt; base value and base sum are added; every value type', () => {
    const { readings } = read(
      [
        { bn: 'd/', bv: 100, bs: 1000, n: 'a', v: 5 },
        { n: 'b', vs: 'eco' },
        { n: 'c', vb: false },
        { n: 'd', vd: 'AQID' },
        { n: 'e', s: 5 },
        { n: 'f', v: 1, s: 2 },
        { n: 'a', t: -10, v: 7 },
      ],
      'x',
    );
    assert.deepEqual(readings, [
      { device: 'x', ts: NOW, fields: { 'd/a': 105, 'd/b': 'eco', 'd/c': false, 'd/d': 'AQID', 'd/e': 1005, 'd/f': 101, 'd/f.sum': 1002 }, tags: {} },
      { device: 'x', ts: NOW - 10_000, fields: { 'd/a': 107 }, tags: {} },
    ]);
  });

  test('a record of base fields only is allowed; records without a device fail as readings, not as a decode error', () => {
    const r = read([{ bn: 'dev9:', bt: 1.7e9 }, { n: 't', v: 1 }]).readings;
    assert.deepEqual(r, [{ device: 'dev9', ts: 1.7e12, fields: { t: 1 }, tags: {} }]);
    const noDevice = read([{ n: 't', v: 1 }]);
    assert.equal(noDevice.readings.length, 0);
    assert.equal(noDevice.rejected[0].error.code, 'INVALID_READING');
    assert.match(noDevice.rejected[0].error.message, /device is missing/);
  });

  test('a base name that names the device but gives no id, or none by the rule, says so: BAD_DEVICE_ID at its "bn"', () => {
    const deviceError = (fn: () => unknown): BadDeviceIdError => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof BadDeviceIdError, `expected BadDeviceIdError, got ${String(err)}`);
        return err;
      }
      throw new assert.AssertionError({ message: 'did not fail' });
    };
    // Without a device in the path, and with one (/ingest/dev1): a base name ending in ":" names the device either way.
    const alone = deviceError(() => read([{ bn: ':', n: 'temp', v: 21 }]));
    assert.equal(alone.code, 'BAD_DEVICE_ID');
    assert.equal(alone.message, 'SenML [0].bn: base name ":" gives no device id: a base name ending in ":" names the device before it (e.g. "urn:dev:ow:10e2073a:"); put the device id there, or leave "bn" out and name the device in the topic or URL');
    assert.equal(alone.details.path, '[0].bn');
    const withPath = deviceError(() => read([{ bn: ':', n: 'temp', v: 21 }], 'dev1'));
    assert.match(withPath.message, /^SenML \[0\]\.bn: base name ":" gives no device id: .*or leave "bn" out for the topic's or path's device$/);
    // The record that set the base name is named, not the one whose name failed; a CBOR pack alike.
    assert.match(deviceError(() => read([{ bn: '::' }, { n: 'temp', v: 21 }])).message, /^SenML \[0\]\.bn: base name "::" gives no device id/);
    const cbor = deviceError(() => decodeReadings(encodeCbor([{ [-2]: ':', 0: 't', 2: 1 }]), { format: 'senml-cbor', receivedAt: NOW, maxBytes: 1 << 20 }));
    assert.deepEqual([cbor.code, cbor.details.format], ['BAD_DEVICE_ID', 'senml-cbor']);
    // A device with a character the id rule has not.
    assert.equal(deviceError(() => read([{ bn: 'pump 7:', n: 'temp', v: 21 }], 'dev1')).message, 'SenML [0].bn: base name "pump 7:" names no valid device: "pump 7" is not a device id: use 1 to 128 letters, digits, ".", "_", "-", ":" or "@"');
    // A base name that is a prefix of the field names (the path names the device) keeps the name's own message.
    assert.match(senmlError(() => read([{ bn: 'a b', n: 't', v: 1 }], 'dev1')).message, /\[0\]\.n: resolved name "a bt" must start with a letter or digit/);
    assert.match(senmlError(() => read([{ bn: 'dev1:', n: 'bad name', v: 1 }])).message, /\[0\]\.n: resolved name "dev1:bad name"/);
  });

  test('errors name the record and the label', () => {
    assert.match(senmlError(() => read([{ n: 't', v: 'x' }], 'd')).message, /\[0\]\.v: "v" must be a finite number/);
    // A number too large for a double (JSON), or a CBOR NaN / infinity, is named as it is, not as JSON's null.
    const huge = senmlError(() => decodeReadings(Buffer.from('[{"n":"t","v":1e400}]'), { format: 'senml', device: 'd', receivedAt: NOW, maxBytes: 1 << 20 }));
    assert.equal(huge.message, 'SenML [0].v: "v" must be a finite number, got Infinity');
    const cbor = (v: unknown) => decodeReadings(encodeCbor(v), { format: 'senml-cbor', device: 'd', receivedAt: NOW, maxBytes: 1 << 20 });
    assert.match(senmlError(() => cbor([{ 0: 't', 2: NaN }])).message, /"v" must be a finite number, got NaN$/);
    assert.match(senmlError(() => cbor([{ 0: 't', 5: -Infinity }])).message, /"s" must be a finite number, got -Infinity$/);
    assert.match(senmlError(() => read([{ n: 't', v: 1, vs: 'a' }], 'd')).message, /\[0\]: a record carries one value, this one has "v" and "vs"/);
    assert.match(senmlError(() => read([{ n: 'ok', v: 1 }, { n: 'bad name!', v: 1 }], 'd')).message, /\[1\]\.n: resolved name "bad name!" must start with a letter or digit/);
    assert.match(senmlError(() => read([{ n: 't' }], 'd')).message, /\[0\]: has no value/);
    assert.match(senmlError(() => read([{ bver: 11, n: 't', v: 1 }], 'd')).message, /version 11 is newer than the supported version 10/);
    assert.match(senmlError(() => read([{ n: 't', v: 1, foo_: 1 }], 'd')).message, /label "foo_" must be understood/);
    assert.match(senmlError(() => read({ n: 't', v: 1 }, 'd')).message, /a pack must be an array of records/);
    assert.match(senmlError(() => read([{ n: 't', vb: 'yes' }], 'd')).message, /\[0\]\.vb: "vb" must be true or false/);
    assert.match(senmlError(() => read([{ bn: 'dev:', v: 1 }])).message, /\[0\]\.n: has no name of its own/);
    const syntax = senmlError(() => decodeSenmlJson(Buffer.from('[{"n":"t",')));
    assert.equal(syntax.details.format, 'senml');
    assert.match(syntax.message, /^SenML JSON payload ends early at byte 10/);
    assert.equal(syntax.code, 'DECODE_FAILED');
  });

  test('unknown labels without "_" are ignored, as the RFC asks', () => {
    assert.deepEqual(read([{ n: 't', v: 1, extra: 'x' }], 'd').readings[0].fields, { t: 1 });
  });
});

describe('SenML CBOR', () => {
  test('integer labels (RFC 8428 section 6) decode like the JSON labels', () => {
    const pack = [new Map<number, unknown>([[-2, 'urn:dev:ow:10e2073a0108006:'], [-3, 1.276020076e9], [-4, 'A'], [-1, 5], [0, 'voltage'], [1, 'V'], [2, 120.1]]), new Map<number, unknown>([[0, 'current'], [6, -5], [2, 1.2]]), new Map<number, unknown>([[0, 'open'], [4, true]]), new Map<number, unknown>([[0, 'raw'], [8, Buffer.from([1, 2, 3])]])];
    const bytes = encodeSenmlCbor(pack);
    // Integer keys, no tag: 0x84 (array of 4), 0xa7 (map of 7), 0x21 (-2).
    assert.equal(bytes.subarray(0, 3).toString('hex'), '84a721');
    assert.equal(sniff(bytes), 'senml-cbor');
    // A Map tagged 259 (as some encoders write maps with integer keys) reads the same.
    assert.deepEqual(decodeSenmlCbor(encodeCbor(pack)), decodeSenmlCbor(bytes));
    const records = decodeSenmlCbor(bytes);
    const readings = resolveSenml(records, { receivedAt: NOW }, 'senml-cbor');
    assert.deepEqual(readings, [
      { device: 'urn:dev:ow:10e2073a0108006', ts: 1276020076000, fields: { voltage: 120.1, open: true, raw: 'AQID' }, tags: { 'voltage.unit': 'V', 'open.unit': 'A', 'raw.unit': 'A' } },
      { device: 'urn:dev:ow:10e2073a0108006', ts: 1276020071000, fields: { current: 1.2 }, tags: { 'current.unit': 'A' } },
    ]);
  });

  test('the auto path decodes SenML CBOR without being told', () => {
    const bytes = encode('senml-cbor', [{ device: 'd1', ts: NOW, fields: { t: 1.5, on: true, mode: 'x' }, tags: { 't.unit': 'Cel' } }]);
    const { readings, format } = decodeReadings(bytes, { format: 'auto', receivedAt: NOW, maxBytes: 1 << 20 });
    assert.equal(format, 'senml-cbor');
    assert.deepEqual(readings, [{ device: 'd1', ts: NOW, fields: { t: 1.5, on: true, mode: 'x' }, tags: { 't.unit': 'Cel' } }]);
  });
});

describe('SenML formats', () => {
  test('content types and sniffing', () => {
    assert.equal(formatFromContentType('application/senml+json'), 'senml');
    assert.equal(formatFromContentType('application/senml+cbor; charset=x'), 'senml-cbor');
    assert.equal(formatFromContentType('application/vnd.foo+json'), 'json');
    assert.equal(sniff(json([{ n: 'temp', v: 1 }])), 'senml');
    assert.equal(sniff(json([{ bn: 'd:', bt: 1.7e9 }, { n: 'x', vs: 'a' }])), 'senml');
    // Plain readings that happen to use a SenML label are not SenML.
    assert.equal(sniff(json([{ device: 'd', t: 1, v: 2 }])), 'json');
    assert.equal(sniff(json([{ v: 1 }])), 'json');
  });

  test('encode then decode round-trips readings of several devices and times', () => {
    const readings = [
      { device: 'a', ts: NOW, fields: { t: 20.5, on: true }, tags: { 't.unit': 'Cel' } },
      { device: 'a', ts: NOW + 1000, fields: { t: 21 }, tags: {} },
      { device: 'b', ts: NOW, fields: { mode: 'eco' }, tags: {} },
    ];
    for (const format of ['senml', 'senml-cbor'] as const) {
      const out = decodeReadings(encode(format, readings), { format, receivedAt: NOW, maxBytes: 1 << 20 });
      assert.deepEqual(out.readings, [readings[0], { ...readings[1], tags: {} }, readings[2]], format);
    }
  });
});
