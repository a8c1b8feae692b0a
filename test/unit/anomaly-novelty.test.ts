/** The novelty detector (levels a series has not visited recently) and how the likelihood layer lets its alarms stand. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backtest, type Point } from '../../nodes/lib/anomaly/backtest';
import { compileDetector, DEFAULT_DETECTOR } from '../../nodes/lib/anomaly/config';
import { AnomalyEngine, type AnomalyEngineOptions } from '../../nodes/lib/anomaly/engine';
import { Prng } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import type { DetectorConfig, NoveltyConfig } from '../../nodes/lib/anomaly/types';

const T0 = Date.UTC(2024, 0, 1);
const STEP = 5 * 60_000;

function series(n: number, f: (i: number, noise: number, rng: Prng) => number, seed = 11): Point[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, (_, i) => ({ ts: T0 + i * STEP, value: f(i, rng.next() - 0.5, rng) }));
}

function flagged(points: Point[], config: DetectorConfig): number[] {
  return backtest(points, config)
    .verdicts.map((v, i) => (v?.isAnomaly ? i : -1))
    .filter((i) => i >= 0);
}

const novelty = (c: Partial<NoveltyConfig> = {}): DetectorConfig => ({ type: 'novelty', ...c });

describe('novelty: levels not visited recently', () => {
  it('says nothing during its warm-up, then alarms on a value higher than anything recent, in words', () => {
    const points = series(3000, (i, n) => 20 + n + (i === 2500 ? 3 : 0));
    const { verdicts } = backtest(points, novelty(), { field: 'temperature', unit: '°C' });
    assert.ok(verdicts.slice(0, 100).every((v) => v === null));
    assert.ok(verdicts[100]);
    assert.deepEqual(flagged(points, novelty()), [2500]);
    assert.match(verdicts[2500]!.reason, /^temperature 2\d\.\d °C is higher than anything in the past 8\.7 days \(2,500 readings\); the highest before was about 20\.\d °C$/);
    assert.equal(verdicts[2500]!.detector, 'novelty');
    assert.match(verdicts[2499]!.reason, /^temperature [\d.]+ °C is at a level it has visited recently$/);
  });

  it('alarms on a value in a gap between the two levels a series keeps to, and on a new low', () => {
    // A server that is idle (1) or busy (9), never in between, until reading 2000; at 2500 it drops below idle.
    const points = series(3000, (i, n) => (i === 2000 ? 5 : i === 2500 ? -3 : Math.floor(i / 50) % 2 ? 9 : 1) + 0.1 * n);
    const { verdicts } = backtest(points, novelty(), { field: 'load' });
    assert.deepEqual(flagged(points, novelty()), [2000, 2500]);
    assert.match(verdicts[2000]!.reason, /^load [45]\.\d\d is at a level not seen in the past 6\.9 days \(2,000 readings\): nothing between about 1\.\d\d and [89]\.\d\d$/);
    assert.match(verdicts[2500]!.reason, /^load -3\.\d\d is lower than anything in the past 8\.7 days \(2,500 readings\); the lowest before was about [\d.]+$/);
  });

  it('does not alarm on the ordinary bursts of a bursty series, however quiet it was before', () => {
    // Bursts of 40 to 80 now and then, with a week without any; then one burst far higher.
    const points = series(5000, (i, n, rng) => 1 + 0.2 * n + (rng.next() < 0.01 && (i < 2000 || i > 4000) ? 40 + 40 * rng.next() : 0) + (i === 4500 ? 400 : 0));
    // Early on, with two or three bursts seen, a burst higher than those is news; later the bursts are its levels.
    assert.deepEqual(flagged(points, novelty()).filter((i) => i >= 1000), [4500]);
  });

  it('forgets levels not visited within its horizon', () => {
    // A high level visited once at reading 500 (during warm-up it would set the scale, so later), then again at 1000 and 4000.
    const points = series(5000, (i, n) => 10 + n + (i === 500 || i === 1000 || i === 4000 ? 30 : 0));
    assert.deepEqual(flagged(points, novelty()), [500]);
    assert.deepEqual(flagged(points, novelty({ horizon: 2000 })), [500, 4000]);
  });

  it('waits for a constant warm-up to vary before it sets its scale, and reports the first different value', () => {
    const points = series(400, (i) => (i < 300 ? 42 : 43));
    const { verdicts } = backtest(points, novelty());
    assert.ok(verdicts.slice(0, 300).every((v) => v === null));
    assert.ok(verdicts[300] === null, 'the first different value sets the scale');
    assert.deepEqual(flagged(points, novelty()), []);
    const later = series(400, (i) => (i < 300 ? 42 : i < 350 ? 42 + (i % 2) : 50));
    assert.deepEqual(flagged(later, novelty()), [350]);
  });

  it('keeps a bounded table of levels on hostile values', () => {
    const make = compileDetector(novelty());
    const d = make();
    const rng = new Prng(9);
    for (let i = 0; i < 20_000; i++) d.update(T0 + i * STEP, i < 200 ? rng.next() : (rng.next() - 0.5) * 10 ** (rng.next() * 300), { field: 'v' });
    const state = d.toJSON() as { last: number[] };
    // 4 steps per level; 6 levels to the edge of the usual range and 6 more per e-fold of distance, up to 20 e-folds, each side (and 8 spare on each).
    assert.ok(state.last.length <= 2 * (4 * 6 * 21 + 8) + 1, `table of ${state.last.length} steps`);
  });

  it('continues from saved state with the same verdicts', () => {
    const points = series(4000, (i, n) => 10 + n + (i % 900 === 0 ? 4 + i / 1000 : 0));
    const make = compileDetector(novelty());
    const straight = make();
    const expected = points.map((p) => straight.update(p.ts, p.value, { field: 'v' }));
    for (const cut of [50, 2000]) {
      const first = make();
      points.slice(0, cut).forEach((p) => first.update(p.ts, p.value, { field: 'v' }));
      const resumed = make(JSON.parse(JSON.stringify(first.toJSON())));
      assert.deepEqual(points.slice(cut).map((p) => resumed.update(p.ts, p.value, { field: 'v' })), expected.slice(cut));
    }
  });

  it('rejects bad parameters with DetectorConfigError naming them', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ type: 'novelty', resolution: 1 }, /novelty\.resolution must be at least 2/],
      [{ type: 'novelty', resolution: 4.5 }, /novelty\.resolution must be a whole number/],
      [{ type: 'novelty', horizon: 'long' }, /novelty\.horizon must be a number/],
      [{ type: 'novelty', warmup: 5 }, /novelty\.warmup must be at least 10/],
      [{ type: 'novelty', window: '1d' }, /novelty has no parameter "window"/],
    ];
    for (const [config, message] of bad) {
      assert.throws(() => compileDetector(config as DetectorConfig), (e: unknown) => e instanceof DetectorConfigError && message.test(e.message), JSON.stringify(config));
    }
  });
});

describe('novelty under the likelihood layer (the default)', () => {
  it('lets a novelty alarm stand, once per episode', () => {
    // A move to a new level for 50 readings: one alarm, not one per reading.
    const points = series(4000, (i, n) => 20 + n + (i >= 3000 && i < 3050 ? 8 : 0));
    const alarms = flagged(points, DEFAULT_DETECTOR);
    assert.equal(alarms.filter((i) => i >= 3000 && i < 3100).length, 1, `alarms at ${alarms}`);
    assert.ok(alarms[0] >= 3000 && alarms[0] < 3003, `alarms at ${alarms}`);
  });

  it('takes over state saved by the previous default (without novelty): the members carry on and novelty starts learning', () => {
    const previous: DetectorConfig = { type: 'likelihood', detector: { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'holtwinters' }, { type: 'flatline' }] } };
    const points = series(1500, (i, n) => 20 + n);
    const old = compileDetector(previous)();
    for (const p of points) old.update(p.ts, p.value, { field: 'v' });
    const restored = compileDetector(DEFAULT_DETECTOR)(JSON.parse(JSON.stringify(old.toJSON())));
    const o = restored.update(points[1499].ts + STEP, 20, { field: 'v' });
    assert.ok(o, 'Holt-Winters is past its warm-up and judges at once');
    const state = restored.toJSON() as { inner: unknown[]; streams: unknown[] };
    assert.equal(state.inner.length, 4);
    assert.equal((state.inner[3] as { history: number[] }).history.length, 1);
    // Through the engine, as a node restarting with saved context does.
    const options: AnomalyEngineOptions = { heartbeat: false, clock: () => 0 };
    const engine = new AnomalyEngine(options);
    const rs = points.map((p) => ({ device: 'd', ts: p.ts, fields: { v: p.value }, tags: {} }));
    rs.forEach((r) => engine.process(r));
    const saved = JSON.parse(JSON.stringify(engine.toJSON()));
    for (const s of saved.series) s.state = { ...s.state, inner: s.state.inner.slice(0, 3), streams: s.state.streams.slice(0, 3) };
    const again = AnomalyEngine.fromJSON(saved, options);
    assert.ok(again.process({ device: 'd', ts: points[1499].ts + STEP, fields: { v: 20 }, tags: {} }).anomaly.v);
  });
});
