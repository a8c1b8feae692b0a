/**
 * The dashboard's data nodes in a Node-RED test runtime: upperstack-live (latest
 * values and chart points from stored readings), upperstack-stats (rates, totals
 * and a real DuckDB store's dead letters) and upperstack-alert-list (the alert
 * node's active alerts, acknowledged from a table's button).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { received } from '../../nodes/lib/metrics';
import { serviceFor } from '../../nodes/shared/alerts';
import { rememberDashboardUser } from '../../nodes/shared/dashboard';
import { useSensitiveFields } from '../../nodes/shared/keys';
import { parseMask } from '../../nodes/lib/security/masking';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { eventually } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { catalogTranslator } from '../helpers/node-red';

const translate = catalogTranslator(['live', 'stats', 'alert-list']);

let red: NodeAPI | undefined;
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [
  require('../../nodes/store-config/store-config'),
  require('../../nodes/alert/alert'),
  require('../../nodes/live/live'),
  require('../../nodes/stats/stats'),
  require('../../nodes/alert-list/alert-list'),
  (r: NodeAPI) => {
    red = r;
    (r as unknown as { _: typeof translate })._ = translate;
  },
];
/* eslint-enable @typescript-eslint/no-require-imports */

helper.init(require.resolve('node-red'));

