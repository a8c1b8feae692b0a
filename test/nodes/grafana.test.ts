/**
 * Grafana's JSON datasource endpoints over a real DuckDB file, called with the
 * bodies Grafana's JSON datasource plugins send (SimpleJson / simpod):
 * connection test, metric search, time-series query and annotations.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
let red: NodeAPI | undefined;
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), (r: NodeAPI) => void (red = r)];
helper.init(require.resolve('node-red'));

const KEY = 'grafana-test-key';
const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

describe('Grafana JSON datasource', () => {
  let server: Server;
  let url = '';
  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-grafana-'), apiKey: KEY } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  let run = 0;
  beforeEach(async () => {
    const path = join(tempDir('us-grafana-db-'), `run-${++run}.duckdb`);
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path, batchSize: 100, flushMs: 10, memoryLimit: 128, configVersion: 2 },
      { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    ]);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    // An hour of one reading a minute: temperature 20 + i/10, a door switch, and a plug's power.
    await cfg.store.write(Array.from({ length: 60 }, (_, i) => ({ device: 'room-1', ts: T0 + i * MIN, fields: { temperature: 20 + i / 10, door: i % 2 === 0, mode: 'eco' }, tags: {} })));
    await cfg.store.write(Array.from({ length: 60 }, (_, i) => ({ device: 'plug-1', ts: T0 + i * MIN, fields: { power: i < 30 ? 100 : 0 }, tags: {} })));
    await cfg.store.writeDeadLetters([
      { ts: T0 + 10 * MIN, device: 'room-1', source: 'mqtt:devices/room-1/telemetry', code: 'DECODE_FAILED', reason: 'unexpected token at byte 3', payload: '{x' },
      { ts: T0 + 3 * 3_600_000, device: 'room-1', source: 'mqtt:devices/room-1/telemetry', code: 'SCHEMA_VIOLATION', reason: 'out of range', payload: '{}' },
    ]);
    server = createServer(red!.httpNode as never);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/grafana`;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await helper.unload();
  });

  const post = async (path: string, body: unknown, key = KEY) => {
    const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const range = { from: new Date(T0).toISOString(), to: new Date(T0 + 3_600_000).toISOString(), raw: { from: 'now-1h', to: 'now' } };

  test('"Save & test" calls GET / with the key: 200; without it 401', async () => {
    assert.equal((await fetch(url + '/', { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
    const res = await fetch(url + '/');
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
  });

  test('the metric picker finds "device:field" names by the typed text; "devices" lists devices for a variable', async () => {
    const all = await post('/search', { target: '' });
    assert.deepEqual(all.body, ['plug-1:power', 'room-1:door', 'room-1:mode', 'room-1:temperature']);
    assert.deepEqual((await post('/search', { target: 'temp' })).body, ['room-1:temperature']);
    assert.deepEqual((await post('/search', { target: 'devices' })).body, ['plug-1', 'room-1']);
    assert.deepEqual((await post('/metrics', { metric: 'pow' })).body, [{ label: 'plug-1:power', value: 'plug-1:power' }]);
    assert.deepEqual((await post('/variable', { payload: { target: 'devices' }, range })).body, [
      { __text: 'plug-1', __value: 'plug-1' },
      { __text: 'room-1', __value: 'room-1' },
    ]);
  });

  test('a panel query gets one series per target in buckets of its interval; a field with the device in the payload; hidden targets left out', async () => {
    const res = await post('/query', {
      panelId: 1,
      range,
      rangeRaw: range.raw,
      interval: '10m',
      intervalMs: 600_000,
      maxDataPoints: 500,
      format: 'json',
      targets: [
        { refId: 'A', target: 'room-1:temperature', type: 'timeserie' },
        { refId: 'B', target: 'power', payload: { device: 'plug-1', fn: 'max' } },
        { refId: 'C', target: 'room-1:door' },
        { refId: 'D', target: 'room-1:temperature', hide: true },
      ],
    });
    assert.equal(res.status, 200);
    const series = res.body as Array<{ target: string; datapoints: Array<[number, number]> }>;
    assert.deepEqual(series.map((s) => s.target), ['room-1:temperature', 'plug-1:power', 'room-1:door']);
    const temp = series[0].datapoints;
    assert.equal(temp.length, 6, 'six 10-minute buckets');
    assert.deepEqual(temp[0], [20.45, T0]);
    assert.equal(temp[5][1], T0 + 50 * MIN);
    assert.deepEqual(series[1].datapoints.map((p) => p[0]), [100, 100, 100, 0, 0, 0]);
    assert.ok(series[2].datapoints.every(([v]) => v === 0 || v === 1), 'booleans as 0/1');
    // Never more points than the panel asked for.
    const few = await post('/query', { range, intervalMs: 1000, maxDataPoints: 4, targets: [{ refId: 'A', target: 'room-1:temperature' }] });
    assert.ok((few.body as Array<{ datapoints: unknown[] }>)[0].datapoints.length <= 4);
  });

  test('annotations are the dead letters in the range, with code, device and reason', async () => {
    const res = await post('/annotations', { range, rangeRaw: range.raw, annotation: { name: 'Dead letters', enable: true, iconColor: 'red', query: 'deadletters' } });
    assert.equal(res.status, 200);
    const list = res.body as Array<{ time: number; title: string; text: string; tags: string[]; annotation: { name: string } }>;
    assert.equal(list.length, 1, 'only the one inside the hour');
    assert.equal(list[0].time, T0 + 10 * MIN);
    assert.equal(list[0].title, 'DECODE_FAILED · room-1');
    assert.equal(list[0].text, 'unexpected token at byte 3');
    assert.deepEqual(list[0].tags, ['DECODE_FAILED', 'room-1']);
    assert.equal(list[0].annotation.name, 'Dead letters');
    assert.deepEqual((await post('/annotations', { range, annotation: { query: 'deadletters:plug-1' } })).body, []);
  });

  test('bad requests get 400 with the parameter named; a wrong key 401', async () => {
    const noRange = await post('/query', { targets: [{ target: 'room-1:temperature' }] });
    assert.equal(noRange.status, 400);
    assert.match(JSON.stringify(noRange.body), /range/);
    const noDevice = await post('/query', { range, targets: [{ target: 'temperature' }] });
    assert.equal(noDevice.status, 400);
    assert.match(JSON.stringify(noDevice.body), /names no device/);
    // Among good targets: the answer names the bad one (the datasource's answer has no per-target error).
    const noField = await post('/query', { range, targets: [{ target: 'room-1:temperature' }, { target: 'room-1:' }] });
    assert.equal(noField.status, 400);
    const err = (noField.body as { error: { parameter: string; message: string } }).error;
    assert.equal(err.parameter, 'targets[1].target');
    assert.match(err.message, /^target "room-1:" names no field/);
    const badFn = await post('/query', { range, targets: [{ target: 'room-1:temperature', payload: { fn: 'median' } }] });
    assert.equal((badFn.body as { error: { parameter: string; message: string } }).error.parameter, 'targets[0].payload.fn');
    assert.match((badFn.body as { error: { message: string } }).error.message, /^target "room-1:temperature": payload.fn/);
    assert.equal((await post('/query', { range, targets: [] }, 'wrong')).status, 401);
  });
});
