/**
 * Backtests over HTTP in a Node-RED test runtime: the query API's
 * POST /api/v1/anomaly/backtest and the editor's admin route, each served by a
 * real HTTP server on a free port, over a real DuckDB file.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from '../helpers/temp';
import { catalogTranslator } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const translate = catalogTranslator(['anomaly']);

let red: NodeAPI | undefined;
// Loaded like a node module, so the test gets the same RED (and Express apps) as the nodes.
const captureRed = (r: NodeAPI) => {
  red = r;
  (r as unknown as { _: typeof translate })._ = translate;
};
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/anomaly/anomaly'), captureRed];

helper.init(require.resolve('node-red'));

const KEY = 'backtest-test-key';
const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;
/** Pressure one reading a minute, a jump to 9 bar at minute 45. */
const pressure = (i: number) => (i === 45 ? 9 : 2 + Math.sin(i * 1.7) * 0.05);

function flow() {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
    { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
  ];
}

function listen(app: (req: never, res: never) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(app as never);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

interface ErrorBody {
  error: { code: string; parameter?: string; message: string };
}
interface Result {
  scanned: number;
  flagged: number;
  warmingUp: number;
  anomalies: Array<{ ts: string; value: number; reason: string }>;
}

describe('backtest over HTTP', () => {
  let servers: Server[] = [];
  let api = '';
  let admin = '';

  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-backtest-'), apiKey: KEY } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  beforeEach(async () => {
    await helper.load(nodes, flow());
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    await cfg.store.write(Array.from({ length: 60 }, (_, i) => ({ device: 'pump-7', ts: T0 + i * MIN, fields: { pressure: pressure(i), mode: 'auto' }, tags: {} })));
    const a = await listen(red!.httpNode as never);
    const b = await listen(red!.httpAdmin as never);
    servers = [a.server, b.server];
    api = a.url;
    admin = b.url;
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await helper.unload();
  });

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const withKey = { authorization: `Bearer ${KEY}` };
  const series = { device: 'pump-7', field: 'pressure' };

  test('the API needs the key: none or a wrong one is 401', async () => {
    const none = await post(`${api}/api/v1/anomaly/backtest`, series);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await none.json()) as ErrorBody).error.code, 'UNAUTHORIZED');
    const wrong = await post(`${api}/api/v1/anomaly/backtest`, series, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
  });

  test('the API replays the stored series and lists the flagged readings with reasons', async () => {
    const res = await post(`${api}/api/v1/anomaly/backtest`, { ...series, from: '2026-01-01', detector: { type: 'zscore', robust: true, warmup: 10 }, units: { pressure: 'bar' } }, withKey);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const r = (await res.json()) as Result;
    assert.equal(r.scanned, 60);
    assert.equal(r.warmingUp, 10);
    assert.ok(r.flagged >= 1);
    const jump = r.anomalies.find((a) => a.ts === '2026-01-01T00:45:00.000Z');
    assert.ok(jump, 'the jump to 9 bar is flagged');
    assert.match(jump.reason, /^pressure 9(\.0+)? bar/);
    // The readings API still answers beside it.
    const readings = await fetch(`${api}/api/v1/readings?device=pump-7&fields=pressure&limit=2`, { headers: withKey });
    assert.equal(readings.status, 200);
  });

  test('the API names the bad parameter in a 400; a huge body is 413', async () => {
    const bad = await post(`${api}/api/v1/anomaly/backtest`, { ...series, detector: { type: 'zscore', window: 'soon' } }, withKey);
    assert.equal(bad.status, 400);
    const e = ((await bad.json()) as ErrorBody).error;
    assert.deepEqual([e.code, e.parameter], ['DETECTOR_CONFIG', 'zscore.window']);
    const notJson = await post(`${api}/api/v1/anomaly/backtest`, 'device=pump-7', withKey);
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as ErrorBody).error.parameter, 'body');
    const huge = await post(`${api}/api/v1/anomaly/backtest`, { ...series, detector: { type: 'zscore', note: 'x'.repeat(100_000) } }, withKey);
    assert.equal(huge.status, 413);
    assert.equal(((await huge.json()) as ErrorBody).error.code, 'PAYLOAD_TOO_LARGE');
  });

  /** What the editor sends: the dialog's settings as text, as the node stores them. */
  const dialog = (extra: Record<string, string> = {}) => ({
    detector: 'robust-zscore', min: '', max: '', sigma: '', window: '', season: '', advanced: '', threshold: '0.5', maxSeries: '10000',
    fields: '', units: 'pressure=bar', warmup: '10', heartbeatInterval: '', heartbeatMissed: '3', store: 'cfg', configVersion: 2, ...extra,
  });

  test('the admin route runs the unsaved dialog settings: the same answer as the API for the same detector', async () => {
    const viaAdmin = await post(`${admin}/upperstack-anomaly/backtest`, { config: dialog(), ...series, from: T0 });
    assert.equal(viaAdmin.status, 200);
    const a = (await viaAdmin.json()) as Result;
    const viaApi = (await (await post(`${api}/api/v1/anomaly/backtest`, { ...series, from: T0, detector: { type: 'zscore', robust: true }, warmup: 10, units: { pressure: 'bar' } }, withKey)).json()) as Result;
    assert.deepEqual(a, viaApi);

    // Fixed limits at 5 bar flag exactly the readings above 5.
    const limits = (await (await post(`${admin}/upperstack-anomaly/backtest`, { config: dialog({ detector: 'limits', max: '5', warmup: '' }), ...series })).json()) as Result;
    const above = Array.from({ length: 60 }, (_, i) => pressure(i)).filter((v) => v > 5).length;
    assert.equal(limits.scanned, 60);
    assert.equal(limits.flagged, above);
    assert.equal(limits.warmingUp, 0);
  });

  test('the admin route names what to fix: the store, a field the node does not watch, a bad setting', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ config: dialog({ store: '' }), ...series }, 'store', /choose a store/],
      [{ config: dialog({ store: 'not-deployed' }), ...series }, 'store', /not deployed/],
      [{ config: dialog({ fields: 'temperature' }), ...series }, 'field', /watches only temperature/],
      [{ config: dialog({ sigma: 'lots' }), ...series }, 'sigma', /sigma must be a number/],
      [{ config: dialog({ advanced: '{"window": ' }), ...series }, 'advanced', /not valid JSON/],
      [{ config: dialog(), device: 'pump-7' }, 'field', /"field" is required/],
      [{ ...series }, 'config', /settings/],
    ];
    for (const [body, parameter, message] of cases) {
      const res = await post(`${admin}/upperstack-anomaly/backtest`, body);
      assert.equal(res.status, 400, parameter);
      const e = ((await res.json()) as ErrorBody).error;
      assert.equal(e.parameter, parameter);
      assert.match(e.message, message);
    }
  });
});
