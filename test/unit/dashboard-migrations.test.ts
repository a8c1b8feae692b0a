/** Config migrations of the dashboard data nodes: a config saved without a version comes forward to v1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { liveMigrations, type LiveOptions } from '../../nodes/live/options';
import { statsMigrations, type StatsOptions } from '../../nodes/stats/options';
import { alertListMigrations, type AlertListOptions } from '../../nodes/alert-list/options';

test('live v0 → v1 fills the defaults, keeps what was set and makes numbers of texts', () => {
  const out = migrate<LiveOptions>({ id: 'l', fields: 'power', interval: '5' }, liveMigrations);
  assert.deepEqual({ fields: out.fields, columns: out.columns, interval: out.interval, maxDevices: out.maxDevices, configVersion: out.configVersion }, { fields: 'power', columns: '', interval: 5, maxDevices: 1000, configVersion: 1 });
});

test('stats v0 → v1 fills the defaults and makes numbers of texts', () => {
  const out = migrate<StatsOptions>({ id: 's', deadLetters: '3' }, statsMigrations);
  assert.deepEqual({ store: out.store, interval: out.interval, deadLetters: out.deadLetters, configVersion: out.configVersion }, { store: '', interval: 5, deadLetters: 3, configVersion: 1 });
});

test('alert list v0 → v1 fills the defaults and makes numbers of texts', () => {
  const out = migrate<AlertListOptions>({ id: 'a', maxRows: '20' }, alertListMigrations);
  assert.deepEqual({ states: out.states, interval: out.interval, maxRows: out.maxRows, configVersion: out.configVersion }, { states: 'firing, acknowledged, flapping', interval: 1, maxRows: 20, configVersion: 1 });
});
