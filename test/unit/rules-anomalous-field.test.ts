/**
 * "Is anomalous" rules on readings with several numbers of which the anomaly
 * node watches only some: its one verdict names the field it judged, and the
 * alert names that field; when no field can be known the message still reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import type { Rule } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const WHY = 'value 45 is 30σ above its 8-hour median of 20';

const anyField: Rule = { id: 'odd', name: 'Odd', devices: { all: true }, when: { op: 'anomalous', score: 0.5 }, severity: 'warning' };

/** A reading with two numbers and the anomaly node's one verdict on it (`field` when the verdict names one). */
function judged(field?: string): Reading {
  return { device: 'd', ts: T0, fields: { temperature: 45, humidity: 40 }, tags: {}, anomaly: { score: 0.9, isAnomaly: true, reason: WHY, ...(field ? { field } : {}) } } as Reading;
}

describe('rule engine: an anomalous condition, one verdict on a reading with several numbers', () => {
  it('a rule on any field names the field the verdict names, and its value, in its event and default message', () => {
    const engine = new RuleEngine([anyField], { clock: () => T0 });
    const [fired] = engine.process(judged('temperature'));
    assert.equal(fired.event, 'firing');
    assert.equal(fired.field, 'temperature');
    assert.equal(fired.value, 45);
    assert.equal(fired.message, 'Odd: d temperature is 45');
    assert.equal(fired.reason, `temperature is anomalous (score 0.5 or more): ${WHY}`);
  });

  it('a rule on another field does not take that verdict as its own', () => {
    const rule: Rule = { ...anyField, when: { field: 'humidity', op: 'anomalous', score: 0.5 } };
    const engine = new RuleEngine([rule], { clock: () => T0 });
    assert.deepEqual(engine.process(judged('temperature')), []);
  });

  it('a verdict naming no field: the default message is a sentence, with no empty field or value in it', () => {
    const engine = new RuleEngine([anyField], { clock: () => T0 });
    const [fired] = engine.process(judged());
    assert.equal(fired.event, 'firing');
    assert.equal(fired.message, `Odd: d: a field is anomalous (score 0.5 or more): ${WHY}`);
  });

  it('a rule\'s own message is kept as written when no field is known', () => {
    const engine = new RuleEngine([{ ...anyField, message: '{device} odd' }], { clock: () => T0 });
    const [fired] = engine.process(judged());
    assert.equal(fired.message, 'd odd');
  });
});
