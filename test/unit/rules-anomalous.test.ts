import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import type { Rule } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';

const S = 1000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const T_WHY = 'value 68.7 is 36.8σ above its 10-hour median of 20.0';

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
