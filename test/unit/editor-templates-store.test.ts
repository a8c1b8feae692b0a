/** The store config, decode and validate dialogs flag exactly the sinks, limits and spool budgets their runtime refuses (see editor-templates.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeSinks } from '../../nodes/lib/store/sinks';
import { DEFAULT_MEMORY_LIMIT_MB } from '../../nodes/lib/store/sinks-duckdb';
import { DEFAULT_LIMITS, resolveLimits } from '../../nodes/lib/limits';
import { fresh, problems } from '../helpers/editor-templates';

test('a store added in the editor and the stores of the shipped packs get the runtime\'s default DuckDB memory limit (64 MB)', () => {
  assert.equal(DEFAULT_MEMORY_LIMIT_MB, 64);
  const sinks = fresh('upperstack-store-config', {}).sinks as Array<Record<string, unknown>>;
  assert.equal(sinks[0].memoryLimit, DEFAULT_MEMORY_LIMIT_MB);
  const flows = join(__dirname, '..', '..', '..', 'flows');
  let seen = 0;
  for (const file of readdirSync(flows).filter((f) => f.endsWith('.json'))) {
    const text = readFileSync(join(flows, file), 'utf8');
    for (const m of text.matchAll(/"memoryLimit":\s*(\d+)/g)) {
      assert.equal(Number(m[1]), DEFAULT_MEMORY_LIMIT_MB, `${file} ships memoryLimit ${m[1]}`);
      seen++;
    }
  }
  assert.ok(seen >= 6, `the packs' DuckDB sinks were found (${seen})`);
});

test('the store config flags exactly the sink lists the runtime refuses', () => {
  const runtimeRefuses = (sinks: unknown) => {
    try {
      normalizeSinks(sinks, '/data');
      return false;
    } catch {
      return true;
    }
  };
  const main = { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 };
  const cases: unknown[] = [
    [main],
    [main, { id: 's2', kind: 'duckdb', path: '', memoryLimit: 64 }],
    [main, { id: 's2', kind: 'duckdb', path: 'upperstack.duckdb', memoryLimit: 64 }],
    [{ ...main, path: '/srv/a.duckdb' }, { id: 's2', kind: 'duckdb', path: '/srv/a.duckdb', memoryLimit: 64 }],
    [main, { id: 'main', kind: 'duckdb', path: 'b.duckdb', memoryLimit: 64 }],
    [{ ...main, memoryLimit: 64.5 }],
    [{ ...main, memoryLimit: 'lots' }],
    [{ ...main, memoryLimit: 0 }],
    [{ ...main, id: 'no spaces' }],
    [{ ...main, kind: 'cassandra' }],
    [],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'h:8086', database: 'db', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: '', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', api: 'v2', org: 'o', bucket: '', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', api: 'auto', database: '', bucket: 'b', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', retention: '30 days', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', fieldTypes: 'n:int', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', batchSize: 0, slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: '${UPPERSTACK_INFLUX_URL}', database: 'db', optional: true, slot: 1 }],
    [main, { id: 'vm', kind: 'victoriametrics', url: 'http://h:8428', slot: 2 }],
    [main, { id: 'vm', kind: 'victoriametrics', url: '', slot: 2 }],
    [{ id: 'vm', kind: 'victoriametrics', url: 'http://h:8428', slot: 2 }],
  ];
  for (const sinks of cases) {
    const flagged = Object.keys(problems('upperstack-store-config', fresh('upperstack-store-config', { sinks }))).includes('sinks');
    assert.equal(flagged, runtimeRefuses(sinks), JSON.stringify(sinks));
  }
  assert.ok(runtimeRefuses([main, { id: 's2', kind: 'duckdb', path: '', memoryLimit: 64 }]) === false, 'two DuckDB files side by side are fine');
  // "Empty keeps everything": the default roll-up period beside an emptied retention is neither flagged nor refused.
  for (const sinks of [[{ ...main, retention: '', rollupRetention: '1y' }], [{ ...main, retention: 'forever', rollupRetention: '1y' }]]) {
    assert.equal(runtimeRefuses(sinks), false, JSON.stringify(sinks));
    assert.deepEqual(problems('upperstack-store-config', fresh('upperstack-store-config', { sinks })), {}, JSON.stringify(sinks));
  }
  assert.equal(runtimeRefuses([{ ...main, retention: '30d', rollupRetention: '7d' }]), true);
  // Saved before sinks existed: nothing to flag, the runtime's migration makes the list.
  assert.deepEqual(problems('upperstack-store-config', { name: '', kind: 'duckdb', path: '', batchSize: 1000, flushMs: 100, memoryLimit: 128, configVersion: 2 }), {});
});

/** The runtime's verdict on limit settings: the setting names it refuses. */
function refusedLimits(o: Record<string, unknown>): string[] {
  const refused: string[] = [];
  resolveLimits(o as Parameters<typeof resolveLimits>[0], (err) => refused.push(String(err.details.setting)));
  return refused;
}

