/**
 * The store node's status on a full disk (a tmpfs the test mounts, root only, as CI runs): while neither the
 * database nor its spool can be written, the status is red and says so; once there is room, green again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { useTestRuntime, until } from '../helpers/node-red';
import { fill, mountTmpfs, unmount } from '../helpers/full-disk';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/store/store')];

helper.init(require.resolve('node-red'));

type Shown = { fill?: string; shape?: string; text?: string };

describe('the store status on a full disk', () => {
  let disk = '';
  before(() => {
    disk = mountTmpfs('us-store-status-', '64m');
  });
  after(() => unmount(disk));
  useTestRuntime('us-store-status-', { settings: () => ({ upperstack: { dataDir: disk } }) });

  test('red, naming the disk error, while nothing can be written; green once there is room', { timeout: 120_000 }, async () => {
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'cfg', type: 'upperstack-store-config', sinks: [{ id: 'main', kind: 'duckdb', path: join(disk, 'full.duckdb'), memoryLimit: 64 }], batchSize: 100, flushMs: 10, configVersion: 3 },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [[]] },
    ]);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    const shown: Shown[] = [];
    (helper.getNode('store') as unknown as { on(e: 'call:status', f: (c: { args: [Shown] }) => void): void }).on('call:status', (c) => shown.push(c.args[0]));
    const store = helper.getNode('store') as unknown as { receive(m: unknown): void };
    const t0 = Date.UTC(2026, 0, 1);
    store.receive({ payload: { device: 'disk', ts: t0, fields: { v: 0 }, tags: {} } });
    await until(async () => (await cfg.store.readings({ device: 'disk', limit: 10 })).readings.length === 1, 'the first reading');
    const filler = join(disk, 'filler');
    fill(filler);
    for (let i = 1; i <= 50; i++) store.receive({ payload: { device: 'disk', ts: t0 + i * 1000, fields: { v: i, pad: 'x'.repeat(2000) }, tags: {} } });
    await until(() => (cfg.writer.stats().lastError ?? '').includes('cannot spool'), 'the writer to find the disk full', 60_000);
    // The status is drawn each second, and only when it changes.
    await until(() => shown[shown.length - 1]?.fill === 'red', 'a red status while the disk is full');
    // The test runtime has no message catalogue: the key stands for 'store unavailable, N readings waiting: <error>'.
    assert.match(String(shown[shown.length - 1].text), /upperstack-store\.status\.spooling|store unavailable/);
    rmSync(filler);
    await until(async () => (await cfg.store.readings({ device: 'disk', limit: 100 })).readings.length === 51, 'every reading stored once there is room', 60_000);
    await until(() => shown[shown.length - 1]?.fill === 'green', 'a green status once there is room');
  });
});
