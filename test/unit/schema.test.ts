import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSchema, DEFAULT_SCHEMA_PATH, loadSchema, schemaHash, type ReadingValidator } from '../../nodes/lib/schema/validator';
import { ConfigError, SchemaViolationError } from '../../nodes/lib/errors';
import { packageRoot } from '../../nodes/lib/paths';
import { normalizeReadings, type Reading } from '../../nodes/lib/reading';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import { tempDir } from '../helpers/temp';
import { DEFAULT_LIMITS } from '../../nodes/lib/limits';

const tmp = tempDir('upperstack-schema-');
after(() => rmSync(tmp, { recursive: true, force: true }));

const good: Reading = { device: 'dev-1', ts: 1700000000000, fields: { temperature: 21.5, on: true, mode: 'eco' }, tags: { site: 'north' } };

function violation(validate: ReadingValidator, reading: unknown): SchemaViolationError {
  const result = validate(reading);
  assert.equal(result.ok, false, `expected ${JSON.stringify(reading)} to be rejected`);
  if (result.ok) throw new Error('unreachable');
  assert.ok(result.error instanceof SchemaViolationError);
  assert.equal(result.error.code, 'SCHEMA_VIOLATION');
  return result.error;
}

describe('default reading schema', () => {
  const { validate, origin } = loadSchema();

  test('is shipped in schemas/ and used when no schema is given', () => {
    assert.equal(DEFAULT_SCHEMA_PATH, join(packageRoot(), 'schemas', 'reading.schema.json'));
    assert.ok(existsSync(DEFAULT_SCHEMA_PATH));
    assert.equal(origin, DEFAULT_SCHEMA_PATH);
    assert.equal(JSON.parse(readFileSync(DEFAULT_SCHEMA_PATH, 'utf8')).$schema, 'https://json-schema.org/draft/2020-12/schema');
  });

  test('accepts a good reading and the normalized HTTP fixture', () => {
    assert.deepEqual(validate(good), { ok: true });
    const fixture = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'users', 'http-insert-sample.json'), 'utf8'));
    const { readings, rejected } = normalizeReadings(fixture.tsdata, { device: fixture.deviceinfo.deviceid, receivedAt: Date.now() });
    assert.equal(rejected.length, 0);
    assert.equal(readings.length, 6);
    for (const r of readings) assert.deepEqual(validate(r), { ok: true });
  });

  test('accepts SenML names (RFC 8428 base names, LwM2M paths) as the SenML decoder resolves them', () => {
    for (const records of [[{ bn: 'urn:dev:ow:10e2073a01080063:', n: 'temp', v: 23.1 }], [{ bn: '/3303/0/', n: '5700', v: 21 }]]) {
      const { readings } = decodeReadings(Buffer.from(JSON.stringify(records)), { format: 'senml', device: 'ow', receivedAt: 1 });
      assert.equal(readings.length, 1);
      assert.deepEqual(validate(readings[0]), { ok: true }, JSON.stringify(readings[0].fields));
    }
    // Spaces inside a device id stay allowed.
    assert.deepEqual(validate({ ...good, device: 'boiler room 2' }), { ok: true });
  });

  test('a string field as long as the decode limit allows (65,536 characters) passes; one longer is refused', () => {
    const text = 'x'.repeat(DEFAULT_LIMITS.maxStringLength);
    const { readings } = decodeReadings(Buffer.from(JSON.stringify({ s: text })), { format: 'json', device: 'dev-1', receivedAt: 1700000000000 });
    assert.equal(readings.length, 1);
    assert.deepEqual(validate(readings[0]), { ok: true });
    assert.match(violation(validate, { ...good, fields: { s: `${text}x` } }).message, /^\/fields\/s must NOT have more than 65536 characters/);
  });

  test('rejects each broken part with a JSON pointer and the value', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ ...good, device: '' }, '/device', /^\/device must NOT have fewer than 1 characters \(got ""\)$/],
      [{ ...good, device: 'x'.repeat(129) }, '/device', /must NOT have more than 128 characters/],
      [{ ...good, ts: 1.5 }, '/ts', /^\/ts must be integer \(got 1\.5\)$/],
      [{ ...good, ts: -8640000000000001 }, '/ts', /must be >= -8640000000000000/],
      [{ ...good, fields: {} }, '/fields', /must NOT have fewer than 1 properties/],
      [{ ...good, fields: { t: { nested: 1 } } }, '/fields/t', /^\/fields\/t must be number,boolean,string \(got \{"nested":1\}\)$/],
      // The name's rule in words, not the regular expression.
      [{ ...good, fields: { 'bad name!': 1 } }, '/fields/bad name!', /^\/fields\/bad name!: the property name "bad name!" is not allowed: it must be a name of letters A to Z without accents, digits and _ : \/ /],
      [{ ...good, fields: { 'temp außen': 1 } }, '/fields/temp außen', /the property name "temp außen" is not allowed: it must be a name of letters A to Z without accents/],
      // A space at either end of the device: the query API trims what it is asked, so it could never be read back.
      [{ ...good, device: 'tr ' }, '/device', /^\/device must be a device id without control characters and without a space at either end \(got "tr "\)$/],
      [{ ...good, device: ' tr' }, '/device', /^\/device must be a device id without control characters and without a space at either end/],
      [{ ...good, device: 'a\u0007b' }, '/device', /^\/device must be a device id without control characters/],
      [{ ...good, fields: { '.hidden': 1 } }, '/fields/.hidden', /\(and \. - after the first character\)/],
      [{ ...good, tags: { '.x': 'y' } }, '/tags/.x', /^\/tags\/\.x: the property name "\.x" is not allowed: it must be a name of letters/],
      [{ ...good, tags: { site: 7 } }, '/tags/site', /must be string \(got 7\)/],
      [{ ts: 1, fields: { a: 1 } }, '/device', /^\/device is required but missing$/],
      ['text', '', /^the reading must be object \(got "text"\)$/],
    ];
    for (const [reading, path, message] of cases) {
      const err = violation(validate, reading);
      assert.equal(err.details.path, path, JSON.stringify(reading));
      assert.match(err.message, message);
    }
  });
});

