/**
 * Handing devices from one engine to another (a cluster partition moving to
 * another member): the rule engine's and the anomaly engine's per-device
 * export / import / forget.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';
import { Prng } from '../../nodes/lib/anomaly/stats';
import type { AlertEvent, Rule } from '../../nodes/lib/rules/types';

const S = 1000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

const HOT: Rule = {
  id: 'hot',
  name: 'Too hot',
  devices: { all: true },
  when: { field: 'temperature', op: 'above', value: 30, for: '10s' },
  severity: 'warning',
  message: '{device} too hot',
};

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('rule engine: handing devices over', () => {
  it('a pending duration goes on at the new engine in event time and fires there once', () => {
    let now = T0;
    const a = new RuleEngine([HOT], { clock: () => now });
    const b = new RuleEngine([HOT], { clock: () => now });
    const events: AlertEvent[] = [];
    for (let i = 0; i <= 4; i++) events.push(...a.process({ device: 'd1', ts: T0 + i * S, fields: { temperature: 40 }, tags: {} }));
    a.process({ device: 'd2', ts: T0, fields: { temperature: 40 }, tags: {} });
    assert.deepEqual(events.map((e) => e.event), ['pending']);
    const moved = json(a.exportDevices((d) => d === 'd1'));
    assert.deepEqual(moved.devices.map((d) => d.id), ['d1'], 'only the devices asked for');
    assert.deepEqual(moved.records.map((r) => r.id), ['hot:d1']);
    assert.equal(a.forgetDevices((d) => d === 'd1'), 1);
    assert.equal(a.alert('hot:d1'), undefined, 'the old engine no longer shows the alert');
    assert.equal(a.alert('hot:d2')?.state, 'pending', 'other devices stay');
    b.importDevices(moved);
    assert.equal(b.alert('hot:d1')?.state, 'pending');
    // A gap in arrival (the hand-over) is not a gap in event time: 5 s more of readings complete the 10 s.
    now = T0 + 60 * S;
    for (let i = 5; i <= 10; i++) events.push(...b.process({ device: 'd1', ts: T0 + i * S, fields: { temperature: 40 }, tags: {} }));
    assert.deepEqual(events.map((e) => e.event), ['pending', 'firing']);
    assert.equal(events[1].ts, T0 + 10 * S);
    assert.equal(events[1].since, T0);
    for (let i = 11; i <= 30; i++) events.push(...b.process({ device: 'd1', ts: T0 + i * S, fields: { temperature: 40 }, tags: {} }));
    assert.equal(events.filter((e) => e.event === 'firing').length, 1, 'a firing alert does not fire again');
  });

  it('a firing alert moved to another engine does not fire again there; without the state it would', () => {
    const a = new RuleEngine([HOT]);
    for (let i = 0; i <= 10; i++) a.process({ device: 'd1', ts: T0 + i * S, fields: { temperature: 40 }, tags: {} });
    assert.equal(a.alert('hot:d1')?.state, 'firing');
    const moved = json(a.exportDevices(() => true));
    const withState = new RuleEngine([HOT]);
    withState.importDevices(moved);
    const cold = new RuleEngine([HOT]);
    const fired = { withState: 0, cold: 0 };
    for (let i = 11; i <= 30; i++) {
      const r = { device: 'd1', ts: T0 + i * S, fields: { temperature: 40 }, tags: {} };
      fired.withState += withState.process(r).filter((e) => e.event === 'firing').length;
      fired.cold += cold.process(r).filter((e) => e.event === 'firing').length;
    }
    assert.deepEqual(fired, { withState: 0, cold: 1 });
    assert.equal(withState.alert('hot:d1')?.occurrences, 1);
  });

  it('import replaces what the engine held for the device, and the changes reach the state log', () => {
    const a = new RuleEngine([HOT]);
    const b = new RuleEngine([HOT]);
    for (let i = 0; i <= 10; i++) b.process({ device: 'd1', ts: T0 + i * S, fields: { temperature: 40 }, tags: {} });
    b.takeChanges(true);
    a.process({ device: 'd1', ts: T0 + 20 * S, fields: { temperature: 20 }, tags: {} });
    b.importDevices(json(a.exportDevices(() => true)));
    assert.equal(b.alert('hot:d1'), undefined, 'the stale firing alert is gone');
    const changes = b.takeChanges(true);
    assert.deepEqual(changes.removedRecords, ['hot:d1']);
    assert.deepEqual(changes.dropped, [['hot', 'd1']]);
    b.process({ device: 'd1', ts: T0 + 10 * S, fields: { temperature: 40 }, tags: {} });
    assert.equal(b.alert('hot:d1'), undefined, 'event time carried over: an older reading is late');
  });

  it('a moved device keeps its tags: a dead-man rule for devices chosen by tag watches it at the new engine', () => {
    const SILENT: Rule = { id: 'silent', name: 'Silent', devices: { tags: { site: 'lab' } }, when: { op: 'not-reported', for: '15m' }, severity: 'critical' };
    let now = T0;
    const a = new RuleEngine([SILENT], { clock: () => now });
    a.process({ device: 'd1', ts: T0, fields: { temperature: 20 }, tags: { site: 'lab' } });
    a.process({ device: 'd2', ts: T0, fields: { temperature: 20 }, tags: { site: 'home' } });
    const b = new RuleEngine([SILENT], { clock: () => now });
    b.importDevices(json(a.exportDevices(() => true)));
    now = T0 + 16 * 60 * S;
    assert.deepEqual(b.tick().map((e) => `${e.rule}:${e.device}:${e.event}`), ['silent:d1:firing'], 'only the device tagged site=lab, silent since its last reading at the old engine');
  });
});

describe('anomaly engine: handing devices over', () => {
  it('a moved series keeps what it learned: the next spike is judged, where a fresh engine still warms up', () => {
    const rng = new Prng(3);
    const a = new AnomalyEngine();
    const readings = (device: string, from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ device, ts: T0 + (from + i) * 60 * S, fields: { level: 50 + rng.next() }, tags: {} }));
    a.process(readings('pump', 0, 300));
    a.process(readings('fan', 0, 10));
    const moved = json(a.exportDevices((d) => d === 'pump'));
    assert.deepEqual([...new Set(moved.series.map((s) => s.device))], ['pump']);
    assert.equal(a.forgetDevices((d) => d === 'pump'), 1);
    assert.deepEqual(a.stats(), { series: 1, devices: 1, offline: 0, evicted: 0 });
    const b = new AnomalyEngine();
    b.importDevices(moved);
    const cold = new AnomalyEngine();
    const spike = { device: 'pump', ts: T0 + 300 * 60 * S, fields: { level: 500 }, tags: {} };
    assert.equal(b.process(spike).isAnomaly, true, 'judged with the moved state');
    assert.equal(cold.process(spike).anomaly.level, null, 'a fresh engine has no verdict yet');
  });

  it('series learned under other detector settings are not taken over', () => {
    const a = new AnomalyEngine({ detector: { type: 'zscore' } });
    a.process(Array.from({ length: 50 }, (_, i) => ({ device: 'pump', ts: T0 + i * S, fields: { level: 50 + (i % 3) }, tags: {} })));
    const b = new AnomalyEngine();
    b.importDevices(json(a.exportDevices(() => true)));
    assert.deepEqual(b.stats(), { series: 0, devices: 1, offline: 0, evicted: 0 });
  });
});
