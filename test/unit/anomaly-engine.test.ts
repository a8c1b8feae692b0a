import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STANDARD_ENSEMBLE } from '../../nodes/lib/anomaly/config';
import { AnomalyEngine, type AnomalyEngineOptions, type ReadingResult } from '../../nodes/lib/anomaly/engine';
import { durationAdjective, durationWords, formatNumber, parseDuration } from '../../nodes/lib/anomaly/format';
import { Prng } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';

const T0 = Date.UTC(2024, 0, 1);
const STEP = 5 * 60_000;

/** Two devices, two numeric fields and a text field; a daily wave, spikes and a stuck spell. */
function stream(n: number): Reading[] {
  const rng = new Prng(5);
  const out: Reading[] = [];
  for (let i = 0; i < n; i++) {
    for (const device of ['boiler-1', 'boiler-2']) {
      const wave = 60 + 10 * Math.sin((2 * Math.PI * i) / 288);
      out.push({
        device,
        ts: T0 + i * STEP,
        fields: {
          temperature: wave + (rng.next() - 0.5) + (i === 1300 && device === 'boiler-1' ? 25 : 0),
          pressure: i >= 1500 && i < 1600 && device === 'boiler-2' ? 2.5 : 2 + 0.1 * rng.next(),
          status: 'ok',
        },
        tags: {},
      });
    }
  }
  return out;
}

const OPTIONS: AnomalyEngineOptions = { units: { temperature: '°C', pressure: 'bar' }, heartbeat: false, clock: () => 0 };

describe('AnomalyEngine.process', () => {
  it('judges every numeric field of a reading and skips the others', () => {
    const engine = new AnomalyEngine(OPTIONS);
    const r = engine.process({ device: 'd', ts: T0, fields: { a: 1, b: 2, s: 'text', f: true }, tags: {} });
    assert.deepEqual(Object.keys(r.anomaly).sort(), ['a', 'b']);
    assert.equal(engine.stats().series, 2);
  });

  it('watches only the configured fields', () => {
    const engine = new AnomalyEngine({ ...OPTIONS, fields: ['b'] });
    const r = engine.process({ device: 'd', ts: T0, fields: { a: 1, b: 2 }, tags: {} });
    assert.deepEqual(Object.keys(r.anomaly), ['b']);
  });

  it('gives null verdicts while a series warms up, then verdicts', () => {
    const engine = new AnomalyEngine({ ...OPTIONS, detector: { type: 'zscore' }, warmup: 40 });
    const results = stream(60).map((r) => engine.process(r));
    const temps = results.filter((r) => r.device === 'boiler-1').map((r) => r.anomaly.temperature);
    assert.ok(temps.slice(0, 40).every((v) => v === null));
    assert.ok(temps.slice(40).every((v) => v !== null && typeof v.reason === 'string'));
  });

  function alarmsOf(engine: AnomalyEngine, n: number): { alarms: string[]; reasons: string[]; results: ReadingResult[] } {
    const alarms: string[] = [];
    const reasons: string[] = [];
    const results = engine.process(stream(n));
    for (const r of results) {
      for (const [field, v] of Object.entries(r.anomaly)) {
        if (!v?.isAnomaly) continue;
        alarms.push(`${r.device}@${(r.ts - T0) / STEP} ${field} ${v.detector}`);
        reasons.push(v.reason);
      }
    }
    return { alarms, reasons, results };
  }

  it('finds the spike, the jump and the stuck pressure with the plain ensemble, with units in the reasons', () => {
    const { alarms, reasons } = alarmsOf(new AnomalyEngine({ ...OPTIONS, detector: STANDARD_ENSEMBLE }), 1700);
    // Nothing else alarms, and a stuck sensor re-alarms only as the spell doubles (10, 20, 40, 80 readings).
    assert.deepEqual(alarms, [
      'boiler-1@1300 temperature holtwinters',
      'boiler-2@1500 pressure holtwinters',
      'boiler-2@1509 pressure flatline',
      'boiler-2@1519 pressure flatline',
      'boiler-2@1539 pressure flatline',
      'boiler-2@1579 pressure flatline',
    ]);
    assert.match(reasons[0], /^temperature 84\.\d °C is \d+\.\dσ above the 59\.\d °C expected at this point of its 1-day cycle$/);
    assert.match(reasons[1], /^pressure 2\.50 bar is \d+\.\dσ above the 2\.\d+ bar expected from its recent level and trend$/);
    assert.equal(reasons[2], 'pressure has been stuck at 2.50 bar for 45 minutes (10 readings); before, it never stayed the same for more than 1 reading');
  });

  it('with the default detector, reports the spike and the jump once each; the stuck spell after the jump is the same episode', () => {
    const { alarms, reasons, results } = alarmsOf(new AnomalyEngine(OPTIONS), 1700);
    // Holt-Winters is still learning what is usual for its errors (readings 1000-1600), so its own alarms stand.
    assert.deepEqual(alarms, ['boiler-1@1300 temperature holtwinters', 'boiler-2@1500 pressure holtwinters']);
    assert.match(reasons[0], /^temperature 84\.\d °C is \d+\.\dσ above the 59\.\d °C expected at this point of its 1-day cycle$/);
    const stuck = results.filter((r) => r.device === 'boiler-2')[1519].anomaly.pressure!;
    assert.equal(stuck.isAnomaly, false);
    assert.equal(stuck.detector, 'flatline');
    assert.match(stuck.reason, /stuck at 2\.50 bar for 95 minutes \(20 readings\).*; part of the unusual spell already reported 95 minutes ago$/);
  });

  it('processes a batch exactly like the same readings one by one', () => {
    const readings = stream(400);
    const a = new AnomalyEngine(OPTIONS);
    const b = new AnomalyEngine(OPTIONS);
    assert.deepEqual(a.process(readings), readings.map((r) => b.process(r)));
  });
});

