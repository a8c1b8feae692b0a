/**
 * An HTTP input whose journal cannot be opened at deploy (its data folder on a read-only disk) takes nothing:
 * /health says so, 503 naming `journal:<input>` and why, instead of 200 with the input in no list; its routes
 * answer 503 JSON naming the journal's folder and why, with Retry-After, instead of Express's HTML 404 of an
 * unknown path. Once the disk takes writes the input opens its journal by itself (no deploy): a request is
 * 202, the input's journal is listed and /health is 200. (HTTP inputs have no
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
  // A failed assertion leaves the input deployed and the disk read-only: neither may hold the file open.
  await helper.unload();
  remount(mountPoint, 'rw');
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
});

const flow = [
  { id: 'tab', type: 'tab', label: 'test' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(scratch, 'store.duckdb'), batchSize: 10, flushMs: 10, configVersion: 1 },
  { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
  { id: 'hin', type: 'upperstack-http-in', z: 'tab', name: 'devices', wires: [[], []] },
];

async function base(): Promise<string> {
  server ??= createServer(red!.httpNode as never);
  if (!server.listening) await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function health(): Promise<{ status: number; body: HealthBody }> {
  const res = await fetch(`${await base()}/health`);
  return { status: res.status, body: (await res.json()) as HealthBody };
}

async function ingest(): Promise<{ status: number; type: string; retryAfter: string | null; text: string }> {
  const res = await fetch(`${await base()}/ingest/d1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ temp: 20 }) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), text: await res.text() };
}

test('an HTTP input that cannot open its journal answers 503 JSON and fails /health until the disk takes writes, then takes requests without a deploy', async () => {
  remount(mountPoint, 'ro');
  await helper.load(nodes, flow);
  const refused = await ingest();
  assert.equal(refused.status, 503, refused.text);
  assert.match(refused.type, /^application\/json/);
  assert.equal(refused.retryAfter, '5');
  const error = (JSON.parse(refused.text) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'BACKPRESSURE');
  assert.match(error.message, /^devices takes nothing: its journal cannot be opened \(cannot create journal folder .*journal\/hin: E[A-Z]+: .+\); retry in 5 s$/);
  assert.ok(error.message.includes(join(mountPoint, 'journal', 'hin')), error.message);

  const down = await eventually(async () => {
    const h = await health();
    return h.status === 503 ? h.body : undefined;
  }, 30_000, '/health 503');
  assert.deepEqual(down.failing, ['journal:devices']);
  const problem = down.problems.find((p) => p.component === 'journal:devices');
  assert.equal(problem?.code, 'FAILING');
  assert.match(problem?.message ?? '', /^the input cannot open its journal, so it takes nothing from devices until it can \(it is tried again every 5 s\): cannot create journal folder .*journal\/hin/);

  remount(mountPoint, 'rw');
  const accepted = await eventually(async () => {
    const r = await ingest();
    return r.status === 503 ? undefined : r;
  }, 30_000, 'a request taken once the disk takes writes');
  assert.equal(accepted.status, 202, accepted.text);
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
  assert.equal((await checkHealth())['journal:devices'], undefined, 'gone with the node');
});
