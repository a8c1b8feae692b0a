import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { encode, formatFromContentType, sniff } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { decodeXml } from '../../nodes/lib/codec/xml';
import { DecodeError, InvalidReadingError } from '../../nodes/lib/errors';

const NOW = 1767225600000;
const read = (xml: string, device?: string) => decodeReadings(Buffer.from(xml, 'utf8'), { format: 'xml', device, receivedAt: NOW, maxBytes: 1 << 20 });

function xmlError(xml: string | Buffer): DecodeError {
  try {
    decodeXml(typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`);
    assert.equal(err.details.format, 'xml');
    return err;
  }
  throw new assert.AssertionError({ message: `${String(xml)} did not fail` });
}

describe('XML readings', () => {
  test('the documented shape: wrapper defaults, long and short fields, types, tags', () => {
    const { readings, rejected, format } = read(`<?xml version="1.0" encoding="UTF-8"?>
<readings device="dev1">
  <reading ts="2026-01-01T00:00:00Z">
    <field name="temperature">22.5</field>
    <field name="door" type="boolean">true</field>
    <field name="code" type="string">007</field>
    <humidity>41</humidity>
    <mode>eco &amp; quiet</mode>
    <tag name="site">lab &lt;3</tag>
  </reading>
  <reading device="dev2" ts="1767225601000"><x:v xmlns:x="urn:x">-1.5e2</x:v><ok>false</ok></reading>
</readings>`);
    assert.equal(format, 'xml');
    assert.deepEqual(rejected, []);
    assert.deepEqual(readings, [
      { device: 'dev1', ts: NOW, fields: { temperature: 22.5, door: true, code: '007', humidity: 41, mode: 'eco & quiet' }, tags: { site: 'lab <3' } },
      { device: 'dev2', ts: NOW + 1000, fields: { v: -150, ok: false }, tags: {} },
    ]);
  });

  test('a bare <reading> root takes the transport device and the time of receipt', () => {
    const { readings } = read('<reading><t><![CDATA[21]]></t></reading>', 'd9');
    assert.deepEqual(readings, [{ device: 'd9', ts: NOW, fields: { t: 21 }, tags: {} }]);
  });

  test('DOCTYPEs and entities are refused, not expanded', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><reading><t>&lol2;</t></reading>`;
    assert.match(xmlError(bomb).message, /DOCTYPE is not accepted/);
    const external = `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><reading><t>&x;</t></reading>`;
    assert.match(xmlError(external).message, /DOCTYPE is not accepted/);
    const undefinedEntity = xmlError('<reading><t>&x;</t></reading>');
    assert.match(undefinedEntity.message, /line 1, column \d+: undefined entity/);
  });

  test('nesting past the shape fails at once, whatever the depth', () => {
    const deep = `<readings><reading><t>${'<a>'.repeat(100_000)}`;
    const err = xmlError(deep);
    assert.match(err.message, /<t> holds text only, not the element <a>/);
    assert.equal(err.details.line, 1);
  });

  test('errors say where and what', () => {
    assert.match(xmlError('<readings><foo/></readings>').message, /<readings> holds <reading> elements, not <foo>/);
    assert.match(xmlError('<data/>').message, /root element must be <readings> or <reading>, not <data>/);
    assert.match(xmlError('<reading><field>1</field></reading>').message, /<field> needs a name attribute/);
    assert.match(xmlError('<reading><field name="a" type="number">abc</field></reading>').message, /field "a" is typed number but holds "abc"/);
    assert.match(xmlError('<reading><field name="a" type="boolean">yes</field></reading>').message, /typed boolean/);
    assert.match(xmlError('<reading><field name="a" type="date">1</field></reading>').message, /type "date"; use number, boolean or string/);
    assert.match(xmlError('<readings>hello<reading/></readings>').message, /text "hello" is outside any field/);
    const unclosed = xmlError('<reading>\n  <t>1</t>\n');
    assert.match(unclosed.message, /^XML payload line 3/);
    assert.match(xmlError(Buffer.from([0x3c, 0x72, 0xff])).message, /not valid UTF-8/);
    assert.match(xmlError('   ').message, /empty/);
  });

  test('a number past the largest double is refused as line protocol refuses it, not kept as text', () => {
    for (const [xml, raw] of [['<reading><t>1e400</t></reading>', '1e400'], ['<reading>\n<field name="t" type="number">-1e400</field></reading>', '-1e400']]) {
      const err = xmlError(xml);
      assert.equal(err.code, 'DECODE_FAILED');
      assert.match(err.message, new RegExp(`^XML payload line \\d+, column \\d+: field "t" value "${raw}" is too large for a 64-bit float$`), xml);
    }
    assert.match(xmlError('<reading>\n<t>1e400</t></reading>').message, /^XML payload line 2, /);
    // The same words as line protocol's; the largest double, text typed so and a number JSON rounds to 0 are read as before.
    assert.throws(() => decodeReadings(Buffer.from('m t=1e400'), { format: 'lineprotocol', device: 'd', receivedAt: NOW, maxBytes: 1 << 20 }), /field "t" value "1e400" is too large for a 64-bit float$/);
    assert.deepEqual(read('<reading><a>1.7976931348623157e308</a><b type="string">1e400</b><c>1e-400</c></reading>', 'd1').readings[0].fields, { a: 1.7976931348623157e308, b: '1e400', c: 0 });
  });

  test('time attributes: a reading with its own takes none of the wrapper\'s; two on one element must be one time', () => {
    const own = read('<readings timestamp="2025-01-01T00:00:00Z"><reading ts="2026-01-01T00:00:00Z"><t>1</t></reading><reading><t>2</t></reading></readings>', 'd1');
    assert.deepEqual(own.readings.map((r) => r.ts), [NOW, Date.UTC(2025, 0, 1)]);
    assert.equal(read(`<reading ts="${NOW}" time="2026-01-01T00:00:00Z"><t>1</t></reading>`, 'd1').readings[0].ts, NOW);
    const { readings, rejected } = read(`<reading ts="${NOW}" timestamp="2025-01-01T00:00:00Z"><t>1</t></reading>`, 'd1');
    assert.equal(readings.length, 0);
    assert.equal(rejected[0].error.message, '[0].ts (2026-01-01T00:00:00.000Z) and [0].timestamp (2025-01-01T00:00:00.000Z) are two different times: a reading has one; send one of ts, timestamp and time, or the same time in each');
  });

  test('a reading without fields is rejected as a reading, with its path', () => {
    const { readings, rejected } = read('<readings><reading device="a"><t>1</t></reading><reading device="b"/></readings>');
    assert.equal(readings.length, 1);
    assert.equal(rejected[0].index, 1);
    assert.match(rejected[0].error.message, /has no fields/);
  });

  test('a field or tag given twice rejects the reading, as in the other formats, whatever the element or type', () => {
    const cases: Array<[string, string]> = [
      ['<reading><field name="a">1</field><field name="a" type="string">x</field></reading>', 'fields.a would be stored as field "a", which the reading already has: two values cannot have the same name (XML line 1)'],
      ['<reading><a>1</a><field name="a">1</field></reading>', 'fields.a would be stored as field "a", which the reading already has: two values cannot have the same name (XML line 1)'],
      ['<readings>\n<reading><t>1</t></reading>\n<reading><t>1</t><tag name="site">lab</tag>\n<tag name="site">other</tag></reading></readings>', '[1].tags.site would be stored as tag "site", which the reading already has: two values cannot have the same name (XML line 4)'],
    ];
    for (const [xml, message] of cases) {
      assert.throws(() => read(xml, 'd1'), (err: unknown) => err instanceof InvalidReadingError && err.code === 'INVALID_READING' && err.message === message, xml);
    }
    // A field and a tag may share a name: they are kept apart.
    assert.deepEqual(read('<reading><a>1</a><tag name="a">x</tag></reading>', 'd1').readings[0], { device: 'd1', ts: NOW, fields: { a: 1 }, tags: { a: 'x' } });
  });

  test('content types, sniffing and a round trip through encode', () => {
    assert.equal(formatFromContentType('application/xml'), 'xml');
    assert.equal(formatFromContentType('text/xml; charset=utf-8'), 'xml');
    assert.equal(formatFromContentType('application/atom+xml'), 'xml');
    assert.equal(sniff(Buffer.from('\n <readings/>')), 'xml');
    const readings = [{ device: 'a.b@c:d', ts: NOW, fields: { t: 1.25, s: ' 42 <&>', b: false }, tags: { k: 'v"\'<&>' } }];
    const out = decodeReadings(encode('xml', readings), { format: 'auto', receivedAt: NOW, maxBytes: 1 << 20 });
    assert.equal(out.format, 'xml');
    assert.deepEqual(out.readings, readings);
  });
});
