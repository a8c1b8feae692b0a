import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { alertRows } from '../../nodes/alert/rows';
import { storedAlerts } from '../../nodes/lib/report/alert-events';
import { registerEventSource, summarizeEvents } from '../../nodes/lib/report/sources';
import type { AlertEvent, AlertEventType, AlertState } from '../../nodes/lib/rules/types';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 9, 1);
let dir: string;
let store: DuckDbStore;

function ev(device: string, rule: string, event: AlertEventType, state: AlertState, ts: number, occurrences: number, message = `${rule} on ${device}`): AlertEvent {
  return { id: `${rule}:${device}`, rule, ruleName: rule, device, event, state, previous: 'inactive', severity: 'critical', ts, message, reason: 'temperature 31 above 30', since: ts, occurrences, notify: true };
}

before(async () => {
  dir = tempDir('us-alert-events-');
  store = new DuckDbStore({ path: join(dir, 'a.duckdb') });
  await store.open();
  // The rows exactly as the alert node writes them: transitions of two occurrences on plug1, one on plug2,
  // one on a device the report does not ask for, one outside the period, and ordinary readings beside them.
  await store.write(alertRows([
    ev('plug1', 'hot', 'pending', 'pending', T0 + 1000, 1),
    ev('plug1', 'hot', 'firing', 'firing', T0 + 2000, 1, 'plug1 is too hot'),
    ev('plug1', 'hot', 'flapping', 'flapping', T0 + 3000, 1),
    ev('plug1', 'hot', 'firing', 'firing', T0 + 4000, 1),
    ev('plug1', 'hot', 'cleared', 'cleared', T0 + 5000, 1),
    ev('plug1', 'hot', 'firing', 'firing', T0 + 9000, 2, 'plug1 is too hot again'),
    ev('plug2', 'offline', 'firing', 'firing', T0 + 6000, 1),
    ev('other', 'hot', 'firing', 'firing', T0 + 7000, 1),
    ev('plug2', 'offline', 'firing', 'firing', T0 + 86_400_000 * 2, 2),
  ]));
  await store.write([{ device: 'plug1', ts: T0 + 1500, fields: { temperature: 31 }, tags: {} }]);
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('alerts raised in a period come from the stored transitions, once per occurrence', async () => {
  const r = await storedAlerts(store).events({ devices: ['plug1', 'plug2'], fields: ['temperature'], from: T0, to: T0 + 86_400_000, limit: 10 });
  assert.equal(r.total, 3);
  assert.deepEqual(r.byDevice, { plug1: 2, plug2: 1 });
  assert.deepEqual(r.items.map((i) => [i.device, i.ts - T0, i.text]), [
    ['plug1', 2000, 'critical: plug1 is too hot'],
    ['plug2', 6000, 'critical: offline on plug2'],
    ['plug1', 9000, 'critical: plug1 is too hot again'],
  ]);
  const limited = await storedAlerts(store).events({ devices: ['plug1', 'plug2'], fields: [], from: T0, to: T0 + 86_400_000, limit: 1 });
  assert.equal(limited.total, 3, 'all are counted');
  assert.equal(limited.items.length, 1, 'the list is cut at the limit');
});

test('a report sees them once the source is registered, and says it is unavailable without it', async () => {
  const q = { devices: ['plug1'], fields: [], from: T0, to: T0 + 86_400_000, limit: 10 };
  const before = await summarizeEvents('alerts', true, undefined, q);
  assert.equal(before.available, false);
  const unregister = registerEventSource('alerts', storedAlerts(store));
  try {
    const s = await summarizeEvents('alerts', true, undefined, q);
    assert.equal(s.available, true);
    assert.equal(s.total, 2);
    assert.match(s.note, /alert history/);
  } finally {
    unregister();
  }
});
