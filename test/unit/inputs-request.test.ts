import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noReadingValid, processRequest, requestOutcome, tooManyRequestReadings, type InputRequest } from '../../nodes/lib/inputs/request';
import { parseInfluxLines, describeLineFailures, influxPrecision, deviceOfLine, countLinesOver } from '../../nodes/lib/inputs/influx';
import { TooManyLinesError } from '../../nodes/lib/inputs/errors';
import { answerOutcome } from '../../nodes/lib/inputs/answers';
import { fetchBody, insertReadings } from '../../nodes/lib/inputs/cromflag';
import { checkAccess, presentedLogin } from '../../nodes/lib/inputs/auth';
import { loadSchema } from '../../nodes/lib/schema/validator';
import { packageRoot } from '../../nodes/lib/paths';
import { encode } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { coapContentType, coapOutcomeAnswer } from '../../nodes/lib/inputs/coap';

const NOW = 1767225600000;
const validate = loadSchema({}).validate;
const opts = { validate, maxBytes: 1 << 20 };
const req = (r: Omit<Partial<InputRequest>, 'payload'> & { payload: Buffer | string }): InputRequest => ({ route: 'ingest', receivedAt: NOW, ...r, payload: Buffer.isBuffer(r.payload) ? r.payload : Buffer.from(r.payload, 'utf8') });
const sample = readFileSync(join(packageRoot(), 'test', 'fixtures', 'users', 'http-insert-sample.json'));

