/** Reports' "alerts raised" from the alert engine's history (a real RuleEngine fed readings). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import { alertHistorySource } from '../../nodes/lib/rules/report-events';
import { registerEventSource, summarizeEvents } from '../../nodes/lib/report/sources';
import type { Rule } from '../../nodes/lib/rules/types';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const HOUR = 3_600_000;
const HOT: Rule = {
  id: 'hot',
  name: 'Too hot',
  devices: { all: true },
  when: { field: 'temperature', op: 'above', value: 30, for: '0s' },
  clear: { op: 'below', value: 28, for: '0s' },
  severity: 'critical',
  message: '{device} is at {value}',
};

function engineWith(history = 1000) {
  let now = T0;
  const engine = new RuleEngine([HOT], { clock: () => now, historySize: history });
  const send = (device: string, temperature: number, ts: number) => {
    now = ts;
    engine.process({ device, ts, fields: { temperature }, tags: {} });
  };
  return { engine, send };
}

test('counts the firing transitions of the period for the report\'s devices, with the alert message', async () => {
  const { engine, send } = engineWith();
  // boiler: fires twice in the period; kettle: once before it; fridge: not in the report.
  send('kettle', 35, T0 - HOUR);
  send('kettle', 20, T0 - HOUR + 1);
  send('boiler', 31, T0 + HOUR);
  send('boiler', 20, T0 + 2 * HOUR);
  send('boiler', 33, T0 + 3 * HOUR);
  send('fridge', 40, T0 + 4 * HOUR);
  const source = alertHistorySource(() => engine.history(), 1000);
  const r = await source.events({ devices: ['boiler', 'kettle'], fields: ['temperature'], from: T0, to: T0 + 24 * HOUR, limit: 50 });
  assert.equal(r.total, 2);
  assert.deepEqual(r.byDevice, { boiler: 2 });
  assert.deepEqual(r.items.map((i) => [i.ts - T0, i.device, i.field, i.text]), [
    [HOUR, 'boiler', 'temperature', 'critical: boiler is at 31'],
    [3 * HOUR, 'boiler', 'temperature', 'critical: boiler is at 33'],
  ]);
  assert.equal(source.describe, 'from the alert rules\' history');
  // Listed at most `limit`, all counted.
  const one = await source.events({ devices: ['boiler'], fields: [], from: T0, to: T0 + 24 * HOUR, limit: 1 });
  assert.equal(one.total, 2);
  assert.equal(one.items.length, 1);
});

test('a full history that starts inside the period says the earlier alerts are not counted', async () => {
  const { engine, send } = engineWith(4);
  for (let i = 0; i < 6; i++) {
    send('boiler', 31, T0 + (2 * i) * HOUR);
    send('boiler', 20, T0 + (2 * i + 1) * HOUR);
  }
  const source = alertHistorySource(() => engine.history(), 4);
  const r = await source.events({ devices: ['boiler'], fields: [], from: T0, to: T0 + 24 * HOUR, limit: 50 });
  assert.ok(r.total < 6);
  assert.match(source.describe, /keeps the latest 4 transitions: the period's alerts before 2026-01-05T0\d:00:00\.000Z are not counted/);
});

test('registered, it makes "alerts raised" available in reports; unregistered, reports say there is no history', async () => {
  const { engine, send } = engineWith();
  send('boiler', 31, T0 + HOUR);
  const q = { devices: ['boiler'], fields: ['temperature'], from: T0, to: T0 + 24 * HOUR, limit: 50 };
  const off = registerEventSource('alerts', alertHistorySource(() => engine.history(), 1000));
  const on = await summarizeEvents('alerts', true, undefined, q);
  assert.equal(on.available, true);
  assert.equal(on.total, 1);
  off();
  const gone = await summarizeEvents('alerts', true, undefined, q);
  assert.equal(gone.available, false);
  assert.match(gone.note, /no alert history/);
});
