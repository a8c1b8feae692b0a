/**
 * The rolling window keeps its points compactly (times as Int32 offsets, the
 * value order as ring slots): whatever the series, it must answer exactly as
 * a plain list of the same points does, and an engine restored from saved
 * state must carry on with exactly the scores of one that never stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Window, type WindowState } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import { join } from 'node:path';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';
import { readStateFile, writeStateFile } from '../../nodes/lib/anomaly/state-file';
import { tempDir } from '../helpers/temp';

/** The saved times, read as WindowState documents them: plain, or a first time and gaps ([gap, n] for n equal ones). */
function timesIn(s: WindowState): number[] {
  if (s.t) return s.t;
  const t = [s.t0!];
  for (const g of s.dt!) for (let k = 0; k < (Array.isArray(g) ? g[1] : 1); k++) t.push(t[t.length - 1] + (Array.isArray(g) ? g[0] : g));
  return t;
}

/** The window as a plain list: the same eviction rule, statistics from a sorted copy. */
class PlainWindow {
  t: number[] = [];
  v: number[] = [];
  constructor(
    readonly spanMs: number,
    readonly maxPoints: number,
  ) {}
  push(ts: number, v: number): void {
    while (this.t.length > 0 && (this.t.length >= this.maxPoints || ts - this.t[0] > this.spanMs)) {
      this.t.shift();
      this.v.shift();
    }
    this.t.push(ts);
    this.v.push(v);
  }
  sorted(): number[] {
    return [...this.v].sort((a, b) => a - b);
  }
  median(): number {
    const s = this.sorted();
    const n = s.length;
    return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  quantile(q: number): number {
    const s = this.sorted();
    const pos = q * (s.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(s.length - 1, lo + 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  }
  mad(median: number): number {
    const d = this.v.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
    const n = d.length;
    const want = n >> 1;
    return n % 2 ? d[want] : (d[want - 1] + d[want]) / 2;
  }
}

const DAY = 86_400_000;

test('the compact window answers exactly like a plain list of the same points (property)', async () => {
  const fc = (await import('fast-check')).default;
  // Gaps of milliseconds to weeks, some backwards or fractional; values with many ties.
  const gap = fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 20_000 }), weight: 8 },
    { arbitrary: fc.integer({ min: -60_000, max: -1 }), weight: 1 },
    // Days apart: the offsets outgrow an Int32 while the window itself still fits one (rebased) or not (widened).
    { arbitrary: fc.integer({ min: 5 * DAY, max: 15 * DAY }), weight: 1 },
    { arbitrary: fc.integer({ min: 20 * DAY, max: 40 * DAY }), weight: 1 },
    { arbitrary: fc.double({ min: 0, max: 5000, noNaN: true }), weight: 1 },
  );
  const value = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)));
  const config = fc.record({
    span: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1000, max: 3_600_000 }), fc.integer({ min: 1000, max: 30 * DAY })),
    maxPoints: fc.integer({ min: 3, max: 200 }),
    // Whole milliseconds (the Int32 offsets) in most runs; fractional ones switch a window to plain numbers.
    fractional: fc.integer({ min: 0, max: 3 }).map((k) => k === 0),
  });
  fc.assert(
    fc.property(config, fc.array(fc.tuple(gap, value), { minLength: 50, maxLength: 400, size: 'max' }), fc.integer({ min: 0, max: 2 ** 40 }), ({ span, maxPoints, fractional }, steps, start) => {
      const w = new Window(span, maxPoints, true);
      const plain = new PlainWindow(span, maxPoints);
      let ts = 1_600_000_000_000 + start;
      for (const [g, v] of steps) {
        ts += fractional ? g : Math.round(g);
        w.push(ts, v);
        plain.push(ts, v);
        assert.equal(w.size, plain.t.length);
        assert.equal(w.oldestTs, plain.t[0]);
        const med = w.median();
        assert.equal(med, plain.median());
        assert.equal(w.mad(med), plain.mad(med));
        assert.equal(w.quantile(0.05), plain.quantile(0.05));
        assert.equal(w.quantile(0.95), plain.quantile(0.95));
      }
      const saved = JSON.parse(JSON.stringify(w.toJSON())) as WindowState;
      assert.deepEqual(timesIn(saved), plain.t);
      assert.deepEqual(saved.v, plain.v);
      const back = new Window(span, maxPoints, true);
      back.restore(saved);
      // The same points (a restored window may keep them in the other of its two time forms).
      const again = back.toJSON();
      assert.deepEqual([timesIn(again), again.v, again.sum, again.sumSq], [plain.t, plain.v, saved.sum, saved.sumSq], 'restored, it holds the same points');
      assert.equal(back.median(), plain.median());
    }),
    { numRuns: 150 },
  );
});

