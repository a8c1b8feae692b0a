/**
 * The report and invoice nodes in a Node-RED test runtime over a real DuckDB file, for
 * test/nodes/report.test.ts and test/nodes/invoice.test.ts: the flow (a store config, the API node, a report
 * node `rep` and an invoice node `inv`, each with helper nodes on its outputs), October 2026 of three meters
 * in the store, and the runtime's HTTP routes on a free loopback port.
 */
import { after, afterEach, before, beforeEach } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from './temp';
import { catalogTranslator } from './node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const translate = catalogTranslator(['report', 'invoice']);

let red: NodeAPI | undefined;
const captureRed = (r: NodeAPI) => {
  red = r;
  (r as unknown as { _: typeof translate })._ = translate;
};
export const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/report/report'), require('../../nodes/invoice/invoice'), captureRed];

helper.init(require.resolve('node-red'));

export const KEY = 'report-test-key';
export const DAY = 86_400_000;
export const OCT = Date.UTC(2026, 9, 1);

export interface Msg {
  topic?: string;
  payload: unknown;
  filename?: string;
  attachments?: Array<{ filename: string; content: Buffer; contentType: string }>;
  report?: { id: string; period: { key: string }; files: Array<{ name: string }> };
  invoice?: { number: string; reissued: boolean };
}

export const TARIFFS = JSON.stringify([
  { name: 'standard', customers: ['*'], currency: 'EUR', standingCharge: '5', taxPercent: '20', meters: [{ field: 'kwh', measure: 'delta', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.3333' } }] },
]);

export function flow(extra: Array<Record<string, unknown>> = [], report: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, memoryLimit: 64, configVersion: 2 },
    { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    { id: 'rep', type: 'upperstack-report', z: 'tab', store: 'cfg', report: 'meters daily', devicesMode: 'tag', tagKey: 'customer', tagValue: 'acme', fields: 'kwh', schedule: 'none', timezone: 'UTC', units: 'kwh = kWh', wires: [['out1'], ['out2']], ...report },
    { id: 'inv', type: 'upperstack-invoice', z: 'tab', store: 'cfg', series: 'INV', tariffs: TARIFFS, schedule: 'none', timezone: 'UTC', seller: 'Upperstack Energy', wires: [['iout1'], ['iout2']] },
    { id: 'out1', type: 'helper', z: 'tab' },
    { id: 'out2', type: 'helper', z: 'tab' },
    { id: 'iout1', type: 'helper', z: 'tab' },
    { id: 'iout2', type: 'helper', z: 'tab' },
    ...extra,
  ];
}

function listen(app: (req: never, res: never) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(app as never);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

function collect(id: string): Msg[] {
  const out: Msg[] = [];
  (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('input', (m: Msg) => out.push(m));
  return out;
}

export async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ReportNodes {
  /** The data folder of the running test (a new one for each). */
  readonly dataDir: string;
  /** The runtime's HTTP routes, once deployed. */
  readonly api: string;
  readonly withKey: { authorization: string };
  /** Loads the flow and starts collecting what the helper nodes receive at once, so runs at deploy are seen. */
  deploy(f: Array<Record<string, unknown>>): Promise<Record<'out1' | 'out2' | 'iout1' | 'iout2', Msg[]>>;
  /** Stops serving the HTTP routes (the flow stays). */
  stopServing(): Promise<void>;
  /** Stops serving and unloads the flow, for a test that deploys again. */
  undeploy(): Promise<void>;
}

/** Call inside a describe block: the runtime starts before its tests, and each test's flow is unloaded after it. */
export function useReportNodes(): ReportNodes {
  let dataDir = '';
  let server: Server | undefined;
  let api = '';
  const stopServing = async () => {
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
  };

  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  beforeEach(() => {
    dataDir = tempDir('us-report-node-');
    helper.settings({ upperstack: { dataDir, apiKey: KEY } });
  });
  afterEach(async () => {
    await stopServing();
    await helper.unload();
  });

  return {
    get dataDir() {
      return dataDir;
    },
    get api() {
      return api;
    },
    withKey: { authorization: `Bearer ${KEY}` },
    async deploy(f) {
      await helper.load(nodes, f);
      const got = { out1: collect('out1'), out2: collect('out2'), iout1: collect('iout1'), iout2: collect('iout2') };
      const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
      await cfg.ready;
      const readings = [];
      for (let d = 0; d < 31; d++) {
        readings.push({ device: 'meter-a', ts: OCT + d * DAY, fields: { kwh: 100 + d * 0.1 }, tags: { customer: 'acme' } });
        readings.push({ device: 'meter-b', ts: OCT + d * DAY + 60_000, fields: { kwh: 7 + d * 0.2 }, tags: { customer: 'acme' } });
        readings.push({ device: 'meter-c', ts: OCT + d * DAY, fields: { kwh: 1 + d }, tags: { customer: 'globex' } });
      }
      await cfg.store.write(readings);
      const s = await listen(red!.httpNode as never);
      server = s.server;
      api = s.url;
      return got;
    },
    stopServing,
    async undeploy() {
      await stopServing();
      await helper.unload();
    },
  };
}
