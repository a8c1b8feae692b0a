/**
 * A report over a known data set in a real (in-memory) DuckDB store, checked
 * value by value against a computation written out here from the definitions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { computeReport } from '../../nodes/lib/report/compute';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { registerEventSource } from '../../nodes/lib/report/sources';
import type { Reading } from '../../nodes/lib/reading';

const MIN = 60_000;
const FROM = Date.UTC(2026, 9, 4);
const TO = FROM + 24 * 60 * MIN;

/** Power readings every minute with a deterministic wobble, two outages, an extra reading outside the period. */
function dataset(): { readings: Reading[]; series: Map<string, Array<[number, number]>> } {
  const readings: Reading[] = [];
  const series = new Map<string, Array<[number, number]>>();
  for (const [device, customer, base] of [['pump-1', 'acme', 1000], ['pump-2', 'acme', 400], ['pump-3', 'globex', 50]] as const) {
    const s: Array<[number, number]> = [];
    for (let i = 0; i < 24 * 60; i++) {
      if (device === 'pump-1' && i >= 300 && i < 345) continue; // 45 minute outage
      if (device === 'pump-2' && i < 20) continue; // starts late
      const ts = FROM + i * MIN;
      const power = base + ((i * 37) % 101) - 50 + (i % 7) * 0.25;
      s.push([ts, power]);
      readings.push({ device, ts, fields: { power, state: i % 2 ? 'on' : 'off' }, tags: { customer } });
    }
    series.set(device, s);
  }
  readings.push({ device: 'pump-1', ts: TO, fields: { power: 99999 }, tags: { customer: 'acme' } });
  return { readings, series };
}

/** The definitions, written out plainly; `next` is the first reading at or after the period's end. */
function expected(points: Array<[number, number]>, above: number, below: number, gapMs: number, next?: [number, number]) {
  const values = points.map((p) => p[1]);
  let area = 0;
  let timeAbove = 0;
  let timeBelow = 0;
  const gaps: Array<[number, number]> = [];
  let prev = FROM;
  points.forEach(([ts], i) => {
    if (ts - prev > gapMs) gaps.push([prev, ts]);
    prev = ts;
    if (i === 0) return;
    const [t0, v0] = points[i - 1];
    const [t1, v1] = points[i];
    if (t1 - t0 > gapMs) return;
    area += ((v0 + v1) / 2) * (t1 - t0);
    if (v0 > above) timeAbove += t1 - t0;
    if (v0 < below) timeBelow += t1 - t0;
  });
  if (TO - prev > gapMs) gaps.push([prev, TO]);
  const [tl, vl] = points[points.length - 1];
  if (next && next[0] - tl <= gapMs) {
    // The interval across the end counts up to it, the value there interpolated.
    const vEnd = vl + ((next[1] - vl) * (TO - tl)) / (next[0] - tl);
    area += ((vl + vEnd) / 2) * (TO - tl);
    if (vl > above) timeAbove += TO - tl;
    if (vl < below) timeBelow += TO - tl;
  }
  return {
    count: values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    sum: values.reduce((a, b) => a + b, 0),
    last: values[values.length - 1],
    integralWh: area / 3_600_000,
    timeAbove,
    timeBelow,
    gaps,
    completeness: Math.min(100, (values.length / 1440) * 100),
  };
}