test('an engine restored from saved state gives exactly the scores of one that never stopped (property)', async () => {
  const fc = (await import('fast-check')).default;
  // A noisy level with steps, spikes and stuck stretches, 1 minute apart; saved and restored at a random point.
  const segment = fc.record({
    level: fc.double({ min: -50, max: 50, noNaN: true }),
    noise: fc.double({ min: 0, max: 5, noNaN: true }),
    length: fc.integer({ min: 20, max: 400 }),
    stuck: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(segment, { minLength: 3, maxLength: 8, size: 'max' }), fc.integer({ min: 1, max: 2 ** 31 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (segments, seed, at) => {
      let s = seed >>> 0;
      const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const points: Array<[number, number]> = [];
      let ts = Date.UTC(2025, 0, 1);
      for (const seg of segments) {
        for (let i = 0; i < seg.length; i++) {
          ts += 60_000;
          points.push([ts, seg.stuck ? seg.level : seg.level + seg.noise * (rnd() - 0.5) + (rnd() < 0.01 ? 40 : 0)]);
        }
      }
      const opts = { heartbeat: false as const, clock: () => 0 };
      const whole = new AnomalyEngine(opts);
      let part = new AnomalyEngine(opts);
      const cut = Math.floor(points.length * at);
      for (let i = 0; i < points.length; i++) {
        if (i === cut) part = AnomalyEngine.fromJSON(JSON.parse(JSON.stringify(part.toJSON())), opts);
        const r = { device: 'd', ts: points[i][0], fields: { v: points[i][1] }, tags: {} };
        assert.deepEqual(part.process(r).anomaly, whole.process(r).anomaly, `reading ${i} (restored at ${cut})`);
      }
    }),
    { numRuns: 12 },
  );
});

test('a series stuck at -0 judges the same after a restore (JSON keeps no -0)', () => {
  const opts = { heartbeat: false as const, clock: () => 0 };
  const values = [...Array(20).fill(0), ...Array(23).fill(-0), ...Array(20).fill(0)];
  const whole = new AnomalyEngine(opts);
  let part = new AnomalyEngine(opts);
  values.forEach((v, i) => {
    if (i === 21) part = AnomalyEngine.fromJSON(JSON.parse(JSON.stringify(part.toJSON())), opts);
    const r = { device: 'd', ts: Date.UTC(2025, 0, 1) + (i + 1) * 60_000, fields: { v }, tags: {} };
    assert.deepEqual(part.process(r).anomaly, whole.process(r).anomaly, `reading ${i}`);
  });
});

test('times far apart or fractional are kept exactly', () => {
  const w = new Window(Infinity, 10, true);
  const times = [1_700_000_000_000, 1_700_000_000_000 + 30 * DAY, 1_700_000_000_000 + 30 * DAY + 0.5, -5, 2 ** 52];
  times.forEach((t, i) => w.push(t, i));
  assert.deepEqual(w.toJSON().t, times);
  assert.equal(w.oldestTs, times[0]);
});

test('a window that slides by time, then fills faster, keeps its order as its buffers grow', () => {
  const w = new Window(60_000, 2016, true);
  const plain = new PlainWindow(60_000, 2016);
  let ts = 1_700_000_000_000;
  let x = 12345;
  // One reading a second (the window slides at about 60 points), then ten a second (it grows past 64, 128, ...).
  for (let i = 0; i < 3000; i++) {
    ts += i < 500 ? 1000 : 100;
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const v = (x % 1000) / 10;
    w.push(ts, v);
    plain.push(ts, v);
    const med = w.median();
    assert.equal(med, plain.median(), `median after ${i + 1} points`);
    assert.equal(w.mad(med), plain.mad(med));
    assert.equal(w.quantile(0.05), plain.quantile(0.05));
  }
});

test('whole-millisecond times are saved as the first and the gaps: regular readings as one pair, however many', () => {
  const t0 = Date.UTC(2025, 0, 1);
  const regular = new Window(Infinity, 2016, true);
  for (let i = 0; i < 3000; i++) regular.push(t0 + i * 300_000, i % 7);
  const saved = regular.toJSON();
  assert.deepEqual([saved.t, saved.t0, saved.dt], [undefined, t0 + 984 * 300_000, [[300_000, 2015]]]);
  assert.ok(JSON.stringify(saved).length < 2016 * 3, `${JSON.stringify(saved).length} characters: the values and a few numbers`);

  // Jittered and late readings: gaps one by one, runs where they repeat, negative where a reading came late.
  const jitter = new Window(Infinity, 100, false);
  const times = [t0, t0 + 60_012, t0 + 119_987, t0 + 179_987, t0 + 239_987, t0 + 200_000, t0 + 300_000];
  times.forEach((t, i) => jitter.push(t, i));
  assert.deepEqual(jitter.toJSON().dt, [60_012, 59_975, [60_000, 2], -39_987, 100_000]);
  const back = new Window(Infinity, 100, false);
  back.restore(JSON.parse(JSON.stringify(jitter.toJSON())) as WindowState);
  assert.deepEqual(timesIn(back.toJSON()), times);
});

test('a window saved with plain times (earlier versions) restores; saved times that do not match the values are refused before anything is built', () => {
  const t = [1_000, 2_000, 4_000];
  const w = new Window(Infinity, 10, true);
  w.restore({ t, v: [1, 2, 3], ref: 1, sum: 3, sumSq: 5, pushes: 3 });
  assert.deepEqual(timesIn(w.toJSON()), t);
  assert.deepEqual(w.toJSON().dt, [1_000, 2_000]);
  const bad = (state: Partial<WindowState>) => () => new Window(Infinity, 10, true).restore({ v: [1, 2, 3], ref: 1, sum: 3, sumSq: 5, pushes: 3, ...state });
  assert.throws(bad({ t0: 1_000, dt: [[1_000, 2 ** 40]] }), (e: Error) => e instanceof DetectorConfigError && /do not match its 3 values/.test(e.message));
  assert.throws(bad({ t0: 1_000, dt: [1_000] }), /2 times for 3 values/);
  assert.throws(bad({ t0: 1_000, dt: [[1_000, 0], 5, 5] }), /do not match/);
  assert.throws(bad({ dt: [1, 1] }), /not a first time and gaps/);
  assert.throws(bad({ t: [1, 2] }), /2 times for 3 values/);
});

test('a window restores the points it saved as they were, also when late readings left them further apart than its span', () => {
  // Eviction by time looks at the oldest point in arrival order only: this window kept a point 1,001 ms before
  // the next though its span is 1,000 ms (found by the property above). Pushed again, it would be dropped.
  const saved: WindowState = { t0: 1_604_319_996_640, dt: [1_001, -6_227, [0, 2]], v: [3, 1, 4, 1, 5], ref: 3, sum: -1, sumSq: 9, pushes: 50 };
  const w = new Window(1_000, 5, true);
  w.restore(structuredClone(saved));
  assert.deepEqual(w.toJSON(), saved);
  assert.equal(w.size, 5);
  assert.equal(w.median(), 3);
});

test('with jittered and late readings too, an engine restored from its state file gives exactly the scores of one that never stopped (property)', async () => {
  const fc = (await import('fast-check')).default;
  const dir = tempDir('us-anomaly-compact-');
  // Gaps around a minute with jitter, now and then a reading that arrives late (its time before the previous one's).
  const gap = fc.oneof({ arbitrary: fc.integer({ min: 59_000, max: 61_000 }), weight: 8 }, { arbitrary: fc.constant(60_000), weight: 8 }, { arbitrary: fc.integer({ min: -300_000, max: -1 }), weight: 1 });
  fc.assert(
    fc.property(fc.array(fc.tuple(gap, fc.double({ min: -20, max: 20, noNaN: true })), { minLength: 100, maxLength: 700 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (steps, at) => {
      const opts = { heartbeat: false as const, clock: () => 0 };
      const whole = new AnomalyEngine(opts);
      let part = new AnomalyEngine(opts);
      const cut = Math.floor(steps.length * at);
      const file = join(dir, 'state.jsonl');
      let ts = Date.UTC(2025, 0, 1);
      steps.forEach(([g, v], i) => {
        if (i === cut) {
          writeStateFile(file, part);
          part = readStateFile(file, opts)!;
        }
        ts += g;
        const r = { device: 'd', ts, fields: { v: 50 + v + (i % 97 === 0 ? 30 : 0) }, tags: {} };
        assert.deepEqual(part.process(r).anomaly, whole.process(r).anomaly, `reading ${i} (restored at ${cut})`);
      });
    }),
    { numRuns: 15 },
  );
});