type Msg = { topic?: string; payload: unknown };
function collect(id: string): Msg[] {
  const list: Msg[] = [];
  (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('input', (m: Msg) => list.push(m));
  return list;
}
const receive = (id: string, msg: Record<string, unknown>) => (helper.getNode(id) as unknown as { receive(m: unknown): void }).receive(msg);

describe('dashboard data nodes', () => {
  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-dash-nodes-'), apiKey: 'k' } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  test('live: a table row per device with its latest values, and chart points per configured field', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'live', type: 'upperstack-live', z: 'tab', fields: 'temperature, power', columns: '', interval: 0.5, maxDevices: 10, configVersion: 1, wires: [['table'], ['t'], ['p']] },
      { id: 'table', type: 'helper', z: 'tab' },
      { id: 't', type: 'helper', z: 'tab' },
      { id: 'p', type: 'helper', z: 'tab' },
    ]);
    const table = collect('table');
    const t = collect('t');
    const p = collect('p');
    receive('live', { payload: [{ device: 'env-1', ts: 1000, fields: { temperature: 21.5, humidity: 40 }, tags: {} }, { device: 'plug-1', ts: 1500, fields: { power: 120 }, tags: {} }] });
    receive('live', { payload: { device: 'env-1', ts: 2000, fields: { temperature: 22 }, tags: {} } });
    await eventually(async () => (table.length ? true : undefined), 30_000, 'a table update');
    assert.deepEqual(table[0].payload, [
      { device: 'env-1', time: new Date(2000).toISOString(), humidity: 40, temperature: 22 },
      { device: 'plug-1', time: new Date(1500).toISOString(), power: 120 },
    ]);
    assert.deepEqual(t[0], { ...t[0], topic: 'temperature', payload: [{ device: 'env-1', ts: 1000, value: 21.5 }, { device: 'env-1', ts: 2000, value: 22 }] });
    assert.deepEqual(p[0].payload, [{ device: 'plug-1', ts: 1500, value: 120 }]);
    // Nothing new, nothing sent.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(table.length, 1);
  });

  test("live in the default pack: the table shows the row's time in a Date & Time column and a column per field the node sends", () => {
    type PackNode = { id: string; type: string; autocols?: boolean; columns?: string | Array<{ key: string; type: string }>; wires?: string[][] };
    const pack = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as PackNode[];
    const live = pack.find((n) => n.type === 'upperstack-live')!;
    const found = pack.find((n) => n.id === live.wires![0][0])!;
    const table = { ...found, columns: Array.isArray(found.columns) ? found.columns : [] };
    assert.equal(table.type, 'ui-table');
    // Auto columns show every value as text, the ISO time included: the columns are listed so the time can be a datetime.
    assert.equal(table.autocols, false);
    assert.deepEqual(table.columns.slice(0, 2).map((c) => [c.key, c.type]), [['device', 'text'], ['time', 'datetime']]);
    // The node sends exactly the fields the table has columns for, so none is cut off past the 12 of "every field seen".
    assert.deepEqual(table.columns.slice(2).map((c) => c.key), String(live.columns).split(',').map((f) => f.trim()));
  });

  test('live: sensitive fields are charted as a reader without read:sensitive is served them (rounded; masked and hidden ones not at all)', async () => {
    const owner = {};
    const release = useSensitiveFields(owner, new Map([['lat', parseMask('round:2', 'lat')], ['owner', parseMask('mask', 'owner')], ['pin', parseMask(true, 'pin')]]));
    try {
      await helper.load(nodes, [
        { id: 'tab', type: 'tab' },
        { id: 'live', type: 'upperstack-live', z: 'tab', fields: 'lat, owner, pin, temperature', columns: '', interval: 0.5, maxDevices: 10, configVersion: 1, wires: [['table'], ['lat'], ['owner'], ['pin'], ['t']] },
        ...['table', 'lat', 'owner', 'pin', 't'].map((id) => ({ id, type: 'helper', z: 'tab' })),
      ]);
      const got = Object.fromEntries(['table', 'lat', 'owner', 'pin', 't'].map((id) => [id, collect(id)]));
      receive('live', { payload: { device: 'tracker-1', ts: 1000, fields: { lat: 52.987654, owner: 55512345678, pin: 1234, temperature: 21.5 }, tags: {} } });
      await eventually(async () => (got.t.length ? true : undefined), 30_000, 'a chart update');
      assert.deepEqual(got.lat[0].payload, [{ device: 'tracker-1', ts: 1000, value: 52.99 }]);
      assert.deepEqual(got.t[0].payload, [{ device: 'tracker-1', ts: 1000, value: 21.5 }]);
      assert.equal(got.owner.length, 0, 'no points of a masked field');
      assert.equal(got.pin.length, 0, 'no points of a hidden field');
      const row = (got.table[0].payload as Array<Record<string, unknown>>)[0];
      assert.equal(row.lat, 52.99);
      assert.notEqual(row.owner, 55512345678);
      assert.equal('pin' in row, false);
    } finally {
      release();
    }
  });

  test('live: a burst of readings reaches the chart as its latest 500 points per field, every reading still in the table', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'live', type: 'upperstack-live', z: 'tab', fields: 'temperature', columns: '', interval: 0.5, maxDevices: 10, configVersion: 1, wires: [['table'], ['t']] },
      { id: 'table', type: 'helper', z: 'tab' },
      { id: 't', type: 'helper', z: 'tab' },
    ]);
    const table = collect('table');
    const t = collect('t');
    receive('live', { payload: Array.from({ length: 2000 }, (_, i) => ({ device: 'burst', ts: 10_000 + i, fields: { temperature: i }, tags: {} })) });
    await eventually(async () => (t.length ? true : undefined), 30_000, 'a chart update');
    const points = t[0].payload as Array<{ ts: number; value: number }>;
    assert.equal(points.length, 500);
    assert.deepEqual([points[0].value, points[499].value], [1500, 1999], 'the latest ones, oldest first');
    assert.equal((table[0].payload as Array<{ temperature: number }>)[0].temperature, 1999);
  });

  test('live: after a restart the table lists the devices in the store, quiet ones too, and the charts their last 15 minutes', async () => {
    const path = join(tempDir('us-dash-seed-'), 'store.duckdb');
    const flow = (maxDevices: number) => [
      { id: 'tab', type: 'tab' },
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path, batchSize: 100, flushMs: 10, configVersion: 2, memoryLimit: 64 },
      { id: 'live', type: 'upperstack-live', z: 'tab', store: 'cfg', fields: 'temperature', columns: '', interval: 0.5, maxDevices, configVersion: 1, wires: [['table'], ['t']] },
      { id: 'table', type: 'helper', z: 'tab' },
      { id: 't', type: 'helper', z: 'tab' },
    ];
    // 20 devices: each reported once an hour ago or more (quiet since), the first three also a minute ago.
    const now = Date.now();
    const stored = Array.from({ length: 20 }, (_, i) => ({ device: `dev-${String(i).padStart(2, '0')}`, ts: now - 3_600_000 - i * 60_000, fields: { temperature: 20 + i, humidity: 50 }, tags: {} }));
    const recent = [0, 1, 2].map((i) => ({ device: `dev-0${i}`, ts: now - 60_000, fields: { temperature: 30 + i }, tags: {} }));
    await helper.load(nodes, flow(1000));
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    await cfg.store.write([...stored, ...recent]);
    await helper.unload();

    // The restart: nothing arrives after it.
    await helper.load(nodes, flow(1000));
    const table = collect('table');
    const t = collect('t');
    await eventually(async () => (table.length ? true : undefined), 30_000, 'the table from the store');
    const rows = table[0].payload as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((r) => r.device), stored.map((r) => r.device));
    assert.deepEqual(rows[0], { device: 'dev-00', time: new Date(now - 60_000).toISOString(), humidity: 50, temperature: 30 });
    assert.deepEqual(rows[19], { device: 'dev-19', time: new Date(stored[19].ts).toISOString(), humidity: 50, temperature: 39 });
    // The chart gets the readings of the last 15 minutes only: the three recent ones.
    assert.deepEqual(
      (t[0].payload as Array<{ device: string; value: number }>).map((p) => [p.device, p.value]),
      [['dev-00', 30], ['dev-01', 31], ['dev-02', 32]],
    );
    await helper.unload();

    // Bounded: with room for 5 devices the table starts with the 5 heard from most recently.
    await helper.load(nodes, flow(5));
    const small = collect('table');
    await eventually(async () => (small.length ? true : undefined), 30_000, 'the bounded table');
    assert.deepEqual((small[0].payload as Array<{ device: string }>).map((r) => r.device), ['dev-00', 'dev-01', 'dev-02', 'dev-03', 'dev-04']);
  });

  test('live saved before Start from existed, next to a deployed store: it warns to choose the store; one saved with "none" does not', async () => {
    type Spied = { warn: { getCalls(): Array<{ args: unknown[]; thisValue: { id: string } }> } };
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'cfg', type: 'upperstack-store-config', name: 'embedded DuckDB', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 2, memoryLimit: 64 },
      // As the default pack wrote it at an earlier first start: no "store" at all.
      { id: 'old', type: 'upperstack-live', z: 'tab', fields: 'temperature', columns: '', interval: 2, maxDevices: 1000, configVersion: 1, wires: [[], []] },
      { id: 'none', type: 'upperstack-live', z: 'tab', store: '', fields: 'temperature', columns: '', interval: 2, maxDevices: 1000, configVersion: 1, wires: [[], []] },
    ]);
    // The helper spies on every node's warn at once: each call's node is its `this`.
    const warned = (id: string) => (helper.getNode(id) as unknown as Spied).warn.getCalls().filter((c) => c.thisValue.id === id).map((c) => String(c.args[0]));
    const old = warned('old');
    assert.equal(old.length, 1);
    assert.match(old[0], /^Start from is not set .*after each restart the table and the charts start empty.*choose the store .*\(deployed: "embedded DuckDB"\)/);
    assert.deepEqual(warned('none'), []);
  });

  test('live: anything but readings is an error a Catch node sees', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'live', type: 'upperstack-live', z: 'tab', fields: 'temperature', interval: 1, maxDevices: 10, configVersion: 1, wires: [[], []] },
    ]);
    const node = helper.getNode('live') as unknown as { error: (e: unknown) => void };
    const errors: string[] = [];
    node.error = (e: unknown) => void errors.push(String((e as Error)?.message ?? e));
    receive('live', { payload: 'hello' });
    await eventually(async () => (errors.length ? true : undefined), 30_000, 'an error');
    assert.match(errors[0], /msg.payload must be a Reading/);
  });

  test('stats: rates and totals every interval, and the store\'s newest dead letters when they changed', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 2, memoryLimit: 64 },
      { id: 'stats', type: 'upperstack-stats', z: 'tab', store: 'cfg', interval: 1, deadLetters: 5, configVersion: 1, wires: [['rates'], ['totals'], ['letters']] },
      { id: 'rates', type: 'helper', z: 'tab' },
      { id: 'totals', type: 'helper', z: 'tab' },
      { id: 'letters', type: 'helper', z: 'tab' },
    ]);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    await cfg.store.writeDeadLetters([{ ts: Date.now(), device: 'bad-1', source: 'mqtt:devices/bad-1/telemetry', code: 'DECODE_FAILED', reason: 'JSON ends early at byte 3', payload: '{"a' }]);
    const rates = collect('rates');
    const totals = collect('totals');
    const letters = collect('letters');
    await eventually(async () => (totals.length >= 1 ? true : undefined), 30_000, 'first totals');
    received.child('dash-test').inc(12);
    await eventually(async () => (totals.length >= 3 ? true : undefined), 30_000, 'more totals');
    const t = totals.at(-1)!.payload as Record<string, number>;
    for (const k of ['received', 'stored', 'deadLetters', 'invalid', 'queued', 'spooled', 'backlog', 'receivedPerSecond', 'storedPerSecond']) assert.equal(typeof t[k], 'number', k);
    assert.ok(rates.some((m) => (m.payload as Array<{ series: string; value: number }>).some((x) => x.series === 'received/s' && x.value > 0)), 'the rate shows the 12 messages');
    assert.deepEqual((rates[0].payload as Array<{ series: string }>).map((x) => x.series), ['received/s', 'stored/s', 'dead letters/s']);
    const rows = letters[0].payload as Array<Record<string, string>>;
    assert.equal(rows.length, 1);
    assert.deepEqual({ ...rows[0], time: '' }, { time: '', device: 'bad-1', code: 'DECODE_FAILED', reason: 'JSON ends early at byte 3', source: 'mqtt:devices/bad-1/telemetry' });
    assert.equal(letters.length, 1, 'the list goes out again only when the count of dead letters moves');
  });

  test('alert list: active alerts as rows with an Acknowledge cell; the row sent back acknowledges as the dashboard user; a viewer is refused', async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab' },
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 2, memoryLimit: 64 },
      { id: 'alert', type: 'upperstack-alert', z: 'tab', store: 'cfg', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [[], []] },
      { id: 'list', type: 'upperstack-alert-list', z: 'tab', states: 'firing, acknowledged', interval: 0.5, maxRows: 50, configVersion: 1, wires: [['rows'], ['said']] },
      { id: 'rows', type: 'helper', z: 'tab' },
      { id: 'said', type: 'helper', z: 'tab' },
    ]);
    await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
    const svc = serviceFor(red!);
    if (!svc.rules.has('cold')) svc.rules.create({ id: 'cold', name: 'Too cold', devices: { all: true }, when: { field: 'temperature', op: 'below', value: 5, for: '0s' }, severity: 'critical', message: '{device} is cold' }, { actor: 'test', via: 'test' });
    const rows = collect('rows');
    const said = collect('said');
    receive('alert', { payload: { device: 'freezer', ts: Date.now() - 1000, fields: { temperature: -20 }, tags: {} } });
    const firing = await eventually(async () => {
      const last = rows.at(-1)?.payload as Array<Record<string, string>> | undefined;
      return last?.length ? last : undefined;
    }, 30_000, 'the firing alert listed');
    assert.deepEqual({ id: firing[0].id, severity: firing[0].severity, state: firing[0].state, device: firing[0].device, rule: firing[0].rule, ack: firing[0].ack, value: firing[0].value }, { id: 'cold:freezer', severity: 'critical', state: 'firing', device: 'freezer', rule: 'Too cold', ack: 'Acknowledge', value: '-20' });

    const forgetVera = rememberDashboardUser('sock-vera', { username: 'vera', permissions: ['upperstack-alert.read'] });
    receive('list', { payload: firing[0], action: 'button_click', column: 'ack', _client: { socketId: 'sock-vera' } });
    await eventually(async () => (said.length ? true : undefined), 30_000, 'the refusal');
    assert.match(String(said[0].payload), /vera may not acknowledge alerts/);
    assert.equal(svc.attached!.engine.alert('cold:freezer')!.state, 'firing');
    forgetVera();

    const forgetOlga = rememberDashboardUser('sock-olga', { username: 'olga', permissions: ['upperstack-alert.read', 'upperstack-alert.ack'] });
    receive('list', { payload: firing[0], action: 'button_click', column: 'ack', _client: { socketId: 'sock-olga' } });
    await eventually(async () => (said.length >= 2 ? true : undefined), 30_000, 'the acknowledgement');
    assert.equal(said[1].payload, 'cold:freezer acknowledged by olga');
    assert.equal(svc.attached!.engine.alert('cold:freezer')!.acknowledged?.by, 'olga');
    const after = await eventually(async () => {
      const last = rows.at(-1)?.payload as Array<Record<string, string>>;
      return last[0]?.state === 'acknowledged' ? last : undefined;
    }, 30_000, 'the list updated');
    assert.equal(after[0].ack, '✓');
    const ackedAt = new Date(svc.attached!.engine.alert('cold:freezer')!.acknowledged!.ts).toISOString();
    assert.deepEqual({ by: after[0].acknowledgedBy, at: after[0].acknowledgedAt }, { by: 'olga', at: ackedAt });
    // The default pack's table shows every time of a row in a datetime column (the viewer's locale and zone), none as ISO text.
    const pack = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as Array<{ id: string; type: string; wires?: string[][]; columns?: Array<{ key: string; type: string }> }>;
    const list = pack.find((n) => n.type === 'upperstack-alert-list')!;
    const table = pack.find((n) => n.id === list.wires![0][0] && n.type === 'ui-table')!;
    const shown = table.columns!.map((c) => ({ key: c.key, type: c.type, value: after[0][c.key] }));
    const times = shown.filter((c) => /\d{4}-\d\d-\d\dT\d\d:\d\d/.test(c.value ?? ''));
    assert.deepEqual(times.map((c) => [c.key, c.type]), [['since', 'datetime'], ['acknowledgedAt', 'datetime']]);
    assert.ok(shown.some((c) => c.key === 'acknowledgedBy' && c.type === 'text' && c.value === 'olga'), 'who acknowledged, in a text column');
    // Again: already acknowledged, said so.
    receive('list', { payload: { id: 'cold:freezer' }, _client: { socketId: 'sock-olga' } });
    await eventually(async () => (said.length >= 3 ? true : undefined), 30_000, 'the second answer');
    assert.match(String(said[2].payload), /already acknowledged by olga/);
    forgetOlga();
  });
});
