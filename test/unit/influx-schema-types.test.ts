/**
 * Field types an InfluxDB / VictoriaMetrics sink takes from a JSON Schema of
 * readings: read from the sink's schema file, or (left empty, as in the
 * default pack) from the shipped reading schema the validate node uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MAPPING, encodeReadings } from '../../nodes/lib/influx/line';
import { FieldTypeRegistry, fieldTypesFromSchema } from '../../nodes/lib/influx/field-types';
import { declaredTypes, schemaFileOf } from '../../nodes/lib/store/sinks-influx';
import { DEFAULT_SCHEMA_PATH, loadSchema } from '../../nodes/lib/schema/validator';
import { packageRoot } from '../../nodes/lib/paths';
import { ConfigError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    fields: {
      type: 'object',
      properties: {
        count: { type: 'integer' },
        temp: { type: 'number' },
        on: { type: 'boolean' },
        state: { type: 'string' },
        'env.humidity': { type: ['number', 'null'] },
        loose: {},
      },
    },
  },
};

const r = (fields: Reading['fields'], ts: number): Reading => ({ device: 'd', ts, fields, tags: {} });

test('declaredTypes reads the sink\'s schema file (relative to the data folder): integer, number → float, boolean, string, dotted names', () => {
  const dir = tempDir('us-schema-types-');
  writeFileSync(join(dir, 'readings.schema.json'), JSON.stringify(SCHEMA));
  const types = declaredTypes({ id: 'influx', schemaFile: 'readings.schema.json', fieldTypes: '' }, { dataDir: dir });
  assert.deepEqual(types, { count: 'integer', temp: 'float', on: 'boolean', state: 'string', 'env.humidity': 'float' });
  // An absolute path reads the same file; the settings' field types win over the schema's.
  assert.deepEqual(declaredTypes({ id: 'influx', schemaFile: join(dir, 'readings.schema.json'), fieldTypes: 'count:float, extra:unsigned' }, { dataDir: '/nowhere' }), {
    ...types,
    count: 'float',
    extra: 'unsigned',
  });
  // A file that is not there (or not JSON) is a ConfigError naming the sink and the setting.
  assert.throws(
    () => declaredTypes({ id: 'influx', schemaFile: 'missing.json', fieldTypes: '' }, { dataDir: dir }),
    (e: unknown) => e instanceof ConfigError && /^sink influx: schema file .*missing\.json does not exist$/.test(e.message),
  );
  writeFileSync(join(dir, 'torn.json'), '{"properties":');
  assert.throws(
    () => declaredTypes({ id: 'influx', schemaFile: 'torn.json', fieldTypes: '' }, { dataDir: dir }),
    (e: unknown) => e instanceof ConfigError && /^sink influx: schema file .*torn\.json/.test(e.message) && e.details.setting === 'schemaFile',
  );
  // Saved by an editor that writes a byte-order mark: read as the validate node reads it.
  writeFileSync(join(dir, 'bom.json'), '\uFEFF' + JSON.stringify({ properties: { fields: { properties: { n: { type: 'integer' } } } } }));
  assert.deepEqual(declaredTypes({ id: 'influx', schemaFile: 'bom.json', fieldTypes: '' }, { dataDir: dir }), { n: 'integer' });
});

test('a field the schema declares "number", written first as 20 then as 20.5, is a float both times (no i suffix); an integer field gets i', () => {
  const dir = tempDir('us-schema-types-');
  writeFileSync(join(dir, 's.json'), JSON.stringify(SCHEMA));
  const declared = declaredTypes({ id: 'influx', schemaFile: 's.json', fieldTypes: '' }, { dataDir: dir });
  for (const dialect of ['v1', 'v2'] as const) {
    const types = new FieldTypeRegistry(declared, join(dir, `${dialect}.fields.json`));
    const o = { dialect, precision: 'ms' as const, mapping: DEFAULT_MAPPING, types };
    assert.equal(encodeReadings([r({ temp: 20, count: 3 }, 1000)], o).body, 'telemetry,device=d temp=20,count=3i 1000', dialect);
    assert.equal(encodeReadings([r({ temp: 20.5, count: 4 }, 2000)], o).body, 'telemetry,device=d temp=20.5,count=4i 2000', dialect);
    // In one batch too, and after a restart (the learnt types read back from the file).
    assert.equal(encodeReadings([r({ temp: 21 }, 3000), r({ temp: 21.25 }, 4000)], o).body, 'telemetry,device=d temp=21 3000\ntelemetry,device=d temp=21.25 4000');
    types.save();
    const again = new FieldTypeRegistry(declared, join(dir, `${dialect}.fields.json`));
    assert.equal(again.get('telemetry', 'temp'), 'float');
    assert.equal(encodeReadings([r({ temp: 22 }, 5000)], { ...o, types: again }).body, 'telemetry,device=d temp=22 5000');
  }
});

test('the default pack: the InfluxDB sink takes field types from the schema its validate node uses (the shipped reading schema)', () => {
  const root = packageRoot();
  const flows = JSON.parse(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  const storeCfg = flows.find((n) => n.type === 'upperstack-store-config');
  assert.ok(storeCfg);
  const sink = (storeCfg.sinks as Array<Record<string, unknown>>).find((s) => s.kind === 'influxdb');
  assert.ok(sink, 'the default pack has an InfluxDB sink');
  const validators = flows.filter((n) => n.type === 'upperstack-validate' || n.type === 'upperstack-http-in' || n.type === 'upperstack-coap-in');
  assert.ok(validators.some((n) => n.type === 'upperstack-validate'));
  for (const v of validators) assert.equal(v.schemaSource, 'default', `${String(v.id)} validates with the shipped schema`);

  // The sink's schema setting resolves to the very file the validators load by default, and it exists.
  const dataDir = tempDir('us-schema-types-');
  const file = schemaFileOf({ schemaFile: String(sink.schemaFile ?? '') }, dataDir);
  assert.equal(file, DEFAULT_SCHEMA_PATH);
  assert.equal(file, join(root, 'schemas', 'reading.schema.json'));
  assert.ok(existsSync(file));
  const shipped = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  assert.deepEqual(loadSchema({}).schema, shipped, 'the validate node\'s default schema is that file');
  // Its declared types are the schema's (the shipped one declares none by name: every number a float).
  assert.deepEqual(declaredTypes({ id: String(sink.id), schemaFile: String(sink.schemaFile ?? ''), fieldTypes: String(sink.fieldTypes ?? '') }, { dataDir }), fieldTypesFromSchema(shipped));

  // A stricter copy of the shipped schema given to both the validate node and the sink (one path in the data folder): its types reach the sink.
  const stricter = JSON.parse(JSON.stringify(shipped)) as { properties: { fields: Record<string, unknown> } };
  stricter.properties.fields.properties = { count: { type: 'integer' }, temp: { type: 'number' } };
  writeFileSync(join(dataDir, 'my-readings.json'), JSON.stringify(stricter));
  const loaded = loadSchema({ file: 'my-readings.json', baseDir: dataDir });
  assert.deepEqual(loaded.schema, stricter);
  assert.deepEqual(declaredTypes({ id: 'influx', schemaFile: 'my-readings.json', fieldTypes: '' }, { dataDir }), { count: 'integer', temp: 'float' });
});
