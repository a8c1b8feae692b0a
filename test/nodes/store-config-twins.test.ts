/**
 * Two store configs of one name on one DuckDB file, as an "instead" pack (http-gateway, its own store config)
 * imported beside the default pack leaves. The first keeps the file; the second is refused it, naming the first,
 * instead of opening a second DuckDB on the file that misses the first's later writes; /health lists both, told
 * apart by id, and says which one is unusable.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { checkHealth } from '../../nodes/shared/runtime';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { until, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config')];

helper.init(require.resolve('node-red'));

const DEFAULT_SINKS = [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64, retention: '30d', rollupRetention: '1y' }];

describe('two store configs on one DuckDB file', () => {
  useTestRuntime('us-store-twins-');

  test('the second is refused the file, naming the first, and /health shows both apart', async () => {
    await helper.load(nodes, [
      { id: 'us_store_cfg', type: 'upperstack-store-config', name: 'embedded DuckDB', sinks: DEFAULT_SINKS },
      { id: 'us_gw_store_cfg', type: 'upperstack-store-config', name: 'embedded DuckDB', sinks: DEFAULT_SINKS },
    ]);
    const first = helper.getNode('us_store_cfg') as unknown as StoreConfigNode;
    const second = helper.getNode('us_gw_store_cfg') as unknown as StoreConfigNode;
    await first.ready;
    const ts = Date.UTC(2026, 10, 30);
    await first.store.write([{ device: 'm1', ts, fields: { power: 1000 }, tags: {} }]);
    assert.equal((await first.store.readings({ device: 'm1', limit: 10 })).readings.length, 1);
    await assert.rejects(second.store.readings({ device: 'm1', limit: 10 }), /is open in store config "embedded DuckDB" \(us_store_cfg\) already/);

    let health: Awaited<ReturnType<typeof checkHealth>> = {};
    await until(async () => {
      health = await checkHealth();
      return health['store:embedded DuckDB (us_gw_store_cfg)']?.ok === false;
    }, 'the second store config reported unusable');
    assert.equal(health['store:embedded DuckDB (us_store_cfg)']?.ok, true, 'the first is listed and healthy');
    assert.match(health['store:embedded DuckDB (us_gw_store_cfg)'].detail, /us_store_cfg/);
    assert.equal(health['store:embedded DuckDB'], undefined, 'no entry of the shared name that one of them would hide the other under');
  });
});
