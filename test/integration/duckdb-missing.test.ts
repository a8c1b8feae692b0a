/**
 * The package in a user's own Node-RED where DuckDB's native part is not
 * installed (a platform DuckDB has no build for, or `npm install
 * --omit=optional`): every node type still registers, so Node-RED starts the
 * flows, the user's own among them; the store config says why it cannot start
 * (log, /health, query API), naming the platform and what to do.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/temp';
import { declaredNodeTypes, startUserNodeRed, upperstackNodeSets, type UserNodeRed } from '../helpers/user-node-red';

const KEY = 'duckdb-missing-test-key-0123456789';
const PLATFORM = `${process.platform}-${process.arch}`;

let nodeRed: UserNodeRed;
let url = '';
const out = () => nodeRed.output();

before(async () => {
  nodeRed = await startUserNodeRed({
    userDir: tempDir('us-noduck-'),
    preload: 'no-duckdb-bindings.js',
    env: { UPPERSTACK_API_KEY: KEY },
    // The user's own flow beside an Upperstack store and query API.
    flows: [
      { id: 'tab1', type: 'tab', label: 'mine' },
      { id: 'mine_in', type: 'http in', z: 'tab1', url: '/mine', method: 'get', wires: [['mine_set']] },
      { id: 'mine_set', type: 'change', z: 'tab1', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'mine works', tot: 'str' }], wires: [['mine_out']] },
      { id: 'mine_out', type: 'http response', z: 'tab1', statusCode: '', headers: {}, wires: [] },
      { id: 'cfg', type: 'upperstack-store-config', name: 'embedded DuckDB', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64, retention: '30d', rollupRetention: '1y' }], configVersion: 5 },
      { id: 'api', type: 'upperstack-api', z: 'tab1', name: 'query API', store: 'cfg', configVersion: 1, wires: [] },
    ],
    // Without every type registered Node-RED waits for the missing ones and never starts the flows.
    started: /Started flows|Waiting for missing types/,
  });
  url = nodeRed.url;
});

after(async () => {
  await nodeRed?.stop();
});

/** The store config's reason, as the log, /health and the API give it. */
const REASON = new RegExp(`the embedded DuckDB cannot be loaded on ${PLATFORM} .*@duckdb/node-bindings-${PLATFORM}.*--omit=optional.*InfluxDB or VictoriaMetrics`);

test('without DuckDB\'s native part every Upperstack node type registers and the flows start', async () => {
  const { ours } = await upperstackNodeSets(url);
  assert.deepEqual(ours.flatMap((s) => s.types).sort(), declaredNodeTypes().sort());
  assert.deepEqual(ours.filter((s) => s.err || !s.enabled).map((s) => `${s.types.join(',')}: ${s.err}`), []);
  assert.doesNotMatch(out(), /Waiting for missing types/, out());
  const mine = await fetch(`${url}/mine`);
  assert.equal(mine.status, 200);
  assert.equal(await mine.text(), 'mine works');
});

test('the store config says in the log why it cannot start and what to do', () => {
  const line = out().split('\n').find((l) => /\[error\] \[upperstack-store-config:embedded DuckDB\]/.test(l));
  assert.ok(line, out());
  assert.match(line, REASON);
  // One line: no require stack.
  assert.doesNotMatch(out(), /Require stack/, out());
});

test('the query API answers 503 STORE_UNAVAILABLE with that reason, and /health lists the store failing', async () => {
  const res = await fetch(`${url}/api/v1/readings?device=dev1`, { headers: { authorization: `Bearer ${KEY}` } });
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, 503, JSON.stringify(body));
  assert.equal(body.error.code, 'STORE_UNAVAILABLE');
  assert.match(body.error.message, REASON);
  const health = await fetch(`${url}/health`);
  const report = (await health.json()) as { status: string; failing: string[]; problems: Array<{ component: string; message: string }> };
  assert.equal(health.status, 503);
  assert.deepEqual(report.failing, ['store:embedded DuckDB']);
  assert.match(report.problems.find((p) => p.component === 'store:embedded DuckDB')?.message ?? '', REASON);
});
