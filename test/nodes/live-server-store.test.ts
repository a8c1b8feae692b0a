/**
 * upperstack-live with Start from set to a store read from a time-series
 * server (UPPERSTACK_STORE=influxdb, a real influxd): such a store cannot be
 * asked for the latest values, so after a restart the table and the charts
 * start empty; the node says so at deploy, naming the store, instead of
 * leaving an empty dashboard to look like lost data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { NodeAPI } from 'node-red';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';
import { catalogTranslator } from '../helpers/node-red';
import { eventually } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const translate = catalogTranslator(['live']);
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [
  require('../../nodes/store-config/store-config'),
  require('../../nodes/live/live'),
  (r: NodeAPI) => {
    (r as unknown as { _: typeof translate })._ = translate;
  },
];
/* eslint-enable @typescript-eslint/no-require-imports */
helper.init(require.resolve('node-red'));

let influx: TsdbServer;

before(async () => {
  influx = await startInfluxd();
  helper.settings({ upperstack: { dataDir: tempDir('us-live-server-') } });
  await helper.startServer();
});
after(async () => {
  await helper.unload();
  await helper.stopServer();
  await influx?.destroy();
});

test('live starting from an InfluxDB-only store warns at deploy that the table and charts start empty, naming the store', async () => {
  type Spied = { warn: { getCalls(): Array<{ args: unknown[]; thisValue: { id: string } }> } };
  await helper.load(nodes, [
    { id: 'tab', type: 'tab' },
    // As the default pack is deployed with UPPERSTACK_STORE=influxdb.
    { id: 'cfg', type: 'upperstack-store-config', name: 'InfluxDB only', sinks: [{ id: 'influx', kind: 'influxdb', url: influx.url, api: 'auto', database: 'live', flushMs: 20 }], batchSize: 1000, flushMs: 20, configVersion: 5, querySink: '' },
    { id: 'live', type: 'upperstack-live', z: 'tab', store: 'cfg', fields: 'temperature', columns: '', interval: 0.5, maxDevices: 1000, configVersion: 1, wires: [['table'], ['t']] },
    { id: 'table', type: 'helper', z: 'tab' },
    { id: 't', type: 'helper', z: 'tab' },
  ]);
  const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
  await cfg.ready;
  assert.equal(cfg.store.latest, undefined, 'a store read from the server has no latest values to start from');
  const warned = () => (helper.getNode('live') as unknown as Spied).warn.getCalls().filter((c) => c.thisValue.id === 'live').map((c) => String(c.args[0]));
  const said = await eventually(async () => (warned().length ? warned() : undefined), 30_000, 'the warning');
  assert.equal(said.length, 1);
  assert.match(said[0], /^Start from "InfluxDB only" cannot fill the table and the charts: .*InfluxDB or VictoriaMetrics server.*start empty until devices report again\. Choose "none"/);
});