describe('series cap', () => {
  it('evicts the least recently seen series and reports it', () => {
    const engine = new AnomalyEngine({ ...OPTIONS, maxSeries: 3 });
    const read = (device: string, ts: number) => engine.process({ device, ts, fields: { v: 1 }, tags: {} });
    read('a', 1);
    read('b', 2);
    read('c', 3);
    read('a', 4); // a is now the most recent: b is the least recently seen
    const r = read('d', 5);
    assert.deepEqual(r.evicted, [{ device: 'b', field: 'v' }]);
    assert.deepEqual(read('e', 6).evicted, [{ device: 'c', field: 'v' }]);
    assert.deepEqual(engine.stats(), { series: 3, devices: 3, offline: 0, evicted: 2 });
    assert.deepEqual(read('a', 7).evicted, []);
  });

  it('watches at most maxSeriesPerDevice fields of one device: its further fields evict nobody', () => {
    const engine = new AnomalyEngine({ ...OPTIONS, maxSeries: 10, maxSeriesPerDevice: 3 });
    engine.process({ device: 'other', ts: 1, fields: { v: 1 }, tags: {} });
    const wide = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, i]));
    const r = engine.process({ device: 'noisy', ts: 2, fields: wide, tags: {} });
    // The first three fields are watched (warming up); the rest are not, and nothing was evicted.
    assert.deepEqual(Object.keys(r.anomaly), ['f0', 'f1', 'f2']);
    assert.deepEqual(r.evicted, []);
    assert.deepEqual(engine.stats(), { series: 4, devices: 2, offline: 0, evicted: 0 });
    // A new field name on the next reading is still not watched; the watched ones keep learning.
    assert.deepEqual(Object.keys(engine.process({ device: 'noisy', ts: 3, fields: { f0: 1, zz: 2 }, tags: {} }).anomaly), ['f0']);
    assert.equal(engine.stats().series, 4);
    assert.throws(() => new AnomalyEngine({ maxSeriesPerDevice: 0 }), /maxSeriesPerDevice/);
  });
});

describe('state', () => {
  it('continues after toJSON -> JSON text -> fromJSON with the same verdicts as an uninterrupted run', () => {
    const readings = stream(1400);
    const options: AnomalyEngineOptions = { ...OPTIONS, detector: { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'holtwinters', warmup: 400 }, { type: 'ewma' }, { type: 'rate' }, { type: 'flatline' }, { type: 'iforest', trees: 20, retrainEvery: 50 }] } };
    const straight = new AnomalyEngine(options);
    const expected = readings.map((r) => straight.process(r));

    const first = new AnomalyEngine(options);
    const cut = 1250;
    readings.slice(0, cut).forEach((r) => first.process(r));
    const saved = JSON.parse(JSON.stringify(first.toJSON()));
    const resumed = AnomalyEngine.fromJSON(saved, options);
    const after = readings.slice(cut).map((r) => resumed.process(r));
    assert.deepEqual(after, expected.slice(cut));
    assert.ok(after.some((r) => r.isAnomaly), 'the compared stretch should contain an anomaly');
  });

  it('starts series afresh when the detector config changed', () => {
    const engine = new AnomalyEngine({ ...OPTIONS, detector: { type: 'zscore' } });
    stream(50).forEach((r) => engine.process(r));
    const saved = engine.toJSON();
    assert.equal(AnomalyEngine.fromJSON(saved, { ...OPTIONS, detector: { type: 'zscore' } }).stats().series, 4);
    assert.equal(AnomalyEngine.fromJSON(saved, { ...OPTIONS, detector: { type: 'ewma' } }).stats().series, 0);
    assert.throws(() => AnomalyEngine.fromJSON({ version: 9 } as never), DetectorConfigError);
  });
});

describe('engine options', () => {
  it('reject bad values with DetectorConfigError', () => {
    assert.throws(() => new AnomalyEngine({ threshold: 2 }), /threshold must be a number above 0 and at most 1/);
    assert.throws(() => new AnomalyEngine({ maxSeries: 0 }), /maxSeries/);
    assert.throws(() => new AnomalyEngine({ heartbeat: { interval: 'soon' } }), /heartbeat\.interval "soon" is not a duration/);
    assert.throws(() => new AnomalyEngine({ detector: { type: 'zscore', threshold: -1 } }), DetectorConfigError);
  });
});

describe('reason wording', () => {
  it('writes durations and numbers for people', () => {
    assert.equal(durationAdjective(3_600_000), '1-hour');
    assert.equal(durationAdjective(86_400_000 * 7), '1-week');
    assert.equal(durationAdjective(5_400_000), '90-minute');
    assert.equal(durationWords(300_000), '5 minutes');
    assert.equal(durationWords(36 * 3_600_000), '36 hours');
    assert.equal(durationWords(2.5 * 86_400_000), '2.5 days');
    assert.equal(parseDuration('1.5h', 'x'), 5_400_000);
    assert.equal(formatNumber(72), '72.0');
    assert.equal(formatNumber(12345.6), '12346');
    assert.equal(formatNumber(0.0123), '0.0123');
  });
});
