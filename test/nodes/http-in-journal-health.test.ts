/**
 * An HTTP input whose journal cannot be opened at deploy (its data folder on a read-only disk) takes nothing:
 * /health says so, 503 naming `journal:<input>` and why, instead of 200 with the input in no list. Deployed
 * again once the disk takes writes, the input's journal is listed and /health is 200. (HTTP inputs have no
 * component of their own otherwise: a journal that cannot be written while running is JOURNAL_FAILING,
 * test/integration/disk-full-http-coap.test.ts.) The read-only disk is a tmpfs the test mounts, as root.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { checkHealth } from '../../nodes/shared/runtime';
import { mountTmpfs, remount, unmount } from '../helpers/full-disk';
import { eventually } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

helper.init(require.resolve('node-red'));

let red: NodeAPI | undefined;
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [(r: NodeAPI) => (red = r), require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/http-in/http-in')];

interface HealthBody {
  status: string;
  failing: string[];
  problems: Array<{ component: string; code: string; message: string }>;
  journals: Array<{ name: string }>;
}

let mountPoint = '';
let server: Server | undefined;
const scratch = tempDir('us-http-journal-health-');

before(async () => {
  mountPoint = mountTmpfs('us-http-journal-health-mnt-', '8m');
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: mountPoint, apiKey: 'k' } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  unmount(mountPoint);
});
afterEach(async () => {
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
});

const flow = [
  { id: 'tab', type: 'tab', label: 'test' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(scratch, 'store.duckdb'), batchSize: 10, flushMs: 10, configVersion: 1 },
  { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
  { id: 'hin', type: 'upperstack-http-in', z: 'tab', name: 'devices', wires: [[], []] },
];

async function health(): Promise<{ status: number; body: HealthBody }> {
  server ??= createServer(red!.httpNode as never);
  if (!server.listening) await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health`);
  return { status: res.status, body: (await res.json()) as HealthBody };
}

test('an HTTP input that cannot open its journal fails /health until it is deployed with a disk that takes writes', async () => {
  remount(mountPoint, 'ro');
  await helper.load(nodes, flow);
  const down = await eventually(async () => {
    const h = await health();
    return h.status === 503 ? h.body : undefined;
  }, 30_000, '/health 503');
  assert.deepEqual(down.failing, ['journal:devices']);
  const problem = down.problems.find((p) => p.component === 'journal:devices');
  assert.equal(problem?.code, 'FAILING');
  assert.match(problem?.message ?? '', /^the input cannot open its journal, so it takes nothing from devices until it is deployed again: cannot create journal folder .*journal\/hin/);

  await helper.unload();
  assert.equal((await checkHealth())['journal:devices'], undefined, 'gone with the node');
  remount(mountPoint, 'rw');
  await helper.load(nodes, flow);
  const up = await eventually(async () => {
    const h = await health();
    return h.status === 200 ? h.body : undefined;
  }, 30_000, '/health 200');
  assert.deepEqual(up.failing, []);
  assert.deepEqual(
    up.journals.map((j) => j.name),
    ['journal:devices'],
  );
  await helper.unload();
});