describe('user schemas', () => {
  const limits = {
    type: 'object',
    properties: { fields: { type: 'object', properties: { temperature: { type: 'number', maximum: 150 } } } },
  };

  test('a range violation reads "<pointer> must be <= max (got value)"', () => {
    const err = violation(compileSchema(limits), { ...good, fields: { temperature: 900 } });
    assert.equal(err.message, '/fields/temperature must be <= 150 (got 900)');
    assert.equal(err.details.path, '/fields/temperature');
    assert.equal(err.details.keyword, 'maximum');
  });

  test('compiled validators are shared by content, whatever the key order', () => {
    const reordered = { properties: { fields: { properties: { temperature: { maximum: 150, type: 'number' } }, type: 'object' } }, type: 'object' };
    assert.equal(compileSchema(limits), compileSchema(structuredClone(limits)));
    assert.equal(compileSchema(limits), compileSchema(reordered));
    assert.equal(schemaHash(limits), schemaHash(reordered));
    assert.notEqual(compileSchema(limits), compileSchema({ ...limits, required: ['device'] }));
    const file = join(tmp, 'limits.json');
    writeFileSync(file, JSON.stringify(limits, null, 2));
    assert.equal(loadSchema({ file }).validate, compileSchema(limits));
  });

  test('two different schemas with the same $id both compile', () => {
    const a = compileSchema({ $id: 'urn:example:reading', type: 'object', required: ['a'] });
    const b = compileSchema({ $id: 'urn:example:reading', type: 'object', required: ['b'] });
    assert.equal(a({ a: 1 }).ok, true);
    assert.equal(b({ a: 1 }).ok, false);
  });

  test('unknown keywords load (strict off) and formats are checked', () => {
    const validate = compileSchema({ type: 'object', 'x-unit': 'C', properties: { tags: { properties: { installed: { type: 'string', format: 'date' } } } } });
    assert.equal(validate({ ...good, tags: { installed: '2024-02-29' } }).ok, true);
    assert.match(violation(validate, { ...good, tags: { installed: '2024-02-30' } }).message, /^\/tags\/installed must match format "date"/);
  });

  test('property names with "/" and "~" are escaped in the pointer', () => {
    const err = violation(compileSchema({ properties: { fields: { additionalProperties: false } } }), { ...good, fields: { 'a/b~c': 1 } });
    assert.equal(err.details.path, '/fields/a~1b~0c');
    assert.match(err.message, /is not allowed by the schema/);
  });

  test('draft-07 schemas work; other drafts are a ConfigError', () => {
    const validate = compileSchema({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', required: ['device'] });
    assert.equal(validate(good).ok, true);
    assert.throws(() => compileSchema({ $schema: 'http://json-schema.org/draft-04/schema#' }), ConfigError);
  });
});

describe('loadSchema', () => {
  test('inline JSON text and inline objects', () => {
    assert.equal(loadSchema({ inline: '{"type": "object", "required": ["device"]}' }).validate({ ts: 1 }).ok, false);
    assert.equal(loadSchema({ inline: { type: 'object' } }).validate(good).ok, true);
  });

  test('blank inline text counts as absent; a relative file resolves against baseDir', () => {
    writeFileSync(join(tmp, 'rel.json'), '{"type": "object", "required": ["nope"]}');
    const loaded = loadSchema({ inline: '  ', file: 'rel.json', baseDir: tmp });
    assert.equal(loaded.origin, join(tmp, 'rel.json'));
    assert.equal(loaded.validate(good).ok, false);
  });

  test('a missing file is a ConfigError naming it', () => {
    const file = join(tmp, 'missing.json');
    assert.throws(() => loadSchema({ file }), (err: unknown) => err instanceof ConfigError && err.message === `schema file ${file} does not exist`);
  });

  test('invalid JSON is a ConfigError with line and column', () => {
    const file = join(tmp, 'broken.json');
    writeFileSync(file, '{\n  "type": "object",\n  "properties": {,}\n}\n');
    assert.throws(() => loadSchema({ file }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /broken\.json is not valid JSON at line 3, column 18: expected a property name/);
      return true;
    });
  });

  test('an invalid schema is a ConfigError that says what is wrong', () => {
    assert.throws(() => loadSchema({ inline: '{"type": "nonsense"}' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^inline schema: JSON Schema is invalid: .*type/);
      return true;
    });
    assert.throws(() => loadSchema({ inline: '[1]' }), /must be a JSON object/);
  });

  test('inline and file together are refused', () => {
    assert.throws(() => loadSchema({ inline: { type: 'object' }, file: 'x.json' }), ConfigError);
  });
});
