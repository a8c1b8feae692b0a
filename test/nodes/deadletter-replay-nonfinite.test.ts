/**
 * A dead letter of a reading holding ±Infinity or NaN (a flow's own reading, a ratio over zero, that
 * a store refused) replayed through the CoAP input, in a Node-RED test runtime with a real DuckDB
 * file and the API on a real HTTP server: the replay is refused for the same field (INVALID_READING
 * naming it), where a letter written as JSON with null came back as "payload has no fields".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from '../helpers/temp';
import { freeUdpPort } from '../helpers/ports';
import { eventually } from '../helpers/runtime';

helper.init(require.resolve('node-red'));

const KEY = 'replay-nonfinite-key';
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
  contentType?: string;
  replayedAt: string | null;
}

before(async () => {
  dir = tempDir('us-replay-nonfinite-');
  helper.settings({ upperstack: { dataDir: dir, apiKey: KEY } });
  await helper.startServer();
});
after(async () => {
  if (server) await new Promise((r) => server!.close(r));
  await helper.unload();
  await helper.stopServer();
});

test('replayed, a letter of a reading holding Infinity or NaN is refused again for that field', async () => {
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
  const auth = { authorization: `Bearer ${KEY}` };
  const letters = async (device: string): Promise<Letter[]> => ((await (await fetch(`${url}/api/v1/deadletters?device=${device}`, { headers: auth })).json()) as { deadLetters: Letter[] }).deadLetters;

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
