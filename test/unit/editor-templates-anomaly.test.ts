/** The anomaly node's dialog flags exactly the settings its runtime refuses (see editor-templates.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANOMALY_DEFAULTS, engineOptionsOf, type AnomalyOptions } from '../../nodes/anomaly/options';
import { AnomalyEngine } from '../../nodes/lib/anomaly';
import { fresh, problems } from '../helpers/editor-templates';

/** The runtime's verdict on the anomaly options: the error it would show, or null. */
function anomalyError(o: Record<string, unknown>): string | null {
  try {
    new AnomalyEngine(engineOptionsOf({ name: '', ...ANOMALY_DEFAULTS, store: '', configVersion: 2, ...o } as AnomalyOptions));
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

test('the anomaly node flags exactly the settings the runtime refuses, each with its reason', () => {
  const number = 'must be a number';
  const duration = 'a duration such as 30s, 5m, 1h, 1d or 1w';
  const cases: Array<[Record<string, unknown>, Record<string, string>]> = [
    [{}, {}],
    [{ detector: 'nonsense' }, { detector: 'choose one of the detectors' }],
    [{ detector: 'limits' }, { min: 'give a minimum, a maximum, or per-field limits in the advanced config' }],
    [{ detector: 'limits', max: '80' }, {}],
    [{ detector: 'limits', min: '-5' }, {}],
    [{ detector: 'limits', min: 'cold' }, { min: number }],
    [{ detector: 'limits', max: 'hot' }, { max: number }],
    [{ detector: 'limits', min: '90', max: '80' }, { min: 'the minimum is above the maximum' }],
    [{ detector: 'limits', min: '80', max: '80' }, {}],
    [{ detector: 'limits', advanced: '{"fields": {"temperature": {"max": 80}}}' }, {}],
    [{ detector: 'limits', advanced: '{"type": "zscore"}' }, {}],
    [{ detector: 'limits', advanced: '{"max": 80}' }, {}],
    // A whole detector config in advanced: the fields for the chosen one are not read.
    [{ detector: 'limits', min: 'cold', advanced: '{"type": "zscore"}' }, {}],
    [{ detector: 'zscore', sigma: 'x', window: 'week', advanced: '{"type": "ewma"}' }, {}],
    [{ detector: 'zscore', sigma: 'x' }, { sigma: number }],
    [{ detector: 'zscore', sigma: '0' }, { sigma: 'a number above 0' }],
    [{ detector: 'ewma', sigma: '3.5' }, {}],
    [{ sigma: 'x' }, { sigma: number }],
    [{ detector: 'zscore', window: '7 days' }, { window: duration }],
    [{ detector: 'rate', window: '5000' }, { window: duration }],
    [{ detector: 'rate', window: '0h' }, { window: duration }],
    [{ detector: 'zscore', window: '7d' }, {}],
    [{ detector: 'rate', window: '90 min' }, {}],
    [{ detector: 'holtwinters', season: 'weekly' }, { season: 'auto, none, or a duration such as 1d' }],
    [{ detector: 'holtwinters', season: '0' }, { season: 'auto, none, or a duration such as 1d' }],
    [{ detector: 'holtwinters', season: 'none' }, {}],
    [{ detector: 'holtwinters', season: '1d' }, {}],
    [{ detector: 'holtwinters', season: '86400000' }, {}],
    [{ advanced: '{' }, { advanced: 'the advanced config is not valid JSON: ' }],
    [{ advanced: '[1]' }, { advanced: 'the advanced config must be a JSON object' }],
    [{ advanced: '{"window": "1d"}' }, { advanced: 'for the default detector the advanced config must be a whole detector config with "type"' }],
    [{ advanced: '{}' }, {}],
    [{ advanced: '{"type": "zscore", "window": "1d"}' }, {}],
    [{ detector: 'zscore', advanced: '{"window": "1d"}' }, {}],
    [{ threshold: '0' }, { threshold: 'a number above 0 and at most 1' }],
    [{ threshold: '1.5' }, { threshold: 'a number above 0 and at most 1' }],
    [{ threshold: 'high' }, { threshold: 'a number above 0 and at most 1' }],
    [{ threshold: '1' }, {}],
    [{ threshold: '' }, {}],
    [{ maxSeries: '0' }, { maxSeries: 'a whole number, at least 1' }],
    [{ maxSeries: '2.5' }, { maxSeries: 'a whole number, at least 1' }],
    [{ maxSeries: 'many' }, { maxSeries: 'a whole number, at least 1' }],
    [{ maxSeries: '1' }, {}],
    [{ maxSeriesPerDevice: '0' }, { maxSeriesPerDevice: 'a whole number, at least 1' }],
    [{ maxSeriesPerDevice: '1.5' }, { maxSeriesPerDevice: 'a whole number, at least 1' }],
    [{ maxSeriesPerDevice: 'few' }, { maxSeriesPerDevice: 'a whole number, at least 1' }],
    [{ maxSeriesPerDevice: '' }, {}],
    // Above Max series is no error: the total still caps all of them.
    [{ maxSeries: '1', maxSeriesPerDevice: '1' }, {}],
    [{ maxSeries: '5', maxSeriesPerDevice: '100' }, {}],
    [{ detector: 'zscore', warmup: '-1' }, { warmup: 'a whole number of readings, 0 or more' }],
    [{ detector: 'limits', max: '80', warmup: '2.5' }, { warmup: 'a whole number of readings, 0 or more' }],
    [{ detector: 'flatline', warmup: 'soon' }, { warmup: 'a whole number of readings, 0 or more' }],
    [{ detector: 'zscore', warmup: '0' }, {}],
    // Each detector's own least warm-up; the default runs Holt-Winters.
    [{ warmup: '9' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ warmup: 'soon' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ warmup: '10' }, {}],
    [{ detector: 'ewma', warmup: '1' }, { warmup: 'a whole number of readings, at least 2 for this detector' }],
    [{ detector: 'rate', warmup: '0' }, { warmup: 'a whole number of readings, at least 1 for this detector' }],
    [{ detector: 'rate', warmup: '1' }, {}],
    [{ detector: 'holtwinters', warmup: '9' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ detector: 'novelty', warmup: '9' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ detector: 'novelty', warmup: '10' }, {}],
    [{ detector: 'iforest', warmup: '100' }, { warmup: 'a whole number of readings, at least 515 for this detector' }],
    [{ detector: 'iforest', warmup: '515' }, {}],
    [{ detector: 'iforest', warmup: '20', advanced: '{"window": 16, "shingle": 1}' }, {}],
    [{ detector: 'iforest', warmup: '15', advanced: '{"window": 16, "shingle": 1}' }, { warmup: 'a whole number of readings, at least 16 for this detector' }],
    [{ detector: 'ewma', warmup: '0', advanced: '{"warmup": 5}' }, {}],
    [{ heartbeatMissed: '-1' }, { heartbeatMissed: 'a number of intervals, 0 (off) or more' }],
    [{ heartbeatMissed: 'few' }, { heartbeatMissed: 'a number of intervals, 0 (off) or more' }],
    [{ heartbeatMissed: '0' }, {}],
    [{ heartbeatMissed: '1.5' }, {}],
    [{ heartbeatInterval: 'often' }, { heartbeatInterval: duration }],
    [{ heartbeatInterval: '0' }, { heartbeatInterval: duration }],
    [{ heartbeatInterval: '60000' }, {}],
    [{ heartbeatInterval: '5m' }, {}],
    [{ heartbeatInterval: 'often', heartbeatMissed: '0' }, {}],
    [{ units: 'temperature' }, { units: 'write field=unit, separated by commas, e.g. temperature=°C, humidity=%' }],
    [{ units: 'temperature=°C, humidity=%' }, {}],
    [{ fields: 'temperature, humidity' }, {}],
  ];
  for (const [changes, expected] of cases) {
    const label = JSON.stringify(changes);
    const found = problems('upperstack-anomaly', fresh('upperstack-anomaly', changes));
    assert.deepEqual(Object.keys(found), Object.keys(expected), label);
    for (const [prop, reason] of Object.entries(expected)) assert.ok(found[prop].startsWith(reason), `${label}: ${found[prop]}`);
    const runtime = anomalyError(changes);
    assert.equal(runtime === null, Object.keys(expected).length === 0, `runtime: ${label}: ${runtime}`);
  }
});

test('an anomaly node saved before configVersion stays valid where the runtime\'s migration fills the gap', () => {
  // Options missing or null take the defaults; numbers were numbers; an unknown detector becomes the default.
  for (const legacy of [{}, { threshold: null, maxSeries: null, warmup: null }, { warmup: 20, maxSeries: 100, heartbeatMissed: 0, threshold: 0.9 }, { detector: 'nonsense' }]) {
    assert.deepEqual(problems('upperstack-anomaly', legacy), {}, JSON.stringify(legacy));
  }
  // What the migration cannot repair stays flagged.
  assert.deepEqual(Object.keys(problems('upperstack-anomaly', { warmup: -1 })), ['warmup']);
});