describe('HTTP/CoAP request outcome', () => {
  test('a reading of too many fields is answered with what the client can do: split it (HTTP has no fields limit to raise)', () => {
    const fields = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`f${i}`, i]));
    const out = processRequest(req({ device: 'd1', contentType: 'application/json', payload: JSON.stringify({ ts: NOW, ...fields }) }), opts);
    const answer = answerOutcome('ingest', out);
    const error = (JSON.parse(String(answer.body)) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'TOO_MANY_FIELDS');
    assert.match(error.message, /a reading may have at most 1,000 fields: split the data into several readings$/);
  });

  test('a bug met while reading a request fails that request alone, as DECODE_FAILED (400 and CoAP 4.00, not an unsupported encoding)', () => {
    const buggy = { ...opts, validate: () => { throw new TypeError("Cannot read properties of undefined (reading 'x')"); } };
    for (const route of ['ingest', 'coap'] as const) {
      const out = requestOutcome(req({ route, device: 'd1', contentType: 'application/json', payload: '{"ts":1767225600000,"t":1}' }), buggy);
      assert.equal(out.readings.length, 0);
      assert.equal(out.refusal, 'malformed');
      assert.equal(out.failures[0].error.code, 'DECODE_FAILED');
      assert.match(out.failures[0].error.message, /^\(internal\) Cannot read properties of undefined/);
      assert.equal(out.failures[0].device, 'd1');
    }
    const answer = answerOutcome('ingest', requestOutcome(req({ device: 'd1', contentType: 'application/json', payload: '{"ts":1767225600000,"t":1}' }), buggy));
    assert.equal(answer.status, 400);
    assert.throws(() => processRequest(req({ device: 'd1', contentType: 'application/json', payload: '{"ts":1767225600000,"t":1}' }), buggy), TypeError);
  });

  test('a request of too many readings is told to split the request: its limit is fixed, no setting raises it', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => ({ ts: NOW + i, t: i }));
    for (const contentType of ['application/json', 'application/cbor']) {
      const payload = contentType === 'application/json' ? JSON.stringify(many) : encode('cbor', many);
      const tooMany = tooManyRequestReadings(processRequest(req({ device: 'd1', contentType, payload }), opts));
      assert.ok(tooMany, contentType);
      assert.equal(tooMany.code, 'TOO_MANY_READINGS');
      assert.match(tooMany.message, /^the request holds more than 10,000 readings; the limit is 10,000 per request: split the request into smaller ones$/, contentType);
    }
  });

  test('every content type of /ingest decodes to the same reading', () => {
    const reading = { device: 'd1', ts: NOW, fields: { t: 21.5, on: true }, tags: {} };
    const bodies: Array<[string, Buffer]> = [
      ['application/json', encode('json', reading)],
      ['application/cbor', encode('cbor', reading)],
      ['application/msgpack', encode('msgpack', reading)],
      ['application/x-msgpack', encode('msgpack', reading)],
      ['application/x-protobuf', encode('protobuf', reading)],
      ['application/xml', encode('xml', reading)],
      ['text/xml; charset=utf-8', encode('xml', reading)],
      ['application/senml+json', encode('senml', reading)],
      ['application/senml+cbor', encode('senml-cbor', reading)],
      ['text/plain', Buffer.from('m,device=d1 t=21.5,on=true 1767225600000000000')],
    ];
    for (const [contentType, payload] of bodies) {
      const out = processRequest(req({ device: 'd1', contentType, payload }), { ...opts, protoType: 'upperstack.Reading' });
      assert.equal(out.refusal, undefined, contentType);
      assert.deepEqual(out.failures, [], contentType);
      assert.equal(out.readings.length, 1, contentType);
      assert.deepEqual(out.readings[0].fields, reading.fields, contentType);
      assert.equal(out.readings[0].ts, NOW, contentType);
    }
  });

  test('a negative epoch time is before 1970 in every format, its unit told by its size as after 1970', () => {
    const before = { device: 'd1', ts: -1e12, fields: { t: 1 }, tags: {} };
    const bodies: Array<[string, Buffer | string]> = [
      ['application/json', '{"t":1,"ts":-1000000000000}'],
      ['application/json', '{"t":1,"ts":"-1000000000000"}'],
      ['application/json', '{"t":1,"timestamp":-1000000000}'],
      ['application/json', '[{"ts":-1000000000000,"fields":{"t":1}}]'],
      ['application/cbor', encode('cbor', before)],
      ['application/msgpack', encode('msgpack', before)],
      ['application/x-protobuf', encode('protobuf', before)],
      ['application/xml', encode('xml', before)],
      ['application/xml', '<reading ts="-1000000000000"><t>1</t></reading>'],
    ];
    for (const [contentType, payload] of bodies) {
      const out = processRequest(req({ device: 'd1', contentType, payload }), { ...opts, protoType: 'upperstack.Reading' });
      assert.deepEqual(out.failures, [], contentType);
      assert.deepEqual(out.readings.map((r) => [new Date(r.ts).toISOString(), r.fields.t]), [['1938-04-24T22:13:20.000Z', 1]], `${contentType} ${String(payload)}`);
    }
    const protobufSecond = processRequest(req({ device: 'd1', contentType: 'application/x-protobuf', payload: encode('protobuf', { ...before, ts: -1 }) }), { ...opts, protoType: 'upperstack.Reading' });
    assert.deepEqual(protobufSecond.readings.map((r) => r.ts), [-1000]);
  });

  test('refusals: empty, malformed, unsupported type, another device', () => {
    assert.equal(processRequest(req({ device: 'd', contentType: 'application/json', payload: '' }), opts).refusal, 'malformed');
    const bad = processRequest(req({ device: 'd', contentType: 'application/json', payload: '{"t": 1,' }), opts);
    assert.equal(bad.refusal, 'malformed');
    assert.equal(bad.failures[0].error.details.offset, 8);
    const type = processRequest(req({ device: 'd', contentType: 'image/png', payload: 'x' }), opts);
    assert.equal(type.refusal, 'unsupported');
    assert.match(type.failures[0].error.message, /Content-Type image\/png is not supported; use one of application\/json/);
    assert.equal(processRequest(req({ device: 'd', payload: '{}' }), opts).refusal, 'unsupported');
    const other = processRequest(req({ device: 'd1', contentType: 'application/json', payload: '[{"t":1},{"device":"d2","t":2}]' }), opts);
    assert.equal(other.refusal, 'forbidden');
    assert.equal(other.failures[0].error.code, 'DEVICE_MISMATCH');
    assert.match(other.failures[0].error.message, /names device "d2" but the path names "d1"/);
  });

  test('a text body labelled with a charset other than UTF-8 is refused naming it; binary formats ignore the parameter; CoAP speaks of Content-Format', () => {
    for (const [contentType, route] of [['application/json; charset=ISO-8859-1', 'ingest'], ['application/json;charset="latin1"', 'insert'], ['text/plain; charset=utf-16', 'ingest'], ['application/senml+json; charset=windows-1252', 'ingest']] as const) {
      const out = processRequest(req({ route, device: 'd', contentType, payload: '{"t":1}' }), opts);
      assert.equal(out.refusal, 'unsupported', contentType);
      assert.match(out.failures[0].error.message, /^Content-Type charset \S+ is not supported: send the body as UTF-8/, contentType);
    }
    for (const contentType of ['application/json; charset=utf-8', 'application/json; charset=UTF8', 'application/json; charset=us-ascii']) {
      assert.equal(processRequest(req({ device: 'd', contentType, payload: '{"t":1}' }), opts).readings.length, 1, contentType);
    }
    const cbor = encode('cbor', { device: 'd', ts: NOW, fields: { t: 1 }, tags: {} });
    assert.equal(processRequest(req({ device: 'd', contentType: 'application/cbor; charset=latin1', payload: cbor }), opts).readings.length, 1);
    const coap = processRequest(req({ route: 'coap', device: 'd', contentType: 'application/exi', payload: 'x' }), opts);
    assert.equal(coap.refusal, 'unsupported');
    assert.match(coap.failures[0].error.message, /^Content-Format application\/exi is not supported; use 50 \(JSON\), 60 \(CBOR\)/);
    assert.match(processRequest(req({ route: 'coap', device: 'd', payload: 'x' }), opts).failures[0].error.message, /^a Content-Format is required/);
  });

  test('a partly invalid batch keeps the valid readings and reports each invalid one', () => {
    const out = processRequest(req({ device: 'd', contentType: 'application/json', payload: '[{"t":1},{"t":null},{"ts":"yesterday","t":3},{"t":4}]' }), opts);
    assert.equal(out.refusal, undefined);
    assert.deepEqual(out.readings.map((r) => r.fields.t), [1, 4]);
    assert.deepEqual(out.failures.map((f) => [f.index, f.error.code]), [[1, 'INVALID_READING'], [2, 'INVALID_READING']]);
    assert.equal(out.schemaRefused, 0, 'items that do not normalise failed to decode, for /metrics');
  });

  test('schema violations are failures with their JSON pointer', () => {
    const strict = loadSchema({ inline: { type: 'object', properties: { fields: { type: 'object', properties: { t: { type: 'number', maximum: 100 } } } } } }).validate;
    const out = processRequest(req({ device: 'd', contentType: 'application/json', payload: '[{"t":1},{"t":500}]' }), { ...opts, validate: strict });
    assert.deepEqual(out.readings.map((r) => r.fields.t), [1]);
    assert.equal(out.failures[0].error.code, 'SCHEMA_VIOLATION');
    assert.equal(out.failures[0].error.details.path, '/fields/t');
    assert.equal(out.failures[0].index, 1);
    assert.equal(out.schemaRefused, 1, 'a reading the schema refuses counts as validate in /metrics');
  });

  test('a request read whose readings the schema all refuses is 422 over HTTP and 4.22 over CoAP; one that cannot be read is 400 and 4.00', () => {
    const strict = loadSchema({ inline: { type: 'object', properties: { fields: { type: 'object', properties: { t: { type: 'number', maximum: 100 } } } } } }).validate;
    const refused = processRequest(req({ route: 'coap', device: 'd', contentType: 'application/json', payload: '{"t":500}' }), { ...opts, validate: strict });
    assert.equal(noReadingValid(refused), true);
    const coap = coapOutcomeAnswer(refused);
    assert.equal(coap.code, '4.22');
    assert.match(coap.payload!.toString(), /^SCHEMA_VIOLATION: /);
    assert.equal(answerOutcome('ingest', refused).status, 422);
    const twice = coapOutcomeAnswer(processRequest(req({ route: 'coap', device: 'd', contentType: 'application/json', payload: '[{"t":500},{"ts":9999999999999999,"t":1}]' }), { ...opts, validate: strict }));
    assert.equal(twice.code, '4.22');
    assert.match(twice.payload!.toString(), /^TS_OUT_OF_RANGE: 2 rejected; /);
    const unreadable = processRequest(req({ route: 'coap', device: 'd', contentType: 'application/json', payload: '{"t":' }), { ...opts, validate: strict });
    assert.equal(noReadingValid(unreadable), false);
    const bad = coapOutcomeAnswer(unreadable);
    assert.equal(bad.code, '4.00');
    assert.match(bad.payload!.toString(), /^DECODE_FAILED: /);
    assert.equal(answerOutcome('ingest', unreadable).status, 400);
  });

  test('the CroMFlaG2 sample: six readings at their timestamps and the deviceinfo reading', () => {
    const out = processRequest(req({ route: 'insert', device: 'sample', contentType: 'application/json', payload: sample }), opts);
    assert.equal(out.refusal, undefined);
    assert.deepEqual(out.failures, []);
    assert.equal(out.readings.length, 7);
    assert.deepEqual(out.readings[0], {
      device: 'sample',
      ts: 1582046738255,
      fields: { day: 18, dayofweek: 2, hour: 17, humidity: 75, illuminance: 74, month: 2, motion: false, temperature: 78 },
      tags: {},
    });
    assert.deepEqual(out.readings[6], { device: 'sample', ts: NOW, fields: { 'deviceinfo.fw_ver': '12345.009', 'deviceinfo.batt_lvl': 78 }, tags: {} });
    const wrong = processRequest(req({ route: 'insert', device: 'other', contentType: 'application/json', payload: sample }), opts);
    assert.equal(wrong.refusal, 'forbidden');
    assert.match(wrong.failures[0].error.message, /deviceinfo.deviceid "sample" is not the device of the path, "other"/);
    assert.equal(processRequest(req({ route: 'insert', device: 'x', contentType: 'application/json', payload: '{"tsdata":[]}' }), opts).refusal, 'malformed');
    assert.throws(() => insertReadings({ deviceinfo: { deviceid: 'x' }, tsdata: {} }, 'x', NOW), /"tsdata" must be an array/);
  });

  test('/fetch answers in the insert shape, metadata fields left out of tsdata', () => {
    const body = JSON.parse(fetchBody([{ ts: 5, fields: { t: 1, motion: false } }, { ts: 6, fields: { 'deviceinfo.batt_lvl': 7 } }], { device: 'd', deviceinfo: { deviceid: 'd', batt_lvl: 7 } })) as unknown;
    assert.deepEqual(body, { deviceinfo: { deviceid: 'd', batt_lvl: 7 }, tsdata: [{ t: 1, motion: false, timestamp: 5 }] });
  });
});