test('report statistics match an independent computation, value by value', async (t) => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  const { readings, series } = dataset();
  await store.write(readings);

  const def = checkDefinition({
    name: 'daily acme',
    devices: { mode: 'tag', tag: 'customer', value: 'acme' },
    fields: ['power', 'state'],
    expectedEvery: 'auto',
    gapsLongerThan: '10m',
    thresholds: { power: { above: 1000, below: 400 } },
    units: { power: 'W' },
  });
  const data = await computeReport(def, explicitPeriod(FROM, TO, 'UTC'), { store, now: TO + 1 });
  assert.deepEqual(data.devices, ['pump-1', 'pump-2']);
  assert.equal(data.series.length, 4);
  for (const device of ['pump-1', 'pump-2']) {
    const s = data.series.find((x) => x.device === device && x.field === 'power')!.stats;
    const e = expected(series.get(device)!, 1000, 400, 10 * MIN, device === 'pump-1' ? [TO, 99999] : undefined);
    assert.equal(s.count, e.count, `${device} count`);
    assert.equal(s.min, e.min, `${device} min`);
    assert.equal(s.max, e.max, `${device} max`);
    assert.ok(Math.abs(s.mean! - e.mean) < 1e-9, `${device} mean ${s.mean} vs ${e.mean}`);
    assert.ok(Math.abs(s.sum! - e.sum) < 1e-6, `${device} sum`);
    assert.equal(s.last?.value, e.last, `${device} last`);
    assert.ok(Math.abs(s.integral! - e.integralWh) < 1e-6, `${device} integral ${s.integral} vs ${e.integralWh}`);
    assert.equal(s.timeAboveMs, e.timeAbove, `${device} time above`);
    assert.equal(s.timeBelowMs, e.timeBelow, `${device} time below`);
    assert.deepEqual(s.gaps.map((g) => [g.from, g.to]), e.gaps, `${device} gaps`);
    assert.equal(s.completeness?.expectedEveryMs, MIN, `${device} expected interval`);
    assert.ok(Math.abs(s.completeness!.percent - e.completeness) < 1e-9, `${device} completeness`);
  }
  const p1 = data.series.find((x) => x.device === 'pump-1' && x.field === 'power')!.stats;
  assert.deepEqual(p1.gaps.map((g) => g.ms / MIN), [46]);
  assert.ok(p1.chart.length > 100 && p1.chart.every((b) => b.min <= b.mean && b.mean <= b.max));
  const state = data.series.find((x) => x.device === 'pump-2' && x.field === 'state')!.stats;
  assert.equal(state.count, 1420);
  assert.equal(state.numeric, 0);
  assert.equal(state.mean, null);
  assert.equal(state.last?.value, 'on');

  // Alerts: not available until an alert history registers; then counted.
  assert.equal(data.alerts.available, false);
  assert.match(data.alerts.note, /not available/);
  const stop = registerEventSource('alerts', {
    describe: 'test history',
    async events(q) {
      return { total: 3, byDevice: { [q.devices[0]]: 3 }, items: [{ ts: q.from, device: q.devices[0], text: 'too hot' }] };
    },
  });
  t.after(stop);
  const again = await computeReport(def, explicitPeriod(FROM, TO, 'UTC'), { store, now: TO + 1 });
  assert.equal(again.alerts.available, true);
  assert.equal(again.alerts.total, 3);
  assert.deepEqual(again.alerts.byDevice, { 'pump-1': 3 });
});

test('anomalies flagged: the period replayed through the anomaly detector finds an injected spike', async (t) => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  const readings: Reading[] = [];
  for (let i = 0; i < 1440; i++) readings.push({ device: 'd', ts: FROM + i * MIN, fields: { temp: i === 1200 ? 95 : 20 + Math.sin(i / 30) }, tags: {} });
  await store.write(readings);
  const def = checkDefinition({ name: 'x', devices: { mode: 'list', list: ['d'] }, fields: ['temp'], anomalies: true, alerts: false });
  const data = await computeReport(def, explicitPeriod(FROM, TO, 'UTC'), { store, now: TO });
  assert.equal(data.anomalies.available, true);
  assert.ok(data.anomalies.items.some((a) => a.ts === FROM + 1200 * MIN), JSON.stringify(data.anomalies.items.slice(0, 3)));
  assert.equal(data.alerts.available, false);
  assert.match(data.alerts.note, /not included/);
});

test('report definitions name the bad setting', () => {
  assert.throws(() => checkDefinition({ name: '' }), /name/);
  assert.throws(() => checkDefinition({ name: 'a', period: 'yesterday' }), /period/);
  assert.throws(() => checkDefinition({ name: 'a', timezone: 'Berlin' }), /timezone/);
  assert.throws(() => checkDefinition({ name: 'a', gapsLongerThan: '10 minutes' }), /gapsLongerThan/);
  assert.throws(() => checkDefinition({ name: 'a', formats: ['docx'] }), /docx/);
  assert.throws(() => checkDefinition({ name: 'a', devices: { mode: 'list', list: [] } }), /devices\.list/);
  assert.throws(() => checkDefinition({ name: 'a', thresholds: { t: { above: 'hot' } } }), /thresholds\.t\.above/);
  // The node's text forms are not the definition's: the error shows the object to write.
  assert.throws(() => checkDefinition({ name: 'a', thresholds: 'temperature > 30' }), /^BadParameterError: thresholds: must be an object keyed by field name, e\.g\. \{"temperature": \{"above": 30, "below": 5\}\}$/);
  assert.throws(() => checkDefinition({ name: 'a', units: 'power = W' }), /units: must be an object keyed by field name, e\.g\. \{"power": "W", "temperature": "°C"\}/);
});
