import { it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { alertMigrations, recipients, type AlertOptions } from '../../nodes/alert/options';
import { alertRows } from '../../nodes/alert/rows';
import type { AlertEvent } from '../../nodes/lib/rules/types';

it('alert node config v0 → v1: every option present, numbers and booleans typed', () => {
  const c = migrate<AlertOptions>({ name: 'a', smtpPort: '2525', emailEnabled: 'true', webhookAttempts: '' }, alertMigrations);
  assert.equal(c.configVersion, 1);
  assert.equal(c.smtpPort, 2525);
  assert.equal(c.emailEnabled, true);
  assert.equal(c.webhookAttempts, 5);
  assert.equal(c.topic, 'upperstack/alerts');
  assert.equal(c.mqttTopic, 'upperstack/notifications/{device}');
  assert.deepEqual(recipients('a@x.org, b@y.org;c@z.org'), ['a@x.org', 'b@y.org', 'c@z.org']);
});

it('transitions become store rows: the state in field alert.<rule>; two at one instant share a row', () => {
  const base = { id: 'hot:d', rule: 'hot', ruleName: 'Hot', device: 'd', severity: 'warning', message: 'm', reason: 'r', since: 1, occurrences: 1, notify: true, previous: 'pending' } as const;
  const rows = alertRows([
    { ...base, event: 'firing', state: 'firing', ts: 10 },
    { ...base, event: 'escalated', state: 'firing', severity: 'critical', ts: 10 },
    { ...base, event: 'acknowledged', state: 'acknowledged', ts: 20, by: 'ann', note: 'ok' },
  ] as AlertEvent[]);
  assert.deepEqual(rows.map((r) => [r.ts, r.fields['alert.hot'], r.tags.event, r.tags.severity, r.tags.by ?? '']), [
    [10, 'firing', 'firing+escalated', 'critical', ''],
    [20, 'acknowledged', 'acknowledged', 'warning', 'ann'],
  ]);
});