describe('InfluxDB write semantics', () => {
  test('precisions of both API versions', () => {
    assert.deepEqual(influxPrecision(undefined), { parse: 'ns', factor: 1 });
    assert.deepEqual(influxPrecision('n'), { parse: 'ns', factor: 1 });
    assert.deepEqual(influxPrecision('u'), { parse: 'us', factor: 1 });
    assert.deepEqual(influxPrecision('h'), { parse: 's', factor: 3600 });
    assert.throws(() => influxPrecision('x'), /invalid precision "x"/);
    assert.deepEqual(influxPrecision('us', 'v2'), { parse: 'us', factor: 1 });
    assert.throws(() => influxPrecision('h', 'v2'), /invalid precision "h" \(use ns, us, ms or s\)/);
    const [r] = parseInfluxLines(Buffer.from('m v=1 28000000'), 'm').readings;
    assert.equal(r.ts, 28000000 * 60_000);
  });

  test('bad lines are reported with their numbers; the others are kept', () => {
    const { readings, failures } = parseInfluxLines(Buffer.from('m v=1 1\nm v=oops\n\nm v=3 3\nm,t= v=1\n'), 's');
    assert.deepEqual(readings.map((r) => r.fields.v), [1, 3]);
    assert.deepEqual(failures.map((f) => f.line), [2, 5]);
    assert.match(failures[0].error.message, /^line protocol line 2, column 5: field "v" has value "oops"/);
    assert.match(describeLineFailures(failures, 2), /^partial write: unable to parse 'm v=oops': line 2, column 5: .* \(and 1 more bad line\) dropped=2$/);
    assert.match(describeLineFailures(failures.slice(0, 1), 0), /^unable to parse 'm v=oops'/);
  });

  test('a line over a reading limit is a bad line of its own, line breaks in its strings included; the next lines keep their numbers', () => {
    const fields = Array.from({ length: 1001 }, (_, i) => `f${i}=1`).join(',');
    const long = `"${'x'.repeat(40_000)}\n${'y'.repeat(30_000)}\n"`;
    const body = `m v=1 1\nm ${fields},s="a\nb" 2\nm v=3 3\nm s=${long},t="c\nd" 4\nm v=5 5\nm s="e\nf",v=oops 6\nm v=7 7\n`;
    const { readings, failures } = parseInfluxLines(Buffer.from(body), 's');
    assert.deepEqual(readings.map((r) => r.fields.v), [1, 3, 5, 7]);
    assert.deepEqual(failures.map((f) => [f.line, f.error.code]), [[2, 'TOO_MANY_FIELDS'], [5, 'STRING_TOO_LONG'], [10, 'DECODE_FAILED']]);
    assert.match(describeLineFailures(failures, 4), /^partial write: unable to parse 'm f0=1,.*': line 2 has more than 1,000 fields.* \(and 2 more bad lines\) dropped=3$/);
  });

  test('a line of more than 1,000 tags is a bad line quoting itself and naming its line, not an unnamed reading; its string field\'s line breaks stay its own', () => {
    const tags = Array.from({ length: 1001 }, (_, i) => `,t${i}=v`).join('');
    const body = `m,device=ok v=1 1\nm,device=wide${tags} v=2,s="a\nb" 2\nm,device=ok v=3 3\n`;
    const { readings, failures } = parseInfluxLines(Buffer.from(body), 's');
    assert.deepEqual(readings.map((r) => r.fields.v), [1, 3]);
    assert.deepEqual(failures.map((f) => [f.line, f.error.code, f.device]), [[2, 'TOO_MANY_FIELDS', 'wide']]);
    assert.match(describeLineFailures(failures, 2), /^partial write: unable to parse 'm,device=wide,t0=v,.*\.\.\.': line 2 has more than 1,000 tags; a reading may have at most 1,000 tags: split the data into several readings dropped=1$/);
  });

  test('a configured device tag names the device; a device tag then stays a tag', () => {
    const [r] = parseInfluxLines(Buffer.from('cpu,host=h1,device=x,cpu=cpu0 usage=1'), undefined, 'host').readings;
    assert.equal(r.device, 'h1');
    assert.deepEqual(r.tags, { device: 'x', cpu: 'cpu0', measurement: 'cpu' });
  });

  test('the Influx routes refuse a body with no good line and keep the good ones of a partial one', () => {
    const all = processRequest(req({ route: 'influx-v1', payload: 'm v=\n' }), opts);
    assert.equal(all.refusal, 'malformed');
    const part = processRequest(req({ route: 'influx-v2', payload: 'm,device=a v=1\nbad\n', meta: { precision: 's' } }), opts);
    assert.equal(part.refusal, undefined);
    assert.deepEqual(part.readings.map((r) => [r.device, r.ts]), [['a', NOW]]);
    assert.equal(part.failures[0].line, 2);
  });
});

