/**
 * What the dead letters of the CoAP input keep, in a Node-RED test runtime
 * with a real DuckDB file, the API on a real HTTP server and coap-client-notls:
 * a body that does not decode is kept for a replay, an impostor's body
 * (DEVICE_MISMATCH) is not, only why it was refused.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from '../helpers/temp';
import { freeUdpPort } from '../helpers/ports';
import { withRegistered } from '../helpers/registered';

helper.init(require.resolve('node-red'));
const run = promisify(execFile);

const KEY = 'coap-deadletters-key';
let red: NodeAPI | undefined;
let dir = '';
let server: Server | undefined;
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/deadletter/deadletter'), require('../../nodes/coap-in/coap-in'), (r: NodeAPI) => (red = r)];

interface Letter {
  device: string;
  code: string;
  reason: string;
  payload: string;
  replayable: boolean;
}

before(async () => {
  dir = tempDir('us-coap-letters-');
  helper.settings({ upperstack: { dataDir: dir, apiKey: KEY } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  if (server) await new Promise((r) => server!.close(r));
  await helper.unload();
});

/** coap-client-notls POST; its output (the answer code and diagnostic). */
async function post(port: number, path: string, body: string): Promise<string> {
  const r = await run('coap-client-notls', ['-m', 'post', '-t', '50', '-e', body, `coap://127.0.0.1:${port}${path}`], { timeout: 20_000 }).catch((e: { stdout: string; stderr: string }) => e);
  return `${r.stdout}${r.stderr}`;
}

test('a CoAP DEVICE_MISMATCH letter keeps why, not the impostor\'s body; a DECODE_FAILED one keeps its body', async () => {
  const port = await freeUdpPort();
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, 'letters.duckdb'), batchSize: 100, flushMs: 10, configVersion: 1 },
    { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    { id: 'coap', type: 'upperstack-coap-in', z: 'tab', port: String(port), bind: '127.0.0.1', wires: [[], ['dead']] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
  ]);
  await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
  server = createServer(red!.httpNode as never);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The socket is bound once discovery answers.
  for (let i = 0; i < 100; i++) {
    const core = await run('coap-client-notls', ['-m', 'get', '-B', '1', `coap://127.0.0.1:${port}/.well-known/core`]).catch(() => ({ stdout: '' }));
    if (core.stdout.includes('telemetry')) break;
  }
  const release = await withRegistered('k4');
  try {
    assert.match(await post(port, '/telemetry/k3', '{"device":"k4","secret-plan":1}'), /4\.03/);
  } finally {
    release();
  }
  assert.match(await post(port, '/telemetry/k3', '{"t":'), /4\.00/);

  let letters: Letter[] = [];
  for (let i = 0; i < 600 && letters.length < 2; i++) {
    const res = await fetch(`${url}/api/v1/deadletters?device=k3`, { headers: { authorization: `Bearer ${KEY}` } });
    letters = ((await res.json()) as { deadLetters: Letter[] }).deadLetters;
    if (letters.length < 2) await new Promise((r) => setTimeout(r, 50));
  }
  const byCode = new Map(letters.map((l) => [l.code, l]));
  const impostor = byCode.get('DEVICE_MISMATCH');
  assert.ok(impostor, JSON.stringify(letters));
  assert.match(impostor.reason, /names device "k4" but the path names "k3"/);
  assert.equal(impostor.payload, '');
  assert.equal(impostor.replayable, false);
  const bad = byCode.get('DECODE_FAILED');
  assert.ok(bad, JSON.stringify(letters));
  assert.equal(bad.payload, '{"t":');
  assert.equal(bad.replayable, true);
});
