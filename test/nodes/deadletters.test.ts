/**
 * The dead-letter node keeps what a replay needs, and GET /api/v1/deadletters
 * serves the letters while the runtime runs: in a Node-RED test runtime with a
 * real DuckDB file, the API on a real HTTP server.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { requestOutcome } from '../../nodes/lib/inputs/request';
import type { ReadingValidator } from '../../nodes/lib/schema/validator';
import { tempDir } from '../helpers/temp';

helper.init(require.resolve('node-red'));

const KEY = 'deadletters-test-key';
let red: NodeAPI | undefined;
let dir = '';
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/deadletter/deadletter'), (r: NodeAPI) => (red = r)];

let db = 0;
// A database of its own for each test.
const flow = () => [
  { id: 'tab', type: 'tab', label: 'test' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, `t${db++}.duckdb`), batchSize: 100, flushMs: 10, configVersion: 1 },
  { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
  { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [['out']] },
  { id: 'out', type: 'helper', z: 'tab' },
];

interface Letter {
  id: number;
  device: string;
  source: string;
  code: string;
  payload: string;
  replayable: boolean;
  contentType?: string;
  format?: string;
  receivedAt?: string;
}

describe('dead letters: node and API', () => {
  let server: Server;
  let url = '';

  before(async () => {
    dir = tempDir('us-deadletters-');
    helper.settings({ upperstack: { dataDir: dir, apiKey: KEY } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  beforeEach(async () => {
    await helper.load(nodes, flow());
    await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
    server = createServer(red!.httpNode as never);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await helper.unload();
  });

  /** Sends a failed message through the dead-letter node; resolves what leaves its output. */
  function deadLetter(msg: Record<string, unknown>): Promise<{ payload: Record<string, unknown> }> {
    const out = helper.getNode('out') as unknown as NodeJS.EventEmitter;
    const got = new Promise<{ payload: Record<string, unknown> }>((resolve) => out.once('input', resolve));
    (helper.getNode('dead') as unknown as { receive(m: unknown): void }).receive(msg);
    return got;
  }

  const list = (query: string, headers: Record<string, string> = {}) => fetch(`${url}/api/v1/deadletters?${query}`, { headers: { authorization: `Bearer ${KEY}`, ...headers } });

  test('a letter keeps the message and how it came; the output and the list leave the bytes out', async () => {
    const bytes = Buffer.from([0xa1, 0x61, 0x74]);
    const out = await deadLetter({
      topic: '/ingest',
      source: 'http:/ingest',
      device: 'pump-1',
      contentType: 'application/cbor',
      format: 'cbor',
      receivedAt: Date.UTC(2026, 0, 1),
      payload: bytes,
      error: { code: 'DECODE_FAILED', message: 'CBOR ends early', offset: 3 },
    });
    assert.equal(out.payload.body, undefined);
    assert.equal(out.payload.code, 'DECODE_FAILED');
    const reading = { device: 'pump-1', ts: 1767225600000, fields: { 'bad name': 1 }, tags: {} };
    await deadLetter({ topic: 'devices/pump-1/telemetry', device: 'pump-1', payload: [reading], error: { code: 'SCHEMA_VIOLATION', message: 'bad', path: '/fields' } });

    const res = await list('device=pump-1');
    assert.equal(res.status, 200);
    const { deadLetters } = (await res.json()) as { deadLetters: Letter[] };
    assert.deepEqual(
      deadLetters.map((l) => [l.code, l.source, l.replayable, l.contentType, l.format]),
      [
        ['DECODE_FAILED', 'http:/ingest', true, 'application/cbor', 'cbor'],
        ['SCHEMA_VIOLATION', 'mqtt:devices/pump-1/telemetry', true, 'application/json', 'json'],
      ],
    );
    assert.equal(deadLetters[0].receivedAt, '2026-01-01T00:00:00.000Z');
    assert.equal(deadLetters[0].payload, `base64:${bytes.toString('base64')}`);
    // The store has the bytes for a replay.
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const [kept] = await cfg.store.deadLetters({ device: 'pump-1', limit: 1, order: 'asc', withBody: true });
    assert.equal(kept.body, bytes.toString('base64'));
  });

  test('a message a replay would refuse the same way (marked by its input) is listed with its excerpt and content type, not kept, not replayable', async () => {
    // An HTTP body whose Content-Type the route never reads, as the input hands it to the dead-letter node.
    const outcome = requestOutcome({ route: 'ingest', device: 'cam-1', contentType: 'image/png', payload: Buffer.from('PNG-ish'), receivedAt: Date.UTC(2026, 0, 1) }, { validate: (() => ({ ok: true })) as unknown as ReadingValidator, maxBytes: 1_048_576 });
    const error = { ...outcome.failures[0].error.toJSON() };
    await deadLetter({ topic: '/ingest/cam-1', source: 'http:/ingest/cam-1', device: 'cam-1', contentType: 'image/png', payload: Buffer.from('PNG-ish'), error });
    // The same message refused for what a setting decides (the input's format) keeps its bytes.
    await deadLetter({ topic: 'devices/cam-1/telemetry', device: 'cam-1', contentType: 'image/png', payload: Buffer.from('{"t":1}'), error: { code: 'UNSUPPORTED_FORMAT', message: 'content type image/png is not supported' } });
    const { deadLetters } = (await (await list('device=cam-1')).json()) as { deadLetters: Letter[] };
    assert.deepEqual(
      deadLetters.map((l) => [l.code, l.source, l.replayable, l.contentType, l.payload]),
      [
        ['UNSUPPORTED_FORMAT', 'http:/ingest/cam-1', false, 'image/png', 'PNG-ish'],
        ['UNSUPPORTED_FORMAT', 'mqtt:devices/cam-1/telemetry', true, 'image/png', '{"t":1}'],
      ],
    );
  });

  test('a reading holding ±Infinity or NaN is kept so that the HTTP input, taking it again, refuses it for the same field', async () => {
    const ts = Date.UTC(2026, 0, 1);
    // A flow's own readings (a ratio over zero) the store refused: nothing but the Reading has the value.
    await deadLetter({ topic: 'devices/calc-1/telemetry', device: 'calc-1', payload: { device: 'calc-1', ts, fields: { ratio: Infinity }, tags: {} }, error: { code: 'STORE_REJECTED', message: 'refused' } });
    await deadLetter({ topic: 'devices/calc-2/telemetry', device: 'calc-2', payload: [{ device: 'calc-2', ts, fields: { ratio: NaN, n: 1 }, tags: {} }], error: { code: 'STORE_REJECTED', message: 'refused' } });
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const passAll = (() => ({ ok: true })) as unknown as ReadingValidator;
    for (const [device, contentType, reason] of [
      ['calc-1', 'application/json', /^fields\.ratio is Infinity/],
      ['calc-2', 'application/cbor', /^\[0\]\.fields\.ratio is NaN/],
    ] as const) {
      const [kept] = await cfg.store.deadLetters({ device, limit: 1, order: 'asc', withBody: true });
      assert.equal(kept.contentType, contentType, device);
      const outcome = requestOutcome({ route: 'ingest', device, contentType: kept.contentType, payload: Buffer.from(kept.body!, 'base64'), receivedAt: ts }, { validate: passAll, maxBytes: 1_048_576 });
      assert.deepEqual(outcome.readings, [], `${device}: nothing of it is taken`);
      assert.equal(outcome.failures.length, 1, device);
      assert.equal(outcome.failures[0].error.code, 'INVALID_READING', device);
      assert.match(outcome.failures[0].error.message, reason);
    }
  });

  test('the API needs the key; CSV and paging work', async () => {
    for (let i = 0; i < 3; i++) await deadLetter({ device: `dev-${i}`, topic: `devices/dev-${i}/telemetry`, payload: `{"x":${i},`, error: { code: 'DECODE_FAILED', message: 'ends early' } });
    const none = await fetch(`${url}/api/v1/deadletters`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const first = (await (await list('limit=2')).json()) as { deadLetters: Letter[]; next: string };
    assert.deepEqual(first.deadLetters.map((l) => l.device), ['dev-0', 'dev-1']);
    const second = await list(`limit=2&cursor=${first.next}`, { accept: 'text/csv' });
    assert.match(second.headers.get('content-type') ?? '', /^text\/csv/);
    const rows = (await second.text()).trimEnd().split('\r\n');
    assert.equal(rows.length, 2);
    assert.match(rows[1], /,dev-2,mqtt:devices\/dev-2\/telemetry,DECODE_FAILED,ends early,true,,"{""x"":2,"$/);
  });
});