describe('InfluxDB times and partial writes', () => {
  test('a time past what 64-bit nanoseconds carry is a bad line, in every precision', () => {
    // The influx CLI sent nanoseconds with -precision=s: that would be the year 57886.
    const { readings, failures } = parseInfluxLines(Buffer.from('m v=1 1764553000000000000\nm v=2 1764553000\nm v=3 9223372036\nm v=4 9223372037\n'), 's');
    assert.deepEqual(readings.map((r) => [r.fields.v, r.ts]), [[2, 1764553000000], [3, 9223372036000]]);
    assert.deepEqual(failures.map((f) => f.line), [1, 4]);
    assert.match(failures[0].error.message, /^line protocol line 1, column 7: timestamp "1764553000000000000" in s is outside the time line protocol can carry \(1677-09-21 to 2262-04-11 UTC\)$/);
    assert.deepEqual(parseInfluxLines(Buffer.from('m v=1 9223372036855\nm v=2 -9223372036855'), 'ms').failures.map((f) => f.line), [1, 2]);
    assert.equal(parseInfluxLines(Buffer.from('m v=1 9223372036854775807'), 'ns').failures.length, 0);
    // Minutes and hours scale seconds: the scaled time is checked too, with its line.
    const hours = parseInfluxLines(Buffer.from('m v=1 1\n\nm v=2 2562048\nm v=3 2562047'), 'h');
    assert.deepEqual(hours.readings.map((r) => r.fields.v), [1, 3]);
    assert.deepEqual(hours.lines, [1, 4]);
    assert.deepEqual(hours.failures.map((f) => [f.line, f.text]), [[3, 'm v=2 2562048']]);
    assert.match(hours.failures[0].error.message, /the timestamp in h is outside the time line protocol can carry/);
  });

  test('a partial write names the first bad line and counts every line dropped, the schema\'s too', () => {
    const body = 'm,device=a ok=1\nm,device=a bad\\ name=2\nm,device=a v=\nm,device=a ok=3 5\nm,device=a ünits=4\n';
    const out = processRequest(req({ route: 'influx-v1', payload: body }), opts);
    assert.deepEqual(out.readings.map((r) => r.fields), [{ ok: 1 }, { ok: 3 }]);
    assert.deepEqual(out.failures.map((f) => f.line), [2, 3, 5]);
    const v1 = answerOutcome('influx-v1', out);
    assert.equal(v1.status, 400);
    const { error, line } = JSON.parse(v1.body) as { error: string; line: number };
    assert.equal(line, 2);
    assert.match(error, /^partial write: line 2: \/fields\/bad name: .* \(and 2 more bad lines\) dropped=3$/);
    // A parse failure first is quoted as InfluxDB quotes it; the count is still every line dropped.
    const v2 = JSON.parse(answerOutcome('influx-v2', processRequest(req({ route: 'influx-v2', payload: 'm,device=a v=\nm,device=a ünits=4\nm,device=a ok=1\n' }), opts)).body) as { message: string };
    assert.match(v2.message, /^partial write: unable to parse 'm,device=a v=': line 1, .* \(and 1 more bad line\) dropped=2$/);
  });
});

