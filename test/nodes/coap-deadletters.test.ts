/**
 * What the dead letters of the CoAP input keep, in a Node-RED test runtime
 * with a real DuckDB file, the API on a real HTTP server and coap-client-notls:
 * a body that does not decode is kept for a replay, an impostor's body
 * (DEVICE_MISMATCH) is not, only why it was refused; a letter of a reading
 * holding ±Infinity or NaN (a flow's own reading, a ratio over zero, that a
 * store refused) replayed through the CoAP input is refused again for the same
 * field (INVALID_READING naming it), not as "payload has no fields".
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
import { eventually } from '../helpers/runtime';

helper.init(require.resolve('node-red'));
const run = promisify(execFile);

const KEY = 'coap-deadletters-key';
let red: NodeAPI | undefined;
let dir = '';
let server: Server | undefined;
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/deadletter/deadletter'), require('../../nodes/coap-in/coap-in'), (r: NodeAPI) => (red = r)];

interface Letter {
  id: number;
  device: string;
  code: string;
  reason: string;
  payload: string;
  replayable: boolean;
  contentType?: string;
  replayedAt: string | null;
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

/** A runtime with a DuckDB store, the API on a real HTTP server, a CoAP input and a dead-letter node. */
async function start(file: string): Promise<{ port: number; url: string; letters(device: string): Promise<Letter[]> }> {
  const port = await freeUdpPort();
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, file), batchSize: 100, flushMs: 10, configVersion: 1 },
    { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    { id: 'coap', type: 'upperstack-coap-in', z: 'tab', port: String(port), bind: '127.0.0.1', wires: [[], ['dead']] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
  ]);
  await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
  server = createServer(red!.httpNode as never);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const letters = async (device: string): Promise<Letter[]> =>
    ((await (await fetch(`${url}/api/v1/deadletters?device=${device}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { deadLetters: Letter[] }).deadLetters;
  return { port, url, letters };
}

test('a CoAP DEVICE_MISMATCH letter keeps why, not the impostor\'s body; a DECODE_FAILED one keeps its body', async () => {
  const { port, letters: lettersOf } = await start('letters.duckdb');

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
    letters = await lettersOf('k3');
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

test('replayed, a letter of a reading holding Infinity or NaN is refused again for that field', async () => {
  const { url, letters } = await start('replay.duckdb');
  const auth = { authorization: `Bearer ${KEY}` };

  const ts = Date.UTC(2026, 0, 1);
  const dead = helper.getNode('dead') as unknown as { receive(m: unknown): void };
  const cases = [
    { device: 'calc-1', fields: { ratio: Infinity, n: 1 }, reason: /^fields\.ratio is Infinity/, contentType: 'application/json' },
    { device: 'calc-2', fields: { ratio: NaN, n: 1 }, reason: /^fields\.ratio is NaN/, contentType: 'application/cbor' },
  ];
  for (const c of cases) {
    dead.receive({ topic: `/telemetry/${c.device}`, source: `coap:/telemetry/${c.device}`, device: c.device, receivedAt: ts, payload: { device: c.device, ts, fields: c.fields, tags: {} }, error: { code: 'STORE_REJECTED', message: 'the duckdb store refused this reading' } });
  }
  const first = new Map<string, Letter>();
  for (const c of cases) {
    const [l] = await eventually(async () => ((await letters(c.device)).length === 1 ? letters(c.device) : undefined), 30_000, `the letter of ${c.device}`);
    assert.equal(l.contentType, c.contentType, c.device);
    first.set(c.device, l);
  }

  const res = await fetch(`${url}/api/v1/deadletters/replay`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ ids: [...first.values()].map((l) => l.id) }) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(((await res.json()) as { replayed: number }).replayed, cases.length);

  for (const c of cases) {
    const [old, again] = await eventually(async () => ((await letters(c.device)).length === 2 ? letters(c.device) : undefined), 30_000, `the replay's letter of ${c.device}`);
    assert.ok(old.replayedAt, `${c.device}: marked replayed`);
    assert.equal(again.code, 'INVALID_READING', `${c.device}: ${again.reason}`);
    assert.match(again.reason, c.reason);
  }
});
