import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import type { Condition, Rule } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';

const S = 1000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const T_WHY = 'value 68.7 is 36.8σ above its 10-hour median of 20.0';
const H_WHY = 'value 97 is 5.1σ above its 10-hour median of 41';

describe('rule engine: an anomalous condition with thresholds of its own', () => {
  it('with a recovery threshold on its field, it fires on the verdict and clears at the threshold', () => {
    const rule: Rule = {
      id: 'odd',
      name: 'Odd',
      devices: { all: true },
      when: { field: 'temperature', op: 'anomalous', score: 0.7 },
      clear: { field: 'temperature', op: 'below', value: 25 },
      severity: 'warning',
    };
    let now = T0;
    const engine = new RuleEngine([rule], { clock: () => now });
    const fired = engine.process({ device: 'd', ts: T0, fields: { temperature: 68.7 }, tags: {}, anomaly: { score: 0.9, reason: T_WHY } } as Reading);
    assert.deepEqual(fired.map((e) => e.event), ['firing']);
    assert.equal(fired[0].reason, `temperature is anomalous (score 0.7 or more): ${T_WHY}`);
    now = T0 + S;
    assert.deepEqual(engine.process({ device: 'd', ts: now, fields: { temperature: 40 }, tags: {} }), [], 'not anomalous, not yet below 25');
    now = T0 + 2 * S;
    const cleared = engine.process({ device: 'd', ts: now, fields: { temperature: 21 }, tags: {} });
    assert.deepEqual(cleared.map((e) => e.event), ['cleared']);
  });
});

/** The anomaly node's annotated reading: a verdict per field. */
function verdicts(ts: number, t: number, h: number): Reading {
  return {
    device: 'd',
    ts,
    fields: { temperature: 68.7, humidity: 97 },
    tags: {},
    anomalies: { temperature: { score: t, reason: T_WHY }, humidity: { score: h, reason: H_WHY } },
  } as Reading;
}

/** "temperature anomalous AND/OR humidity anomalous", optionally for a while. */
function both(any: boolean, holdFor?: string): Rule {
  const leaves: Condition[] = [
    { field: 'temperature', op: 'anomalous', score: 0.7 },
    { field: 'humidity', op: 'anomalous', score: 0.7 },
  ];
  const when = any ? { any: leaves, for: holdFor } : { all: leaves, for: holdFor };
  return { id: 'odd', name: 'Odd', devices: { all: true }, when, severity: 'warning', message: '{reason}' };
}

const EACH = `temperature is anomalous (score 0.7 or more): ${T_WHY} and humidity is anomalous (score 0.7 or more): ${H_WHY}`;

describe('rule engine: each anomalous condition of a group keeps its own explanation', () => {
  for (const any of [false, true]) {
    it(`${any ? 'OR' : 'AND'} group of two anomalous fields, both holding: the reason carries each field's own explanation`, () => {
      const engine = new RuleEngine([both(any)], { clock: () => T0 });
      const out = engine.process(verdicts(T0, 0.9, 0.8));
      assert.deepEqual(out.map((e) => e.event), ['firing']);
      assert.equal(out[0].reason, EACH);
      assert.equal(out[0].message, EACH);
    });
  }

  it('a leaf that stops holding takes its explanation with it; the other keeps its own', () => {
    let now = T0;
    const engine = new RuleEngine([both(true, '1m')], { clock: () => now });
    const pending = engine.process(verdicts(T0, 0.9, 0.8));
    assert.equal(pending[0].reason, `${EACH}; it fires if this holds for 1 minute`);
    now = T0 + S;
    engine.process(verdicts(now, 0.1, 0.8));
    now = T0 + 61 * S;
    const out = engine.tick();
    assert.deepEqual(out.map((e) => e.event), ['firing']);
    assert.equal(out[0].reason, `humidity is anomalous (score 0.7 or more): ${H_WHY}, holding for 1 minute (no reading since said otherwise)`);
  });

  it('a restart keeps each explanation', () => {
    const rule = both(false, '1m');
    const engine = new RuleEngine([rule], { clock: () => T0 });
    engine.process(verdicts(T0, 0.9, 0.8));
    const saved = JSON.parse(JSON.stringify(engine.exportState()));
    let now = T0 + 5 * S;
    const again = new RuleEngine([rule], { clock: () => now });
    again.importState(saved);
    // Only temperature is judged after the restart: humidity's explanation is the one from before it.
    const later = 'value 70.1 is 37.5σ above its 10-hour median of 20.0';
    const only = (ts: number) => ({ device: 'd', ts, fields: { temperature: 70.1 }, tags: {}, anomalies: { temperature: { score: 0.9, reason: later } } }) as Reading;
    assert.deepEqual(again.process(only(now)), []);
    now = T0 + 65 * S;
    const out = again.process(only(now));
    assert.deepEqual(out.map((e) => e.event), ['firing']);
    assert.equal(out[0].reason, `temperature is anomalous (score 0.7 or more): ${later} and humidity is anomalous (score 0.7 or more): ${H_WHY} for 1 minute`);
  });
});