describe('InfluxDB lines refused and counted', () => {
  test('times before 1970 pass the reading schema and keep their instant, in every precision', () => {
    const out = processRequest(req({ route: 'influx-v1', payload: 'm,device=a v=1 -9223372036\nm,device=a v=2 -1\nm,device=a v=3 86400\n', meta: { precision: 's' } }), opts);
    assert.deepEqual(out.failures, []);
    assert.deepEqual(out.readings.map((r) => r.ts), [-9223372036000, -1000, 86_400_000]);
    const n = processRequest(req({ route: 'influx-v2', payload: 'm,device=a v=1 -1500000\nm,device=a v=2 1000000\n' }), opts);
    assert.deepEqual(n.readings.map((r) => r.ts), [-2, 1]);
    // The same lines on /ingest (and the decode node) keep their times as well.
    const ingest = processRequest(req({ device: 'a', contentType: 'text/plain', payload: 'm,device=a v=1 -86400000000000\nm,device=a v=2 86400000000000' }), opts);
    assert.deepEqual(ingest.readings.map((r) => r.ts), [-86_400_000, 86_400_000]);
  });

  test('a refused line names the device its series key names; none when it cannot be read', () => {
    assert.equal(deviceOfLine('m,device=d1,room=a v=oops'), 'd1');
    assert.equal(deviceOfLine('m,room=a v='), 'm');
    assert.equal(deviceOfLine('  cpu,host=h\\ 1 usage=x', 'host'), 'h 1');
    assert.equal(deviceOfLine('cpu,device=x usage=x', 'host'), 'x');
    assert.equal(deviceOfLine('m,device=a,device=a v='), 'a');
    assert.equal(deviceOfLine('m,device=a,device=b v=1'), undefined);
    assert.equal(deviceOfLine('garbage'), undefined);
    assert.equal(deviceOfLine('m,device= v=1'), undefined);
    const out = processRequest(req({ route: 'influx-v1', payload: 'm,device=d1 v=oops\nbad\n' }), opts);
    assert.deepEqual(out.failures.map((f) => [f.line, f.device]), [[1, 'd1'], [2, undefined]]);
  });

  test('lines are counted from the bytes; comments, blank lines and string values\' line breaks do not make a body too large', () => {
    const lines = (n: number) => 'm v=1\n'.repeat(n);
    assert.equal(countLinesOver(Buffer.from(lines(10)), 10), undefined);
    assert.equal(countLinesOver(Buffer.from(lines(10).slice(0, -1)), 10), undefined);
    assert.equal(countLinesOver(Buffer.from(`# c\n\n  \r\n${lines(10)}`), 10), undefined);
    const over = countLinesOver(Buffer.from(lines(11)), 10);
    assert.ok(over instanceof TooManyLinesError);
    assert.equal(over.message, 'the body holds 11 lines of line protocol; the limit is 10 lines per request: send smaller batches');
    assert.deepEqual([over.code, over.details], ['TOO_MANY_READINGS', { limit: 10, count: 11 }]);
    // Quotes may hide line breaks inside strings: the parser has the last word.
    assert.equal(countLinesOver(Buffer.from(`m s="a\nb"\n${lines(9)}`), 10), undefined);
  });
});

