/**
 * "Is anomalous" rules fed as the pack feeds them: the store's readings first,
 * then the anomaly node's verdicts on the anomalous ones of the same message.
 * With a batch (a bulk import) every plain reading of it comes before its
 * verdicts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import type { Rule } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const WHY = 'value 45 is 30σ above its 8-hour median of 20';

const anyField: Rule = { id: 'odd', name: 'Odd', devices: { all: true }, when: { op: 'anomalous', score: 0.5 }, severity: 'warning' };

function batch(from: number, n: number, spikes: readonly number[]): Reading[] {
  return Array.from({ length: n }, (_, k) => ({ device: 'd', ts: T0 + (from + k) * MIN, fields: { temperature: spikes.includes(from + k) ? 45 : 20 }, tags: {} }));
}

/** What the anomaly node's anomalies output carries for the batch: its anomalous readings, each with its verdict. */
function verdictsOf(readings: Reading[], spikes: readonly number[]): Reading[] {
  return readings.filter((r) => spikes.includes((r.ts - T0) / MIN)).map((r) => ({ ...r, anomaly: { score: 0.9, isAnomaly: true, reason: WHY } }) as Reading);
}

/** The store's batch, then the anomaly node's verdicts on it, as the alert node gets them. */
function feed(engine: RuleEngine, from: number, n: number, spikes: readonly number[]) {
  const plain = batch(from, n, spikes);
  return [...engine.process(plain), ...engine.process(verdictsOf(plain, spikes))];
}

describe('rule engine: an anomalous condition judged on a batch', () => {
  it('the alert starts at the first anomalous reading of the batch, not at its last reading', () => {
    const engine = new RuleEngine([anyField], { clock: () => T0 + 1000 * MIN });
    const out = feed(engine, 0, 500, [120, 310]);
    const fired = out.find((e) => e.event === 'firing');
    assert.ok(fired, 'the alert fires');
    assert.equal(fired.since, T0 + 120 * MIN);
    assert.equal(fired.ts, T0 + 120 * MIN);
    assert.equal(out.filter((e) => e.event === 'firing').length, 1, 'one alert for the batch');
  });

  it('an alert raised by the last batch clears with that batch\'s last reading, which came without a verdict; one raised by a batch\'s last reading waits for the next', () => {
    const engine = new RuleEngine([anyField], { clock: () => T0 + 1000 * MIN });
    assert.deepEqual(feed(engine, 0, 300, [299]).map((e) => e.event), ['firing']);
    const out = feed(engine, 300, 200, [420]);
    assert.deepEqual(out.map((e) => [e.event, e.since, e.ts]), [
      ['cleared', T0 + 299 * MIN, T0 + 300 * MIN],
      ['firing', T0 + 420 * MIN, T0 + 420 * MIN],
      ['cleared', T0 + 420 * MIN, T0 + 499 * MIN],
    ]);
    assert.equal(engine.alert('odd:d')?.state, 'cleared');
  });

  it('an AND/OR rule with an anomalous condition clears with the batch as well', () => {
    const rule: Rule = { id: 'odd', name: 'Odd', devices: { all: true }, when: { any: [{ field: 'temperature', op: 'anomalous', score: 0.5 }, { field: 'temperature', op: 'above', value: 100 }] }, severity: 'warning' };
    const engine = new RuleEngine([rule], { clock: () => T0 + 1000 * MIN });
    const out = feed(engine, 0, 500, [120]);
    assert.deepEqual(out.map((e) => [e.event, e.ts]), [['firing', T0 + 120 * MIN], ['cleared', T0 + 499 * MIN]]);
  });

  it('a rule on any field names the field the verdict is about, in its event and default message', () => {
    const engine = new RuleEngine([anyField], { clock: () => T0 + 1000 * MIN });
    const [fired] = feed(engine, 0, 1, [0]);
    assert.equal(fired.event, 'firing');
    assert.equal(fired.field, 'temperature');
    assert.equal(fired.value, 45);
    assert.equal(fired.message, 'Odd: d temperature is 45');
    assert.equal(fired.reason, `temperature is anomalous (score 0.5 or more): ${WHY}`);
  });

  it('with a verdict per field, a rule on any field names the field of the highest score', () => {
    const engine = new RuleEngine([anyField], { clock: () => T0 });
    const r = { device: 'd', ts: T0, fields: { temperature: 45, humidity: 40 }, tags: {}, anomaly: { score: 0.9, reason: WHY }, anomalies: { temperature: { score: 0.9, reason: WHY }, humidity: { score: 0.1, reason: 'usual' } } } as Reading;
    const [fired] = engine.process(r);
    assert.equal(fired.message, 'Odd: d temperature is 45');
  });
});
