/**
 * The store config with an InfluxDB sink whose login is a Node-RED credential
 * (slot 1), against a real influxd 1.6.7 with authentication on: the store node
 * passes a message on only once DuckDB and InfluxDB both have its readings, and
 * the password never appears in the node's saved settings.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { Node } from 'node-red';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/store/store')];
helper.init(require.resolve('node-red'));

const auth = { user: 'admin', password: 'p@ss word' };
let influx: TsdbServer;

before(async () => {
  influx = await startInfluxd({ auth });
  helper.settings({ upperstack: { dataDir: tempDir('us-store-influx-') } });
  await helper.startServer();
});
after(async () => {
  await helper.unload();
  await helper.stopServer();
  await influx?.destroy();
});

test('readings reach DuckDB and an authenticated InfluxDB; the message leaves the store once both have it', async () => {
  const flow = [
    {
      id: 'cfg',
      type: 'upperstack-store-config',
      sinks: [
        { id: 'main', kind: 'duckdb', path: ':memory:', memoryLimit: 64 },
        { id: 'influx', kind: 'influxdb', url: influx.url, api: 'auto', database: 'nodes', slot: 3, flushMs: 20 },
      ],
      batchSize: 1000,
      flushMs: 20,
      configVersion: 3,
    },
    { id: 'store', type: 'upperstack-store', store: 'cfg', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  await helper.load(nodes, flow, { cfg: { user3: auth.user, password3: auth.password } });
  const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
  await cfg.ready;
  assert.equal(JSON.stringify(flow).includes(auth.password), false);
  const out = helper.getNode('out') as unknown as Node;
  const got = new Promise<{ payload: unknown }>((resolve) => out.on('input', (m: unknown) => resolve(m as { payload: unknown })));
  const ts = Date.UTC(2026, 0, 1);
  helper.getNode('store')!.receive({ payload: [{ device: 'd1', ts, fields: { t: 20, ok: true }, tags: { site: 'a b' } }] } as never);
  await got;
  // Durable in both before it left the store node: no waiting here.
  const [res] = await influxQuery(influx, 'SELECT t, ok, site FROM telemetry', 'nodes', auth);
  assert.deepEqual(res.series![0].values, [[ts, 20, true, 'a b']]);
  const page = await cfg.store.readings({ device: 'd1', limit: 10 });
  assert.equal(page.readings.length, 1);
  const stats = cfg.writer.stats();
  assert.deepEqual(stats.sinks.map((s) => [s.id, s.written]), [['main', 1], ['influx', 1]]);
});