describe('device access', () => {
  test('Basic auth, InfluxDB u/p, and the v2 token form', () => {
    assert.deepEqual(presentedLogin(`Basic ${Buffer.from('dev:s:e:c').toString('base64')}`), { username: 'dev', password: 's:e:c' });
    assert.deepEqual(presentedLogin(undefined, { u: 'dev', p: 'pw' }), { username: 'dev', password: 'pw' });
    assert.deepEqual(presentedLogin('Token dev:pw'), { username: 'dev', password: 'pw' });
    assert.equal(presentedLogin(undefined), undefined);
  });

  test('a configured login is always required; without one only loopback is open', () => {
    const login = { username: 'dev', password: 'pw' };
    assert.deepEqual(checkAccess(login, login, '0.0.0.0'), { ok: true });
    assert.equal(checkAccess(undefined, login, '127.0.0.1').ok, false);
    assert.equal(checkAccess({ username: 'dev', password: 'x' }, login, '127.0.0.1').ok, false);
    assert.deepEqual(checkAccess(undefined, undefined, '127.0.0.1'), { ok: true });
    const open = checkAccess(undefined, undefined, '0.0.0.0');
    assert.equal(open.ok, false);
    assert.equal(checkAccess(undefined, undefined, undefined).ok, false);
  });
});

