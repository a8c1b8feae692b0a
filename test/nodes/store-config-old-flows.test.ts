/**
 * Store configs from flows files saved by earlier versions. The default pack shipped a v5 store config
 * without its spool budget for a while (before the pack stated it again); a flows file deployed from that
 * pack must start with the default budget and without a warning about a setting the user never made.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config')];

helper.init(require.resolve('node-red'));

/** The default pack's store config as flows/pipeline.json had it at version 5, InfluxDB sink included. */
const SAVED_V5 = {
  id: 'us_store_cfg',
  type: 'upperstack-store-config',
  name: 'embedded DuckDB',
  sinks: [
    { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128, retention: '30d', rollupRetention: '1y' },
    {
      id: 'influx', kind: 'influxdb', optional: true, url: '${UPPERSTACK_INFLUX_URL}', api: 'auto', database: '${UPPERSTACK_INFLUX_DB}', retentionPolicy: '',
      org: '${UPPERSTACK_INFLUX_ORG}', bucket: '${UPPERSTACK_INFLUX_BUCKET}', precision: 'ms', measurement: 'telemetry', measurementTag: 'measurement',
      deviceTag: 'device', tags: '*', fieldTypes: '', schemaFile: '', batchSize: 5000, flushMs: 1000, gzipAbove: 65536, timeoutMs: 10000, create: true,
      retention: '${UPPERSTACK_INFLUX_RETENTION}', slot: 1,
    },
  ],
  batchSize: 1000,
  flushMs: 100,
  configVersion: 5,
};

type Warned = StoreConfigNode & { warn: { args: unknown[][] } };

describe('store configs saved by earlier versions', () => {
  useTestRuntime('us-store-old-');

  test('a v5 store config saved without a spool budget starts with the default (1 GiB) and no warning', async () => {
    await helper.load(nodes, [SAVED_V5]);
    const cfg = helper.getNode('us_store_cfg') as unknown as Warned;
    await cfg.ready;
    assert.deepEqual(cfg.warn.args, []);
    assert.equal(cfg.writer.stats().spoolBudget, 1024 * 1024 * 1024);
  });

  test('a spool budget that is set but cannot be used still warns, and the default applies', async () => {
    await helper.load(nodes, [{ ...SAVED_V5, spoolBudget: 0 }]);
    const cfg = helper.getNode('us_store_cfg') as unknown as Warned;
    await cfg.ready;
    assert.equal(cfg.warn.args.length, 1);
    assert.match(String(cfg.warn.args[0][0]), /spoolBudget/);
    assert.equal(cfg.writer.stats().spoolBudget, 1024 * 1024 * 1024);
  });
});
