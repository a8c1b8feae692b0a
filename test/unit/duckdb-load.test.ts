import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDuckDb } from '../../nodes/lib/store/duckdb-load';
import { ConfigError } from '../../nodes/lib/errors';

test('a DuckDB that cannot be loaded is a ConfigError naming the sink, the platform, the missing package and the ways out', () => {
  const platform = `${process.platform}-${process.arch}`;
  const missing = () => {
    throw Object.assign(new Error(`Cannot find module '@duckdb/node-bindings-${platform}/duckdb.node'\nRequire stack:\n- a.js`), { code: 'MODULE_NOT_FOUND' });
  };
  assert.throws(
    () => loadDuckDb('main', missing),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.deepEqual(err.details, { setting: 'sinks', sink: 'main', platform });
      assert.equal(
        err.message,
        `sink main: the embedded DuckDB cannot be loaded on ${platform} (Cannot find module '@duckdb/node-bindings-${platform}/duckdb.node'). ` +
          `Its native part is the optional package @duckdb/node-bindings-${platform}: install node-red-contrib-upperstack again without --omit=optional (or --no-optional), ` +
          'or, where DuckDB has no build for this platform, keep readings in InfluxDB or VictoriaMetrics instead (a store config whose only sink is one of those)',
      );
      return true;
    },
  );
});

test('a DuckDB that loads is the store module, and a failed attempt before does not stick', () => {
  assert.throws(() => loadDuckDb('main', () => {
    throw new Error('not yet');
  }), ConfigError);
  const mod = loadDuckDb('main');
  assert.equal(typeof mod.DuckDbStore, 'function');
});