test('the format follows each request\'s Content-Type, whatever the request before it sent', () => {
  const reading = { device: 'd1', ts: NOW, fields: { t: 1 }, tags: {} };
  const cbor = encode('cbor', reading);
  const json = encode('json', reading);
  const coapOpts = { ...opts, octetFormat: 'cbor' as const };
  const accepted = (r: InputRequest, o = opts) => processRequest(r, o).readings.length;
  assert.equal(accepted(req({ contentType: 'application/json', payload: json, device: 'd1' })), 1);
  assert.equal(accepted(req({ contentType: 'application/json', payload: json, device: 'd1' })), 1);
  // octet-stream is the node's codec on CoAP, and no format on /ingest, each time.
  assert.equal(accepted(req({ route: 'coap', contentType: 'application/octet-stream', payload: cbor, device: 'd1' }), coapOpts), 1);
  assert.equal(processRequest(req({ contentType: 'application/octet-stream', payload: cbor, device: 'd1' }), opts).refusal, 'unsupported');
  assert.equal(accepted(req({ route: 'coap', contentType: 'application/octet-stream', payload: cbor, device: 'd1' }), coapOpts), 1);
  assert.equal(accepted(req({ contentType: 'application/cbor', payload: cbor, device: 'd1' })), 1);
  assert.equal(processRequest(req({ contentType: 'application/cbor', payload: json, device: 'd1' }), opts).refusal, 'malformed');
  assert.equal(processRequest(req({ contentType: 'image/png', payload: json, device: 'd1' }), opts).refusal, 'unsupported');
  assert.equal(processRequest(req({ payload: json, device: 'd1' }), opts).refusal, 'unsupported');
  assert.equal(accepted(req({ contentType: 'application/json; charset=utf-8', payload: json, device: 'd1' })), 1);
});

