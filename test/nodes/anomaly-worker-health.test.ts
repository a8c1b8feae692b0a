/**
 * /health and the anomaly node's worker thread: healthy while the worker runs,
 * 503 naming `anomaly:<name>` with the crash and the restart count while it is
 * down and while it crash-loops, 200 again once it is back and judging; gone
 * from /health when the node is removed. The worker is killed as a bug or an
 * out-of-memory would kill it, and its restarts are made to die at start.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'node:worker_threads';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { EngineHost } from '../../nodes/lib/anomaly/remote/host';
import { checkHealth } from '../../nodes/shared/runtime';
import { eventually } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { catalogTranslator, collect, input, translating, until } from '../helpers/node-red';
import { anomalyFlow, steadyReading } from '../helpers/anomaly-flow';

helper.init(require.resolve('node-red'));

let red: NodeAPI | undefined;
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [(r: NodeAPI) => (red = r), translating(catalogTranslator(['anomaly'])), require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/anomaly/anomaly')];

interface HealthBody {
  status: string;
  failing: string[];
  problems: Array<{ component: string; code: string; message: string; lastError?: string }>;
  components: Record<string, { ok: boolean; detail: string }>;
}

describe('/health and the anomaly worker', () => {
  const dir = tempDir('us-anomaly-health-');
  let server: Server | undefined;
  let url = '';

  before(async () => {
    helper.settings({ upperstack: { dataDir: join(dir, 'data'), apiKey: 'k' } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
    await helper.unload();
  });

  const health = async (): Promise<{ status: number; body: HealthBody }> => {
    const res = await fetch(`${url}/health`);
    return { status: res.status, body: (await res.json()) as HealthBody };
  };
  const answers = (status: number, what: string, ok: (b: HealthBody) => boolean) =>
    eventually(async () => {
      const h = await health();
      return h.status === status && ok(h.body) ? h.body : undefined;
    }, 30_000, what);

  test('a killed worker fails /health while it is down and crash-looping, and passes again once it judges', async () => {
    await helper.load(nodes, [
      ...anomalyFlow('det', { configVersion: 3, worker: true, name: 'detector' }),
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, 'store.duckdb'), batchSize: 10, flushMs: 10, configVersion: 1 },
      { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    ]);
    server = createServer(red!.httpNode as never);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const out1 = collect<unknown>('det-out1');
    for (let i = 0; i < 12; i++) input('det', { payload: steadyReading('dev1', i) });
    await until(() => out1.length === 12, 'the readings judged');
    const host = (helper.getNode('det') as unknown as { anomalyHost: EngineHost }).anomalyHost;
    assert.equal(host.mode, 'worker');
    const up = await answers(200, 'healthy with the worker running', (b) => b.components['anomaly:detector']?.ok === true);
    assert.match(up.components['anomaly:detector'].detail, /worker thread \(restarted 0 times\)/);

    // Every restart dies before it is ready, as a worker that cannot start would: a crash loop.
    const script = join(dir, 'dies-at-start.js');
    writeFileSync(script, 'process.exit(3);\n');
    const seam = host as unknown as { script: string; worker: Worker };
    const real = seam.script;
    seam.script = script;
    await seam.worker.terminate();

    const down = await answers(503, 'the worker down', (b) => b.failing.includes('anomaly:detector'));
    const problem = down.problems.find((p) => p.component === 'anomaly:detector');
    assert.equal(problem?.code, 'FAILING');
    assert.match(problem?.message ?? '', /^anomaly worker restarting after crash: the anomaly worker exited with code \d+/);
    assert.match(problem?.lastError ?? '', /exited with code/);

    const looping = await answers(503, 'restarted twice and still down', (b) => /restarted ([2-9]|\d\d+) times so far/.test(b.components['anomaly:detector']?.detail ?? ''));
    assert.match(looping.components['anomaly:detector'].detail, /exited with code 3 before it started/);
    assert.equal(looping.components['anomaly:detector'].ok, false);

    // The next restart works: the worker is back and judges again.
    seam.script = real;
    await until(() => host.condition().state !== 'down', 'the worker back', 60_000);
    input('det', { payload: steadyReading('dev1', 12) });
    await until(() => out1.length === 13, 'judged after the restart', 60_000);
    const back = await answers(200, 'healthy again', (b) => b.components['anomaly:detector']?.ok === true);
    assert.deepEqual(back.failing, []);
    assert.match(back.components['anomaly:detector'].detail, /restarted [2-9]\d* times|restarted \d\d+ times/);

    // Removed from /health with the node.
    await helper.unload();
    assert.equal((await checkHealth())['anomaly:detector'], undefined);
  });
});
