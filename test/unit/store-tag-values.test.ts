/**
 * Tag values that are not strings, in a reading a flow built itself: every
 * sink stores the same tags for it (reading-tags.ts), so the reading reads
 * back the same from DuckDB as from InfluxDB or VictoriaMetrics.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../nodes/lib/store/duckdb-encode';
import { DEFAULT_MAPPING, encodeReadings, type EncodeOptions } from '../../nodes/lib/influx/line';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { parseTagMap } from '../../nodes/lib/influx/tag-map';
import { StoreFailedError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { duckdbFiles, T0 } from '../helpers/duckdb-store';

const { withStore } = duckdbFiles();

const influx = (extra: Partial<EncodeOptions> = {}): EncodeOptions => ({ dialect: 'v2', precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), ...extra });
/** A reading as a function node may build it: tags of any type. */
const built = (tags: Record<string, unknown>, ts = T0): Reading => ({ device: 'd1', ts, fields: { v: 1 }, tags } as unknown as Reading);

describe('tag values that are not strings', () => {
  test('numbers and booleans are stored as their text and null leaves the tag out, in DuckDB as in line protocol', async () => {
    const reading = built({ site: 5, on: true, gone: null, name: 'lab' });
    assert.deepEqual(encodeBatch([reading], new Map()).tags, ['{"site":"5","on":"true","name":"lab"}']);
    assert.equal(encodeReadings([reading], influx()).body, `telemetry,device=d1,name=lab,on=true,site=5 v=1 ${T0}`);
    await withStore(async (s) => {
      await s.write([reading, built({ site: null }, T0 + 1)]);
      assert.deepEqual((await s.readings({ device: 'd1', limit: 10 })).readings, [
        { ts: T0, fields: { v: 1 }, tags: { site: '5', on: 'true', name: 'lab' } },
        { ts: T0 + 1, fields: { v: 1 }, tags: {} },
      ]);
    });
  });

  test('an empty tag value leaves the tag out, in DuckDB as in line protocol (which cannot carry one)', async () => {
    const reading = { device: 'd1', ts: T0, fields: { v: 1 }, tags: { site: '', name: 'lab' } } as Reading;
    assert.deepEqual(encodeBatch([reading], new Map()).tags, ['{"name":"lab"}']);
    assert.equal(encodeReadings([reading], influx()).body, `telemetry,device=d1,name=lab v=1 ${T0}`);
    await withStore(async (s) => {
      await s.write([reading, { device: 'd1', ts: T0 + 1, fields: { v: 1 }, tags: { site: '' } } as Reading]);
      assert.deepEqual((await s.readings({ device: 'd1', limit: 10 })).readings, [
        { ts: T0, fields: { v: 1 }, tags: { name: 'lab' } },
        { ts: T0 + 1, fields: { v: 1 }, tags: {} },
      ]);
    });
  });

  test('a reading whose tags are null only has no tags, as one without tags', () => {
    const b = encodeBatch([built({ site: null, floor: undefined })], new Map());
    assert.deepEqual(b.tags, []);
    assert.equal(b.shape & 8, 0, 'no tags column in the insert');
  });

  test('an object or an array as a tag value is refused by both sinks, naming the tag', () => {
    for (const [value, kind] of [[{ room: 2 }, 'an object'], [['a', 'b'], 'an array']] as const) {
      const reading = built({ site: 'lab', loc: value });
      assert.throws(
        () => encodeBatch([reading], new Map()),
        (e: unknown) => e instanceof StoreFailedError && e.message === `reading [0] of device "d1": tag "loc" is ${kind}; tag values must be strings (numbers and booleans are stored as their text, null or an empty string leaves the tag out)`,
      );
      const line = encodeReadings([reading], influx());
      assert.equal(line.lines, 0);
      assert.deepEqual(line.refused, [{ index: 0, reason: `device "d1": tag "loc" is ${kind}; tag values must be strings (numbers and booleans are stored as their text, null or an empty string leaves the tag out)` }]);
    }
  });

  test('the InfluxDB sink applies the rule through its tag mapping too', () => {
    const mapping = { ...DEFAULT_MAPPING, tags: parseTagMap('site=where, on, loc', 'test', ['device']) };
    assert.equal(encodeReadings([built({ site: 5, on: false, other: { x: 1 } })], influx({ mapping })).body, `telemetry,device=d1,on=false,where=5 v=1 ${T0}`, 'a tag the mapping leaves out is not looked at');
    assert.equal(encodeReadings([built({ loc: [1] })], influx({ mapping })).refused.length, 1);
  });

  test('a tag named __proto__ among values that are not strings stays a tag', () => {
    const tags = JSON.parse('{"__proto__":"x","n":1}') as Record<string, unknown>;
    assert.deepEqual(encodeBatch([built(tags)], new Map()).tags, ['{"__proto__":"x","n":"1"}']);
  });
});
