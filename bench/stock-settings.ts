/**
 * Settings for the stock Node-RED reference of the pipeline benchmark: a plain
 * Node-RED 4.1 (node_modules/node-red/red.js -s this-file -u <dir>) with only the
 * core nodes. The flow's function nodes get @duckdb/node-api through
 * functionGlobalContext, which works offline (no functionExternalModules install).
 */
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

export = {
  uiPort: Number(process.env.BENCH_STOCK_PORT || 1890),
  uiHost: '127.0.0.1',
  flowFile: 'flows.json',
  credentialSecret: false,
  // No editor: this process only runs the flow and its small HTTP read path.
  httpAdminRoot: false,
  httpNodeRoot: '/',
  functionExternalModules: false,
  externalModules: { palette: { allowInstall: false } },
  functionGlobalContext: {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the stock flow's function nodes get this copy, loaded by path
    duckdb: require(join(root, 'node_modules', '@duckdb', 'node-api')) as unknown,
    benchDbPath: process.env.BENCH_STOCK_DB || join(process.cwd(), 'stock.duckdb'),
    benchSharedConn: process.env.BENCH_STOCK_SHARED_CONN === '1',
  },
  telemetry: { enabled: false },
  diagnostics: { enabled: false },
  logging: { console: { level: process.env.BENCH_STOCK_LOG_LEVEL || 'warn', metrics: false, audit: false } },
};
