/**
 * Readings to line protocol for the InfluxDB and VictoriaMetrics sinks. The
 * expected texts are what Debian's influxd 1.6.7 and victoria-metrics 1.79
 * read back as the original (the escaping tests of
 * test/integration/influx-sink.test.ts check the same corpus against the
 * running servers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeReadings, DEFAULT_MAPPING, fieldText, type Dialect, type EncodeOptions } from '../../nodes/lib/influx/line';
import { FieldTypeRegistry, fieldTypesFromSchema, parseFieldTypes } from '../../nodes/lib/influx/field-types';
import { parseRetention, retentionText } from '../../nodes/lib/store/retention';
import { ConfigError } from '../../nodes/lib/errors';
import { normalizeSinks } from '../../nodes/lib/store/sinks';
import { parseTagMap } from '../../nodes/lib/influx/tag-map';
import { influxSink } from '../../nodes/lib/store/sinks-influx';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const opts = (dialect: Dialect, extra: Partial<EncodeOptions> = {}): EncodeOptions => ({ dialect, precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), ...extra });
const r = (device: string, fields: Reading['fields'], tags: Reading['tags'] = {}, ts = 1000): Reading => ({ device, ts, fields, tags });

test('default mapping: measurement telemetry, the device as a tag, the reading tags sorted, the ts in ms', () => {
  const e = encodeReadings([r('d1', { t: 20.5, on: true, s: 'x' }, { site: 'a', floor: '2' })], opts('v1'));
  assert.equal(e.body, 'telemetry,device=d1,floor=2,site=a t=20.5,on=true,s="x" 1000');
  assert.equal(e.lines, 1);
});

test('tag mapping: * keeps every tag, names rename, -name leaves one out, a list without * writes only what it names', () => {
  const reading = r('d1', { v: 1 }, { site: 'north', customer: 'acme', secret: 'x', floor: '2' });
  const enc = (text: string) => encodeReadings([reading], opts('v1', { mapping: { ...DEFAULT_MAPPING, tags: parseTagMap(text, 'test', ['device']) } })).body;
  assert.equal(enc('*'), 'telemetry,customer=acme,device=d1,floor=2,secret=x,site=north v=1 1000');
  assert.equal(enc(''), enc('*'), 'empty means every tag');
  assert.equal(enc('*, -secret, customer=client'), 'telemetry,client=acme,device=d1,floor=2,site=north v=1 1000');
  assert.equal(enc('site, customer=client'), 'telemetry,client=acme,device=d1,site=north v=1 1000');
  assert.equal(enc('nothing'), 'telemetry,device=d1 v=1 1000', 'no tag listed is present: the device tag alone');
  // A tag named explicitly wins over one * brings along under the same written name, whatever the order of the reading's tags.
  const both = r('d1', { v: 1 }, { client: 'from-device', customer: 'acme' });
  const both2 = r('d1', { v: 1 }, { customer: 'acme', client: 'from-device' });
  const map = { ...DEFAULT_MAPPING, tags: parseTagMap('*, customer=client', 'test', ['device']) };
  assert.equal(encodeReadings([both], opts('v1', { mapping: map })).body, 'telemetry,client=acme,device=d1 v=1 1000');
  assert.equal(encodeReadings([both2], opts('v1', { mapping: map })).body, 'telemetry,client=acme,device=d1 v=1 1000');
  // The device id cannot be overwritten by a tag, mapped or not.
  assert.equal(encodeReadings([r('d1', { v: 1 }, { device: 'other' })], opts('v1', { mapping: map })).body, 'telemetry,device=d1 v=1 1000');
});

test('tag mapping settings: refused with a reason naming the entry', () => {
  const fails = (text: string, pattern: RegExp) => assert.throws(() => parseTagMap(text, 'sink influx', ['device']), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
  fails('site=', /"site=" needs a tag name on both sides/);
  fails('-', /"-" names no tag/);
  fails('a=x, b=x', /"b=x" writes "x", as "a" does already/);
  fails('a, a=b', /lists a tag twice/);
  fails('-a, a', /also left out/);
  fails('owner=device', /the device id is written under/);
  fails('a=b\\', /backslash/);
  const main = { id: 'main', kind: 'duckdb', path: '' };
  assert.throws(() => normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', tags: 'a=x,b=x' }], '/data'), /sink influx: "b=x" writes "x"/);
  assert.throws(() => normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', deviceTag: 'dev', tags: 'owner=dev' }], '/data'), /device id/);
  const [, influx] = normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086' }], '/data');
  assert.equal(influx.tags, '*', 'default: every tag');
});

test('server sink writes: start at 1,000 waiting lines or the longest wait, take up to the lines per write', () => {
  const main = { id: 'main', kind: 'duckdb', path: '' };
  const [, dflt] = normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086' }], '/data');
  assert.deepEqual(influxSink.writerOptions!(dflt), { batchSize: 1000, minWrite: 1000, maxWrite: 5000, flushMs: 1000, quietMs: 100 });
  const [, small] = normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', batchSize: 300, flushMs: 50 }], '/data');
  assert.deepEqual(influxSink.writerOptions!(small), { batchSize: 300, minWrite: 300, maxWrite: 300, flushMs: 50, quietMs: 5 });
});

test('a measurement tag (line protocol inputs keep the original measurement there) names the measurement', () => {
  const e = encodeReadings([r('d1', { v: 1 }, { measurement: 'cpu', host: 'h' })], opts('v2'));
  assert.equal(e.body, 'cpu,device=d1,host=h v=1 1000');
});

test('v1 escaping: specials prefixed, backslashes literal (1.6.7 stores \\\\ as two backslashes)', () => {
  const cases: Array<[string, string]> = [
    ['a b,c=d', 'a\\ b\\,c\\=d'],
    ['a\\b', 'a\\b'],
    ['a\\\\b', 'a\\\\b'],
    ['a\\,b', 'a\\\\,b'],
    ['a"b', 'a"b'],
    ['é😀', 'é😀'],
  ];
  for (const [device, text] of cases) {
    assert.equal(encodeReadings([r(device, { v: 1 })], opts('v1')).body, `telemetry,device=${text} v=1 1000`, device);
  }
});

test('v2 escaping (VictoriaMetrics, InfluxDB 2/3): backslashes doubled too', () => {
  assert.equal(encodeReadings([r('a\\b c', { v: 1 })], opts('v2')).body, 'telemetry,device=a\\\\b\\ c v=1 1000');
  assert.equal(encodeReadings([r('ends\\', { v: 1 })], opts('v2')).body, 'telemetry,device=ends\\\\ v=1 1000');
});

test('field keys and measurements: v1 prefixes quotes (1.x unescapes \\" there), tags keep them literal', () => {
  const e = encodeReadings([r('d', { 'f"x y': 1 }, { measurement: 'm "q"=1,2', 'k"': 'v' })], opts('v1'));
  assert.equal(e.body, 'm\\ \\"q\\"\\=1\\,2,device=d,k"=v f\\"x\\ y=1 1000');
});

test('v1 cannot store a trailing backslash: the reading is refused with a reason naming the tag', () => {
  const e = encodeReadings([r('ok', { v: 1 }), r('bad\\', { v: 2 }), r('x', { v: 3 }, { site: 'a\\' })], opts('v1'));
  assert.equal(e.lines, 1);
  assert.deepEqual(e.refused.map((x) => x.index), [1, 2]);
  assert.match(e.refused[0].reason, /device "bad\\\\".*ends with a backslash/);
  assert.match(e.refused[1].reason, /tag "site".*ends with a backslash/);
});

test('string fields: quotes and backslashes escaped, line breaks kept (both servers store them)', () => {
  const e = encodeReadings([r('d', { s: 'say "hi" \\ there\nnext' })], opts('v1'));
  assert.equal(e.body, 'telemetry,device=d s="say \\"hi\\" \\\\ there\nnext" 1000');
});

test('NaN and ±Infinity are refused naming the field; line breaks in tags are refused', () => {
  const e = encodeReadings([r('d', { good: 1, temp: NaN }), r('d', { up: Infinity }), r('d', { v: -Infinity }), r('a\nb', { v: 1 })], opts('v2'));
  assert.equal(e.lines, 0);
  assert.match(e.refused[0].reason, /field "temp" is NaN/);
  assert.match(e.refused[1].reason, /field "up" is Infinity/);
  assert.match(e.refused[2].reason, /field "v" is -Infinity/);
  assert.match(e.refused[3].reason, /line break/);
});

test('1.x refuses a field or tag named time (and drops such a field silently among others): refused here', () => {
  const e = encodeReadings([r('d', { v: 1, time: 2 }), r('d', { v: 1 }, { time: 'x' })], opts('v1'));
  assert.equal(e.refused.length, 2);
  assert.match(e.refused[0].reason, /field named "time"/);
});

test('typed fields: 20 then 20.5 stays a float field; an integer field takes whole numbers and refuses fractions', () => {
  const types = new FieldTypeRegistry({ count: 'integer' });
  const o = opts('v1', { types });
  assert.equal(encodeReadings([r('d', { t: 20, count: 3 })], o).body, 'telemetry,device=d t=20,count=3i 1000');
  assert.equal(encodeReadings([r('d', { t: 20.5, count: 4 })], o).body, 'telemetry,device=d t=20.5,count=4i 1000');
  const bad = encodeReadings([r('d', { count: 4.5 })], o);
  assert.match(bad.refused[0].reason, /field "count" is 4\.5.*integer.*drop the fraction/);
  assert.equal(types.get('telemetry', 't'), 'float');
});

test('a refused reading fixes no field type: the next reading of that field sets it', () => {
  const types = new FieldTypeRegistry();
  const e = encodeReadings([r('d', { x: 1, bad: NaN }), r('d', { x: 'text' }), r('d', { x: 'more', y: 2 })], opts('v1', { types }));
  assert.equal(e.refused.length, 1);
  assert.equal(e.body, 'telemetry,device=d x="text" 1000\ntelemetry,device=d x="more",y=2 1000');
  assert.equal(types.get('telemetry', 'x'), 'string');
  assert.equal(types.get('telemetry', 'bad'), undefined);
});

test('a batch of many readings: each line as the reading alone would give, field types fixed by the first reading of a field', () => {
  const types = new FieldTypeRegistry({ n: 'integer' });
  const batch: Reading[] = [];
  for (let i = 0; i < 50; i++) batch.push(r(`dev ${i % 3}`, i % 2 ? { t: i, n: i, on: i % 4 === 1 } : { t: i + 0.5, s: `v"${i}` }, i % 5 ? { site: `s${i % 2}`, zone: 'a,b' } : {}, 1000 + i));
  const whole = encodeReadings(batch, opts('v2', { types })).body.split('\n');
  const single = batch.map((x) => encodeReadings([x], opts('v2', { types })).body);
  assert.deepEqual(whole, single);
  assert.equal(whole[1], 'telemetry,device=dev\\ 1,site=s1,zone=a\\,b t=1,n=1i,on=true 1001');
  assert.equal(types.get('telemetry', 't'), 'float');
  assert.equal(types.get('telemetry', 'on'), 'boolean');
});

test('conflicting values are converted when nothing is lost, refused otherwise', () => {
  assert.equal(fieldText('20.5', 'float', 'v1', 'f'), '20.5');
  assert.equal(fieldText(7, 'string', 'v1', 'f'), '"7"');
  assert.equal(fieldText(true, 'string', 'v1', 'f'), '"true"');
  assert.equal(fieldText('12', 'integer', 'v1', 'f'), '12i');
  assert.equal(fieldText('false', 'boolean', 'v1', 'f'), 'false');
  assert.equal(fieldText(5, 'unsigned', 'v2', 'f'), '5u');
  // 1.x has no unsigned type: written as an integer.
  assert.equal(fieldText(5, 'unsigned', 'v1', 'f'), '5i');
  assert.throws(() => fieldText('abc', 'float', 'v1', 'field "t"'), /field "t" is "abc".*float field.*without loss/);
  assert.throws(() => fieldText(true, 'float', 'v1', 'f'), /cannot be converted/);
  assert.throws(() => fieldText(-1, 'unsigned', 'v2', 'f'), /outside the range/);
  assert.throws(() => fieldText(1e20, 'integer', 'v1', 'f'), /outside the range/);
});

test('a field type is fixed the first time and kept in a file; the file is read back', () => {
  const dir = tempDir('us-ftypes-');
  const file = join(dir, 'types.json');
  const a = new FieldTypeRegistry({}, file);
  encodeReadings([r('d', { t: 20, s: 'x' })], opts('v1', { types: a }));
  a.save();
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).fields, { telemetry: { t: 'float', s: 'string' } });
  const b = new FieldTypeRegistry({ t: 'integer' }, file);
  // Learnt before the declaration: the server already has a float field.
  assert.equal(b.get('telemetry', 't'), 'float');
  assert.equal(encodeReadings([r('d', { s: 5 })], opts('v1', { types: b })).body, 'telemetry,device=d s="5" 1000');
});

test('VictoriaMetrics keeps numbers only: text fields are left out and counted, never sent as 0; a quote in a field name is refused', () => {
  const e = encodeReadings([r('d', { t: 1, s: 'x' }), r('d', { s: 'only text' }), r('d', { 'f"q': 1 })], opts('v2', { victoria: true }));
  assert.equal(e.body, 'telemetry,device=d t=1 1000');
  assert.equal(e.skippedText, 2);
  assert.equal(e.empty, 1);
  assert.match(e.refused[0].reason, /VictoriaMetrics cannot take a double quote in a field name/);
});

test('VictoriaMetrics refuses a reading before 1970, which it would answer 204 and not keep; InfluxDB takes it', () => {
  const readings = [r('d', { v: 1 }, {}, -86_400_000), r('d', { v: 2 }, {}, 0)];
  const vm = encodeReadings(readings, opts('v2', { victoria: true }));
  assert.equal(vm.body, 'telemetry,device=d v=2 0');
  assert.deepEqual(vm.refused.map((x) => x.index), [0]);
  assert.match(vm.refused[0].reason, /ts 1969-12-31T00:00:00\.000Z is before 1970, which VictoriaMetrics cannot keep/);
  assert.equal(encodeReadings(readings, opts('v1')).body, 'telemetry,device=d v=1 -86400000\ntelemetry,device=d v=2 0');
});

test('numbers and timestamps are written as JavaScript prints them; a refused or empty reading leaves no part of its line', () => {
  const values = [0, -0, 20, -7, 21.3, -0.5, 1e21, 0.1 + 0.2, 2 ** 53 + 2, -1.5e-7, 123456789012345, 2 ** 31, -(2 ** 31) - 1];
  const fields: Record<string, number> = {};
  values.forEach((v, i) => (fields[`f${i}`] = v));
  const text = values.map((v, i) => `f${i}=${Object.is(v, -0) ? '-0' : String(v)}`).join(',');
  assert.equal(text.split(',')[1], 'f1=-0');
  for (const ts of [0, -1, 99_999_999, 100_000_000, 100_000_001, 1_700_000_000_123, -1_700_000_000_123, 8.64e15]) {
    assert.equal(encodeReadings([r('d', fields, {}, ts)], opts('v1')).body, `telemetry,device=d ${text} ${ts}`);
  }
  // Refused after part of its line was made (NaN is the second field), first, in the middle and last.
  const half = (device: string) => r(device, { a: 1, b: NaN });
  const e = encodeReadings([half('x0'), r('d1', { a: 1 }), half('x1'), r('d2', { a: 2 }), half('x2')], opts('v1'));
  assert.equal(e.body, 'telemetry,device=d1 a=1 1000\ntelemetry,device=d2 a=2 1000');
  assert.deepEqual(e.refused.map((x) => x.index), [0, 2, 4]);
  // VictoriaMetrics: a reading with text fields only has nothing to write and leaves no empty line.
  const vm = encodeReadings([r('a', { v: 1 }), r('b', { s: 'text' }), r('c', { v: 2 })], opts('v2', { victoria: true }));
  assert.equal(vm.body, 'telemetry,device=a v=1 1000\ntelemetry,device=c v=2 1000');
  assert.equal(vm.empty, 1);
});

test('fractional numbers are written as JavaScript prints them (the digits are made without that string)', () => {
  const values: number[] = [0.1 + 0.2, 1.15, 1.005, 2.675, 1e-6, 1.5e-6, 9.5e-7, 999999999.999999, 1e15 + 0.5, 123456.7891, -0.07];
  for (let i = -3000; i <= 3000; i += 7) values.push(i / 10, i / 100, i / 1000, i / 7, i * 0.1, i / 1e6);
  const fields: Record<string, number> = {};
  values.forEach((v, i) => (fields[`f${i}`] = v));
  const body = encodeReadings([r('d', fields)], opts('v1')).body;
  assert.equal(body, `telemetry,device=d ${values.map((v, i) => `f${i}=${String(v)}`).join(',')} 1000`);
});

test('non-ASCII names and values, long text and a body larger than first guessed come out whole', () => {
  const long = `${'ä"\\'.repeat(2000)}🌡`;
  const batch = [r('dév 🌡', { 'tempé rature': 21.5, note: long }, {}, 1000), r('dév 🌡', { 'tempé rature': 22 }, { 'sité': 'nörth' }, 1001)];
  const e = encodeReadings(batch, opts('v1'));
  const escaped = `"${long.replace(/["\\]/g, '\\$&')}"`;
  assert.equal(e.body, `telemetry,device=dév\\ 🌡 tempé\\ rature=21.5,note=${escaped} 1000\ntelemetry,device=dév\\ 🌡,sité=nörth tempé\\ rature=22 1001`);
  assert.equal(e.bytes.length, Buffer.byteLength(e.body));
});

test('precision: ns, us, ms and s', () => {
  const ts = 1_700_000_000_123;
  assert.match(encodeReadings([r('d', { v: 1 }, {}, ts)], opts('v1', { precision: 'ns' })).body, / 1700000000123000000$/);
  assert.match(encodeReadings([r('d', { v: 1 }, {}, ts)], opts('v1', { precision: 'us' })).body, / 1700000000123000$/);
  assert.match(encodeReadings([r('d', { v: 1 }, {}, ts)], opts('v1', { precision: 's' })).body, / 1700000000$/);
});

test('field types from a JSON Schema and from settings text', () => {
  const schema = { properties: { fields: { properties: { n: { type: 'integer' }, t: { type: ['number', 'null'] }, ok: { type: 'boolean' }, any: {} } } } };
  assert.deepEqual(fieldTypesFromSchema(schema), { n: 'integer', t: 'float', ok: 'boolean' });
  assert.deepEqual(parseFieldTypes('count:integer, status : string\nflag:boolean'), { count: 'integer', status: 'string', flag: 'boolean' });
  assert.throws(() => parseFieldTypes('count:int'), ConfigError);
});

test('retention settings: 12h, 30d, 1y; empty keeps forever; nonsense is a ConfigError', () => {
  assert.equal(parseRetention('12h', 'r'), 12 * 3_600_000);
  assert.equal(parseRetention('30d', 'r'), 30 * 86_400_000);
  assert.equal(parseRetention('', 'r'), 0);
  assert.equal(retentionText(parseRetention('1y', 'r')), '1y');
  assert.throws(() => parseRetention('30 days', 'retention'), /retention must be a period/);
});

test('InfluxDB sink settings: checked with errors naming the setting; an optional sink with an unset URL is left out', () => {
  const main = { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 };
  const fails = (sink: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(() => normalizeSinks([main, { id: 'influx', ...sink }], '/data'), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
  fails({ kind: 'influxdb', url: 'localhost:8086' }, /sink influx: the URL must start with http/);
  fails({ kind: 'influxdb', url: 'http://h:8086', database: '' }, /InfluxDB v1 needs a database/);
  fails({ kind: 'influxdb', url: 'http://h:8086', api: 'v2', org: 'o' }, /organisation and a bucket/);
  fails({ kind: 'influxdb', url: 'http://h:8086', precision: 'm' }, /precision must be ns, us, ms or s/);
  fails({ kind: 'influxdb', url: 'http://h:8086', batchSize: 0 }, /batchSize must be a whole number/);
  fails({ kind: 'influxdb', url: 'http://h:8086', retention: 'a month' }, /retention must be a period/);
  fails({ kind: 'influxdb', url: 'http://h:8086', fieldTypes: 'n:int' }, /name:type/);
  const [, influx] = normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086' }], '/data');
  assert.equal(influx.api, 'v1');
  assert.equal(influx.database, 'upperstack');
  assert.equal(influx.batchSize, 5000);
  assert.equal(influx.flushMs, 1000);
  const auto = normalizeSinks([main, { id: 'influx', kind: 'influxdb', api: 'auto', url: 'http://h', org: 'o', bucket: 'b' }], '/data');
  assert.equal(auto[1].api, 'auto');
  fails({ kind: 'influxdb', url: 'http://h:8086', api: 'auto', database: '' }, /name a database/);
  const vm = normalizeSinks([main, { id: 'vm', kind: 'victoriametrics', url: 'http://h:8428' }], '/data');
  assert.equal(vm[1].api, 'v2');
  for (const url of ['', '${UPPERSTACK_INFLUX_URL}']) {
    assert.equal(normalizeSinks([main, { id: 'influx', kind: 'influxdb', url, optional: true }], '/data').length, 1, `left out with url "${url}"`);
  }
});
