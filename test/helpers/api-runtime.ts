/**
 * For the node tests of the query API over HTTP: the helper's runtime with a DuckDB store config and an
 * upperstack-api node (plus any other node modules and flow nodes a test adds), its admin and node apps
 * mounted on one Express app served on a free port, started before the describe block's tests and
 * stopped after them.
 */
import { after, before } from 'node:test';
import express from 'express';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { serveApp } from './node-red';
import { tempDir } from './temp';

helper.init(require.resolve('node-red'));

export interface ApiRuntime {
  /** The served app's base URL, set once the runtime is up. */
  url: string;
  /** The store config node `cfg`, once its store is open. */
  cfg: StoreConfigNode;
  dataDir: string;
}

/**
 * Call inside a describe block: the runtime starts before its tests with the API key `key`, the
 * flow's store opened and `seed` run on it; everything stops after the block.
 */
export function useApiRuntime(
  prefix: string,
  key: string,
  opts: {
    modules?: unknown[];
    flow?: Array<Record<string, unknown>>;
    settings?: Record<string, unknown>;
    seed?: (cfg: StoreConfigNode) => Promise<void>;
    /** The apps mounted on the served app after the node modules load, before the flows start (an embedding may do it in that order). */
    mountAfterModules?: boolean;
  } = {},
): ApiRuntime {
  const rt = { url: '', dataDir: tempDir(prefix) } as ApiRuntime;
  let app: express.Express;
  const mount = (r: NodeAPI) => {
    app = express();
    app.use(r.httpAdmin);
    app.use(r.httpNode);
  };
  /* eslint-disable @typescript-eslint/no-require-imports */
  const modules = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), ...(opts.modules ?? [])];
  /* eslint-enable @typescript-eslint/no-require-imports */
  const nodes = opts.mountAfterModules ? [...modules, mount] : [mount, ...modules];
  const flow = [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
    { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    ...(opts.flow ?? []),
  ];
  let served: Awaited<ReturnType<typeof serveApp>> | undefined;
  before(async () => {
    helper.settings({ upperstack: { dataDir: rt.dataDir, apiKey: key }, ...opts.settings });
    await helper.startServer();
    await helper.load(nodes, flow);
    rt.cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await rt.cfg.ready;
    await opts.seed?.(rt.cfg);
    served = await serveApp(app);
    rt.url = served.url;
  });
  after(async () => {
    await served?.close();
    await helper.unload();
    await helper.stopServer();
  });
  return rt;
}
