/**
 * Hostile payloads through the pipeline nodes (real embedded broker, real DuckDB
 * file): deep nesting ends as a DEPTH_EXCEEDED dead letter whose journal entry is
 * settled, so nothing replays at the next start; nested objects are stored under
 * dotted names.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import { findBroker } from '../../nodes/shared/runtime';
import { journalBacklog } from '../../nodes/lib/journal/receipts';
import { Journal } from '../../nodes/lib/journal/journal';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { ingestNodes } from '../helpers/simulate-flow';
import { tempDir } from '../helpers/temp';

const nodes = ingestNodes;

helper.init(require.resolve('node-red'));

const dataDir = tempDir('us-hostile-');

function flow(opts: { decode?: Record<string, unknown>; validate?: Record<string, unknown>; store?: Record<string, unknown> } = {}) {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1, ...opts.store },
    { id: 'broker', type: 'upperstack-broker', z: 'tab', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'hin', type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: 'broker', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 1, wires: [['decode'], ['dead']] },
    { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, ...opts.decode, wires: [['validate'], ['dead']] },
    { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, ...opts.validate, wires: [['store'], ['dead']] },
    { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [['stored']] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', broker: 'broker', topic: 'upperstack/deadletter', configVersion: 1, wires: [['deadOut']] },
    { id: 'stored', type: 'helper', z: 'tab' },
    { id: 'deadOut', type: 'helper', z: 'tab' },
  ];
}

async function connect(): Promise<mqtt.MqttClient> {
  const port = await new Promise<number>((resolve) => {
    const poll = () => {
      const b = findBroker('broker');
      if (b?.listening()) resolve(b.addresses().tcp);
      else setTimeout(poll, 20);
    };
    poll();
  });
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Letter {
  device: string;
  code: string;
  reason: string;
  payload: string;
}

describe('hostile payloads through the pipeline nodes', () => {
  before(async () => {
    helper.settings({ upperstack: { dataDir } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  test('JSON and MessagePack nested 5,000 to 100,000 deep end as settled DEPTH_EXCEEDED dead letters and do not replay', async () => {
    await helper.load(nodes, flow());
    const letters: Letter[] = [];
    (helper.getNode('deadOut') as unknown as NodeJS.EventEmitter).on('input', (m: { payload: Letter }) => letters.push(m.payload));
    const client = await connect();
    const payloads: Array<[string, Buffer]> = [
      ['deep-json-arrays', Buffer.from(`${'['.repeat(100_000)}1${']'.repeat(100_000)}`)],
      ['deep-json-objects', Buffer.from(`${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`)],
      ['deep-msgpack-arrays', Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])])],
      ['deep-msgpack-maps', Buffer.from(Array.from({ length: 5_000 }, () => [0x81, 0xa1, 0x61]).flat().concat([0x01]))],
    ];
    for (const [device, body] of payloads) await client.publishAsync(`devices/${device}/telemetry`, body, { qos: 1 });
    await client.publishAsync('devices/after-deep/telemetry', '{"v":1}', { qos: 1 });
    await client.endAsync();

    await until(() => letters.length >= payloads.length, 'the dead letters');
    assert.deepEqual(letters.map((l) => [l.device, l.code]).sort(), payloads.map(([d]) => [d, 'DEPTH_EXCEEDED']).sort());
    for (const l of letters) assert.match(l.reason, /more than 32 levels deep/);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await until(async () => (await cfg.store.readings({ device: 'after-deep', limit: 1 })).readings.length === 1, 'the reading sent after them');
    await until(() => journalBacklog().pending === 0, 'every journal entry settled');
    assert.equal((await cfg.store.deadLetters({ limit: 100 })).filter((l) => l.code === 'DEPTH_EXCEEDED').length, payloads.length);
  });

  test('... and after a restart the journal hands nothing back', async () => {
    // The previous test's flow is unloaded: its journal was closed cleanly, as at a redeploy or stop.
    const journal = new Journal({ dir: join(dataDir, 'journal', 'hin') });
    try {
      assert.deepEqual(journal.open(), []);
    } finally {
      journal.close();
    }
  });

  test('a nested object in a flat JSON reading is stored under dotted names', async () => {
    await helper.load(nodes, flow());
    const client = await connect();
    await client.publishAsync('devices/nested/telemetry', '{"ts":1767225600000,"x":1,"n":{"a":2},"l":[3,4]}', { qos: 1 });
    await client.endAsync();
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    let fields: Record<string, unknown> = {};
    await until(async () => {
      fields = (await cfg.store.readings({ device: 'nested', limit: 1 })).readings[0]?.fields ?? {};
      return Object.keys(fields).length > 0;
    }, 'the nested reading');
    assert.deepEqual(fields, { x: 1, 'n.a': 2, 'l.0': 3, 'l.1': 4 });
  });

  /** One reading of 20,000 numeric fields, as in the report (about 280 KB of JSON). */
  const wide = (i: number) => JSON.stringify(Object.fromEntries([['ts', 1767225600000 + i], ...Array.from({ length: 20_000 }, (_, k) => [`f${k}`, k + i])]));

  test('wide readings (20,000 fields) are TOO_MANY_FIELDS dead letters at decode, and other devices are stored meanwhile', async () => {
    await helper.load(nodes, flow());
    const letters: Letter[] = [];
    (helper.getNode('deadOut') as unknown as NodeJS.EventEmitter).on('input', (m: { payload: Letter }) => letters.push(m.payload));
    const client = await connect();
    for (let i = 0; i < 100; i++) await client.publishAsync('devices/wide/telemetry', wide(i), { qos: 1 });
    await client.publishAsync('devices/normal/telemetry', '{"v":1}', { qos: 1 });
    await client.endAsync();
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await until(async () => (await cfg.store.readings({ device: 'normal', limit: 1 })).readings.length === 1, 'the normal reading');
    await until(() => letters.length === 100, '100 dead letters');
    assert.ok(letters.every((l) => l.device === 'wide' && l.code === 'TOO_MANY_FIELDS'));
    assert.match(letters[0].reason, /at most 1,000 fields/);
    await until(() => journalBacklog().pending === 0, 'every journal entry settled');
  });

  test('with the fields limit raised and DuckDB at 32 MB, wide readings reach the store: it splits what does not fit in memory, refuses nothing it can store, and other devices are not held up', async () => {
    await helper.load(nodes, flow({ decode: { maxFields: 20_000 }, validate: { maxFields: 20_000 }, store: { memoryLimit: 32, configVersion: 2 } }));
    const client = await connect();
    for (let i = 0; i < 20; i++) await client.publishAsync('devices/wide-store/telemetry', wide(i), { qos: 1 });
    await client.publishAsync('devices/normal-2/telemetry', '{"v":2}', { qos: 1 });
    await client.endAsync();
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await until(async () => (await cfg.store.readings({ device: 'normal-2', limit: 1 })).readings.length === 1, 'the normal reading', 120_000);
    await until(() => journalBacklog().pending === 0, 'every journal entry settled', 120_000);
    const stats = cfg.writer.stats();
    assert.equal(stats.spooled, 0, 'nothing waits in the spool');
    assert.equal(stats.failingSince, undefined, 'the store is not considered down');
    const stored = (await cfg.store.readings({ device: 'wide-store', limit: 100, fields: ['f0'] })).readings.length;
    const refused = (await cfg.store.deadLetters({ device: 'wide-store', limit: 100 })).filter((l) => l.code === 'STORE_REJECTED').length;
    assert.equal(stored + refused, 20, `stored ${stored}, refused ${refused}`);
  });

  test('the store config\'s spool budget reaches every sink\'s writer (default 1 GiB)', async () => {
    await helper.load(nodes, flow({ store: { spoolBudget: 64 } }));
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    assert.equal(cfg.writer.stats().spoolBudget, 64 * 1024 * 1024);
    await helper.unload();
    await helper.load(nodes, flow());
    assert.equal((helper.getNode('cfg') as unknown as StoreConfigNode).writer.stats().spoolBudget, 1024 * 1024 * 1024);
  });

  test('the dead-letter node records a value nested 100,000 deep that a flow hands it', async () => {
    await helper.load(nodes, flow());
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const got = new Promise<{ payload: Letter }>((resolve) => (helper.getNode('deadOut') as unknown as NodeJS.EventEmitter).once('input', resolve));
    (helper.getNode('dead') as unknown as { receive(m: object): void }).receive({ device: 'from-flow', payload: deep, error: { code: 'X', message: 'made in a flow' } });
    const letter = (await got).payload;
    assert.equal(letter.device, 'from-flow');
    assert.equal(letter.payload.length, 4096);
  });
});
