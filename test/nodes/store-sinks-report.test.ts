/**
 * A store config with DuckDB and a real influxd (1.6.7): what /health reports of
 * each sink (backlog, age of the oldest waiting reading, write rate, dead letters)
 * through an outage of the server, its recovery and a reading the server refuses;
 * and the store node's status naming each sink while one of them spools.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { Node } from 'node-red';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { checkHealth } from '../../nodes/shared/runtime';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';
import { eventually } from '../helpers/runtime';
import { catalogTranslator, translating } from '../helpers/node-red';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [translating(catalogTranslator(['store'])), require('../../nodes/store-config/store-config'), require('../../nodes/store/store')];
helper.init(require.resolve('node-red'));

interface SinkReport {
  kind: string;
  queued: number;
  spooled: number;
  oldestAgeMs: number;
  writtenPerSec: number;
  written: number;
  retries: number;
  deadLettered: number;
}

let influx: TsdbServer;

before(async () => {
  influx = await startInfluxd();
  helper.settings({ upperstack: { dataDir: tempDir('us-store-sinks-') } });
  await helper.startServer();
});
after(async () => {
  await helper.unload();
  await helper.stopServer();
  await influx?.destroy();
});

async function sinkHealth(name: string): Promise<SinkReport> {
  const all = await checkHealth();
  const entry = all[name] as { sink?: SinkReport } | undefined;
  assert.ok(entry?.sink, `${name} in /health: ${Object.keys(all).join(', ')}`);
  return entry.sink;
}

test('/health per sink: backlog and its age while InfluxDB is down, written and a rate after recovery, dead letters; the store status names each sink', { timeout: 120_000 }, async () => {
  const flow = [
    {
      id: 'cfg',
      type: 'upperstack-store-config',
      name: 'two',
      sinks: [
        { id: 'main', kind: 'duckdb', path: ':memory:', memoryLimit: 64 },
        { id: 'influx', kind: 'influxdb', url: influx.url, api: 'auto', database: 'report', flushMs: 20 },
      ],
      batchSize: 1000,
      flushMs: 20,
      configVersion: 3,
    },
    { id: 'store', type: 'upperstack-store', store: 'cfg', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  await helper.load(nodes, flow);
  const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
  await cfg.ready;
  const store = helper.getNode('store') as unknown as Node & { receive(m: unknown): void };
  const statuses: Array<{ fill?: string; shape?: string; text?: string }> = [];
  const realStatus = store.status.bind(store);
  (store as { status: Node['status'] }).status = (s) => {
    statuses.push(s as (typeof statuses)[number]);
    return realStatus(s);
  };
  const out = helper.getNode('out') as unknown as Node;
  let passed = 0;
  out.on('input', () => void passed++);
  const T0 = Date.UTC(2026, 0, 1);
  const send = (from: number, n: number, fields: (i: number) => Record<string, unknown> = (i) => ({ v: i })) =>
    store.receive({ payload: Array.from({ length: n }, (_, i) => ({ device: 'd', ts: T0 + from + i, fields: fields(from + i), tags: {} })) });

  send(0, 1);
  await eventually(async () => (passed === 1 ? true : undefined), 20_000, 'the first reading through');
  const NAME = 'store:two/influx';
  const first = await sinkHealth(NAME);
  assert.equal(first.kind, 'influxdb');
  assert.equal(first.written, 1);
  assert.equal(first.deadLettered, 0);
  assert.equal(first.oldestAgeMs, 0, 'nothing waits');

  // The server goes away: what the store takes waits for the InfluxDB sink, and the message still passes (spooled).
  await influx.stop();
  try {
    send(1, 40);
    await eventually(async () => (passed === 2 ? true : undefined), 20_000, 'the outage batch through, spooled');
    const down = await eventually(async () => {
      const h = await sinkHealth(NAME);
      return h.spooled + h.queued >= 40 && h.oldestAgeMs > 0 ? h : undefined;
    }, 20_000, 'the backlog in /health');
    assert.equal(down.queued + down.spooled, 40);
    assert.equal(down.written, 1);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await sinkHealth(NAME);
    assert.ok(later.oldestAgeMs >= down.oldestAgeMs + 1000, `the oldest reading's age grows: ${down.oldestAgeMs} → ${later.oldestAgeMs}`);
    // DuckDB has them all: its entry has no backlog.
    const main = await sinkHealth('store:two');
    assert.equal(main.kind, 'duckdb');
    assert.equal(main.queued + main.spooled, 0);
    assert.equal(main.written, 41);

    // The store node names each sink and what waits for it.
    const shown = await eventually(async () => statuses.find((s) => /influx/.test(s.text ?? '')), 10_000, 'a per-sink status');
    assert.equal(shown.text, 'main ok · influx 40 queued');
    assert.equal(shown.fill, 'red');
  } finally {
    await influx.start();
  }

  // Back: the backlog is written (the /health check retries a sink that answers again at once).
  const up = await eventually(async () => {
    const h = await sinkHealth(NAME);
    return h.spooled + h.queued === 0 && h.written >= 41 ? h : undefined;
  }, 60_000, 'the backlog written after recovery');
  assert.equal(up.written, 41);
  assert.ok(up.writtenPerSec > 0, `a write rate after recovery: ${up.writtenPerSec}`);
  assert.equal(up.oldestAgeMs, 0);
  assert.ok(up.retries >= 1);
  await eventually(async () => (statuses.at(-1)?.fill === 'green' ? true : undefined), 10_000, 'the status back to green');

  // A field of another type than the one InfluxDB has for it: a 400 partial write, the reading dead-lettered.
  const made = await fetch(`${influx.url}/write?db=report&precision=ms`, { method: 'POST', body: `telemetry,device=other w="text" ${T0}` });
  assert.equal(made.status, 204, await made.text());
  send(100, 1, () => ({ w: 5 }));
  const refused = await eventually(async () => {
    const h = await sinkHealth(NAME);
    return h.deadLettered >= 1 ? h : undefined;
  }, 20_000, 'the refused reading counted as dead-lettered');
  assert.equal(refused.deadLettered, 1);
  assert.equal(refused.written, 41);
  assert.equal((await sinkHealth('store:two')).deadLettered, 0, 'DuckDB stored it');
});