test('decode and validate flag exactly the limit settings the runtime refuses, with the same defaults', () => {
  const decodeDefaults = fresh('upperstack-decode', {});
  for (const key of ['maxBytes', 'maxDepth', 'maxFields', 'maxStringLength', 'maxReadings'] as const) {
    assert.equal(decodeDefaults[key], DEFAULT_LIMITS[key], `decode.${key}`);
    if (key !== 'maxBytes' && key !== 'maxDepth') assert.equal(fresh('upperstack-validate', {})[key], DEFAULT_LIMITS[key], `validate.${key}`);
  }
  const cases: Array<Record<string, unknown>> = [
    {},
    { maxDepth: 1 },
    { maxDepth: 2 },
    { maxDepth: 1001 },
    { maxDepth: 'deep' },
    { maxFields: 0 },
    { maxFields: 1_000_000 },
    { maxFields: 1_000_001 },
    { maxStringLength: 2.5 },
    { maxStringLength: 67108864 },
    { maxReadings: 10_000_001 },
    { maxReadings: 1 },
    { maxBytes: 268435457 },
    { maxBytes: 268435456 },
  ];
  for (const changes of cases) {
    const label = JSON.stringify(changes);
    const flagged = Object.keys(problems('upperstack-decode', fresh('upperstack-decode', changes))).sort();
    assert.deepEqual(flagged, refusedLimits(fresh('upperstack-decode', changes)).sort(), `decode ${label}`);
    if (!('maxDepth' in changes) && !('maxBytes' in changes)) {
      const v = Object.keys(problems('upperstack-validate', fresh('upperstack-validate', changes))).sort();
      assert.deepEqual(v, refusedLimits(fresh('upperstack-validate', changes)).sort(), `validate ${label}`);
    }
  }
  // The reason names the range (here the built-in text; the dialog shows the catalogue's).
  assert.equal(problems('upperstack-decode', fresh('upperstack-decode', { maxDepth: 0 })).maxDepth, 'a whole number from 2 to 1000');
  assert.equal(problems('upperstack-validate', fresh('upperstack-validate', { maxFields: 0 })).maxFields, 'a whole number from 1 to 1000000');
});

test('decode and validate nodes saved at version 1, without limits, stay valid (the migration gives the defaults)', () => {
  assert.deepEqual(problems('upperstack-decode', { format: 'json', protoType: 'upperstack.Reading', protoDir: '', maxBytes: 1024, configVersion: 1 }), {});
  assert.deepEqual(problems('upperstack-validate', { schemaSource: 'default', schema: '', schemaFile: '', configVersion: 1 }), {});
  // From version 2 on, a limit must be set.
  assert.deepEqual(Object.keys(problems('upperstack-decode', { ...fresh('upperstack-decode', {}), maxDepth: '' })), ['maxDepth']);
});

test('the store config flags a spool budget the runtime would not use, and a config from before it stays valid', () => {
  for (const [budget, ok] of [[1024, true], [1, true], [1048576, true], [0, false], [1048577, false], ['big', false], [2.5, false]] as const) {
    const flagged = Object.keys(problems('upperstack-store-config', fresh('upperstack-store-config', { spoolBudget: budget })));
    assert.deepEqual(flagged, ok ? [] : ['spoolBudget'], String(budget));
  }
  assert.equal(fresh('upperstack-store-config', {}).spoolBudget, 1024);
  assert.equal(fresh('upperstack-store-config', {}).configVersion, 5);
  assert.deepEqual(problems('upperstack-store-config', { name: '', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 }], batchSize: 1000, flushMs: 100, configVersion: 3 }), {});
});

