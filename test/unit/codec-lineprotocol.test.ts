import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode, parseLineProtocol, serializeLineProtocol, type LineReading, type Precision } from '../../nodes/lib/codec';
import { ConfigError, DecodeError, InvalidReadingError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';
import type { Reading } from '../../nodes/lib/reading';

const parse = (text: string, precision?: Precision): LineReading[] => parseLineProtocol(Buffer.from(text, 'utf8'), precision);

function parseError(text: string | Buffer): DecodeError {
  try {
    parseLineProtocol(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, 'lineprotocol');
    return err;
  }
  throw new assert.AssertionError({ message: `parse of ${JSON.stringify(String(text))} did not fail` });
}

describe('line protocol parsing', () => {
  test('the shared users\' sample parses completely', () => {
    const readings = decode('lineprotocol', readFileSync(join(packageRoot(), 'test', 'fixtures', 'users', 'line-protocol-sample.txt'))) as LineReading[];
    assert.equal(readings.length, 6);
    assert.deepEqual(readings[0], { device: 'temperature', fields: { value: 22.5 }, tags: { location: 'kitchen', measurement: 'temperature' } });
    assert.deepEqual(readings[1], { device: 'temperature', ts: 1614556800000, fields: { value: 22.5 }, tags: { location: 'kitchen', sensor: 'thermometer', measurement: 'temperature' } });
    assert.deepEqual(readings[3].fields, { reading: 22.5, battery_level: 98, type: 'smart', active: true });
    assert.deepEqual(readings[5], { device: 'memory', fields: { used_percent: 27.1, available_mb: 14945.7, total_mb: 24384 }, tags: { host: 'server02', region: 'us-central', measurement: 'memory' } });
  });

  test('every value type', () => {
    const [r] = parse('m f1=1,f2=1.0,f3=-1.234456e+78,f4=.5,f5=1E3,i1=12i,i2=-12i,u=12u,s="text",e=""');
    assert.deepEqual(r.fields, { f1: 1, f2: 1, f3: -1.234456e78, f4: 0.5, f5: 1000, i1: 12, i2: -12, u: 12, s: 'text', e: '' });
    const bools = parse('m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE')[0].fields;
    assert.deepEqual(bools, { a: true, b: true, c: true, d: true, e: true, f: false, g: false, h: false, i: false, j: false });
  });

  test('escapes in measurement, tag keys and values, field keys and strings', () => {
    const [r] = parse('my\\ meas\\,x,tag\\ k\\=1=v\\,a\\ l\\=ue f\\ 1=1,s="say \\"hi\\" \\\\ C:\\path"');
    assert.equal(r.device, 'my meas,x');
    assert.deepEqual(r.tags, { 'tag k=1': 'v,a l=ue', measurement: 'my meas,x' });
    assert.deepEqual(r.fields, { 'f 1': 1, s: 'say "hi" \\ C:\\path' });
  });

  test('backslashes follow the spec\'s table: \\\\ is one, a lone one is literal', () => {
    // Followed by "x" (not special) so a trailing backslash cannot escape the separating space.
    const tagOf = (raw: string) => parse(`m,t=${raw}x f=1`)[0].tags.t;
    assert.equal(tagOf('\\'), '\\x');
    assert.equal(tagOf('\\\\'), '\\x');
    assert.equal(tagOf('\\\\\\'), '\\\\x');
    assert.equal(tagOf('\\\\\\\\'), '\\\\x');
  });

  test('a device tag names the device; otherwise the measurement does', () => {
    const [withTag, without] = parse('cpu,device=dev7,site=a v=1\ncpu,site=a v=2');
    assert.deepEqual(withTag, { device: 'dev7', fields: { v: 1 }, tags: { site: 'a', measurement: 'cpu' } });
    assert.equal(without.device, 'cpu');
  });

  test('timestamps in every precision become epoch ms', () => {
    assert.equal(parse('m f=1 1614556800123456789')[0].ts, 1614556800123);
    assert.equal(parse('m f=1 1614556800123456', 'us')[0].ts, 1614556800123);
    assert.equal(parse('m f=1 1614556800123', 'ms')[0].ts, 1614556800123);
    assert.equal(parse('m f=1 1614556800', 's')[0].ts, 1614556800000);
    assert.equal(parse('m f=1 -1')[0].ts, -1, 'pre-1970 nanoseconds floor to the earlier millisecond');
    assert.equal(parse('m f=1')[0].ts, undefined);
  });

  test('comments, blank lines, CRLF, indentation and extra spaces are tolerated', () => {
    const readings = parse('# header\r\n\r\n   \n  m,t=a f=1  123000000 \r\n#m f=2\nn g="x"\n');
    assert.deepEqual(readings, [
      { device: 'm', ts: 123, fields: { f: 1 }, tags: { t: 'a', measurement: 'm' } },
      { device: 'n', fields: { g: 'x' }, tags: { measurement: 'n' } },
    ]);
  });

  test('a tag given twice is a bad line naming it, as InfluxDB refuses "duplicate tags"; a field given twice keeps the last value of its type', () => {
    assert.match(parseError('m,device=a,device=b f=1').message, /^line protocol line 1, column 12: tag "device" appears twice \(duplicate tags\)$/);
    assert.match(parseError('m,room=a,x=1,room=a f=1').message, /column 14: tag "room" appears twice/);
    assert.deepEqual(parse('m f=1,g=2,f=3')[0].fields, { f: 3, g: 2 });
    assert.match(parseError('m f=1,f="one"').message, /^line protocol line 1, column 9: field "f" is given twice, as a number and as a string \(field type conflict\)$/);
    assert.match(parseError('m f=t,f=1i').message, /as a boolean and as a number/);
  });

  test('a tag "measurement" other than the line\'s measurement is a bad line, not overwritten by it; the same value is taken', () => {
    assert.equal(
      parseError('cpu,host=a,measurement=load v=1').message,
      'line protocol line 1, column 12: tag "measurement" is "load", but the measurement is "cpu", which is kept as the tag measurement: rename the tag',
    );
    assert.deepEqual(parse('cpu,measurement=cpu,host=a v=1')[0], { device: 'cpu', fields: { v: 1 }, tags: { host: 'a', measurement: 'cpu' } });
  });

  test('errors name the line and column', () => {
    const cases: Array<[string, number, number, RegExp]> = [
      ['ok f=1\ncpu', 2, 4, /measurement "cpu" has no fields/],
      ['m f=1x', 1, 5, /field "f" has value "1x", which is not a float/],
      ['m,t=a f="open', 1, 9, /no closing double quote/],
      ['m f=9223372036854775808i', 1, 5, /out of range for a signed 64-bit integer/],
      ['m f=-1u', 1, 5, /out of range for an unsigned 64-bit integer/],
      ['m f=18446744073709551616u', 1, 5, /out of range for an unsigned 64-bit integer/],
      ['m f=1 12a', 1, 7, /timestamp "12a" must be an integer/],
      ['m f=1 12 extra', 1, 10, /unexpected text after the timestamp/],
      ['m,t= f=1', 1, 5, /tag "t" has an empty value/],
      ['m,t f=1', 1, 3, /tag "t" has no "=value"/],
      ['m f', 1, 3, /field "f" has no "=value"/],
      ['m f=', 1, 5, /field "f" has no value/],
      ['m f="a"b', 1, 8, /expected "," or a space after the value of field "f"/],
      [',t=a f=1', 1, 1, /measurement name is missing/],
      ['m f=1e999', 1, 5, /too large/],
    ];
    for (const [text, line, column, message] of cases) {
      const err = parseError(text);
      assert.match(err.message, message, text);
      assert.equal(err.details.line, line, `line of ${text}`);
      assert.equal(err.details.column, column, `column of ${text}: ${err.message}`);
      assert.match(err.message, new RegExp(`^line protocol line ${line}, column ${column}: `));
    }
  });

  test('a line break inside a quoted string value belongs to the string, as in InfluxDB', () => {
    const readings = parse('m,t=a s="one\ntwo \\"q\\"\r\nthree",f=1 1000000\nn f=2\r\no s="x"');
    assert.deepEqual(readings.map((r) => r.fields), [{ s: 'one\ntwo "q"\r\nthree', f: 1 }, { f: 2 }, { s: 'x' }]);
    assert.equal(readings[0].ts, 1);
    // Lines after it keep their numbers.
    const err = parseError('m s="a\nb"\nm f=bad');
    assert.equal(err.details.line, 3);
    // Each bad line is reported and the next line is parsed, a string spanning lines included.
    const bad: number[] = [];
    const rest = parseLineProtocol(Buffer.from('m f=1x\nm s="a\nb"\nm f="open\nm f=2'), 'ns', undefined, (_e, line) => bad.push(line));
    assert.deepEqual(bad, [1, 4]);
    assert.deepEqual(rest.map((r) => r.fields), [{ s: 'a\nb' }, { f: 2 }]);
  });

  test('the byte offset of an error counts earlier lines and multi-byte characters', () => {
    const err = parseError('m,t=ü f=1\nm f=bad');
    assert.equal(err.details.offset, Buffer.byteLength('m,t=ü f=1\n') + 4);
  });

  test('invalid UTF-8 names the byte and the line', () => {
    const err = parseError(Buffer.concat([Buffer.from('m f=1\nm s="'), Buffer.from([0xc0, 0xaf]), Buffer.from('"')]));
    assert.equal(err.details.offset, 11);
    assert.equal(err.details.line, 2);
    assert.match(err.message, /not valid UTF-8/);
  });

  test('an unknown precision is a ConfigError', () => {
    assert.throws(() => decode('lineprotocol', Buffer.from('m f=1'), { precision: 'h' as Precision }), ConfigError);
  });
});

describe('line protocol serializing', () => {
  const readings: Reading[] = [
    { device: 'dev 1', ts: 1614556800123, fields: { 'a,b=c d': 'q"\\', n: 1.5, neg: -2, ok: false, big: 1e21 }, tags: { 'k=1': 'v 2\\', measurement: 'my meas,x' } },
    { device: 'cpu', ts: 5, fields: { v: 0 }, tags: { measurement: 'cpu', host: 'h' } },
  ];

  test('round-trips names and values that need escaping', () => {
    assert.deepEqual(decode('lineprotocol', encode('lineprotocol', readings)), readings);
  });

  test('writes the measurement, sorted tags, a device tag when needed, and ns by default', () => {
    const text = serializeLineProtocol({ device: 'd1', ts: 1, fields: { t: 2 }, tags: { z: '1', a: '2', measurement: 'temp' } });
    assert.equal(text, 'temp,a=2,device=d1,z=1 t=2 1000000\n');
    assert.equal(serializeLineProtocol({ device: 'd1', ts: 1, fields: { t: 2 }, tags: {} }), 'd1 t=2 1000000\n');
  });

  test('honours the precision', () => {
    const r: Reading = { device: 'd', ts: 1614556800123, fields: { f: 1 }, tags: {} };
    for (const precision of ['ns', 'us', 'ms', 's'] as Precision[]) {
      const text = encode('lineprotocol', r, { precision }).toString();
      const back = decode('lineprotocol', Buffer.from(text), { precision }) as LineReading[];
      assert.equal(back[0].ts, precision === 's' ? 1614556800000 : r.ts, precision);
    }
  });

  test('rejects what line protocol cannot carry', () => {
    assert.throws(() => serializeLineProtocol({ device: 'd', ts: 1, fields: {}, tags: {} }), /no fields/);
    assert.throws(() => serializeLineProtocol({ device: 'd', ts: 1, fields: { f: Number.NaN }, tags: {} }), InvalidReadingError);
    assert.throws(() => serializeLineProtocol({ device: 'd', ts: 1, fields: { f: 1 }, tags: { t: 'a\nb' } }), /line break/);
    assert.throws(() => serializeLineProtocol({ device: 'd', ts: 1, fields: { s: 'a\nb' }, tags: {} }), /line break/);
    assert.throws(() => serializeLineProtocol({ device: '#d', ts: 1, fields: { f: 1 }, tags: {} }), /comment/);
  });
});