test('a JSON value that is not a reading (42, "x", true, null) is INVALID_READING on MQTT, HTTP and CoAP alike, saying what is expected', () => {
  for (const body of ['42', ' -1.5e3\n', '"x"', 'true', 'null']) {
    // MQTT: the decode node's default format is auto (sniffed from the bytes).
    const mqtt = decodeReadings(Buffer.from(body), { format: 'auto', device: 'd1', receivedAt: NOW });
    assert.equal(mqtt.format, 'json', body);
    const http = processRequest(req({ route: 'ingest', device: 'd1', contentType: 'application/json', payload: body }), opts);
    const coap = processRequest(req({ route: 'coap', device: 'd1', contentType: coapContentType(50), payload: body }), opts);
    for (const [error, via] of [[mqtt.rejected[0]?.error, 'mqtt'], [http.failures[0]?.error, 'http'], [coap.failures[0]?.error, 'coap']] as const) {
      assert.equal(error?.code, 'INVALID_READING', `${via} ${body}`);
      assert.match(error?.message ?? '', /^the payload must be a reading object or an array of readings, got (number|string|boolean|null)$/, `${via} ${body}`);
    }
    assert.equal(http.refusal, undefined);
    assert.equal(answerOutcome('ingest', http).status, 422);
  }
  // Bytes that are no JSON at all stay an unknown format.
  assert.throws(() => decodeReadings(Buffer.from('4 2'), { format: 'auto', device: 'd1', receivedAt: NOW }), { code: 'UNSUPPORTED_FORMAT' });
});

test('a SenML pack sent as application/json (HTTP) or Content-Format 50 (CoAP) is SenML, as MQTT tells it; other JSON arrays are readings as before', () => {
  const pack = '[{"bn":"d1:","bt":1767225600,"n":"t","u":"Cel","v":21.5},{"n":"on","vb":true},{"n":"t","t":60,"v":22}]';
  for (const r of [req({ device: 'd1', contentType: 'application/json', payload: pack }), req({ route: 'coap', device: 'd1', contentType: coapContentType(50), payload: pack })]) {
    const out = processRequest(r, opts);
    assert.equal(out.refusal, undefined, r.route);
    assert.deepEqual(
      out.readings.map((x) => [x.device, x.ts, x.fields, x.tags]),
      [
        ['d1', NOW, { t: 21.5, on: true }, { 't.unit': 'Cel' }],
        ['d1', NOW + 60_000, { t: 22 }, {}],
      ],
      r.route,
    );
  }
  // An array of readings, even with fields named like SenML labels among others, stays what it was.
  const plain = processRequest(req({ device: 'd1', contentType: 'application/json', payload: `[{"ts":${NOW},"n":"a","v":1},{"ts":${NOW + 1},"t":2}]` }), opts);
  assert.deepEqual(
    plain.readings.map((x) => [x.device, x.ts, x.fields]),
    [
      ['d1', NOW, { n: 'a', v: 1 }],
      ['d1', NOW + 1, { t: 2 }],
    ],
  );
});

test('a refused item of a batch is kept in the binary format the body was decoded from', () => {
  for (const [contentType, format] of [['application/msgpack', 'msgpack'], ['application/cbor', 'cbor']] as const) {
    const out = processRequest(req({ device: 'd1', contentType, payload: encode(format, [{ ts: NOW, t: 1 }, { ts: NOW }]) }), opts);
    assert.equal(out.readings.length, 1, contentType);
    assert.deepEqual(out.failures[0].as, { contentType, format }, contentType);
  }
});
