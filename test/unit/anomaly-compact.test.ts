/**
 * The rolling window keeps its points compactly (times as Int32 offsets, the
 * value order as ring slots): whatever the series, it must answer exactly as
 * a plain list of the same points does, and an engine restored from saved
 * state must carry on with exactly the scores of one that never stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Window } from '../../nodes/lib/anomaly/stats';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';

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
      const saved = w.toJSON();
      assert.deepEqual(saved.t, plain.t);
      assert.deepEqual(saved.v, plain.v);
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
