/** nodes/lib/dashboard: latest values per device, chart points per field, totals and rates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChartPoints, LatestValues, pipelineTotals, RateMeter } from '../../nodes/lib/dashboard';
import { parseMask, type Mask } from '../../nodes/lib/security/masking';
import { deadLettered, received, registerSink } from '../../nodes/lib/metrics';

const r = (device: string, ts: number, fields: Record<string, number | boolean | string>) => ({ device, ts, fields, tags: {} });

test('latest values: one row per device, sorted, newest value per field, a late reading does not overwrite', () => {
  const l = new LatestValues();
  l.add([r('b', 1000, { temperature: 20.123456, door: true }), r('a', 2000, { power: 5 })]);
  l.add([r('b', 3000, { temperature: 21 }), r('b', 500, { temperature: 99, humidity: 40 })]);
  assert.equal(l.takeChanged(), true);
  assert.equal(l.takeChanged(), false);
  assert.deepEqual(l.rows(), [
    { device: 'a', time: new Date(2000).toISOString(), power: 5 },
    { device: 'b', time: new Date(3000).toISOString(), door: true, humidity: 40, temperature: 21 },
  ]);
  assert.deepEqual(l.columns(), ['door', 'humidity', 'power', 'temperature']);
});

test('latest values: chosen columns in their order; numbers rounded to four decimals; devices bounded, least recently seen dropped', () => {
  const l = new LatestValues({ columns: ['temperature', 'power'], maxDevices: 2 });
  l.add([r('x', 1, { temperature: 1.234567, power: 2, other: 3 })]);
  l.add([r('y', 1, { power: 1 })]);
  l.add([r('x', 2, { power: 4 })]);
  l.add([r('z', 1, { power: 9 })]);
  const rows = l.rows();
  assert.deepEqual(rows.map((x) => x.device), ['x', 'z'], 'y was heard from least recently');
  assert.deepEqual(rows[0], { device: 'x', time: new Date(2).toISOString(), temperature: 1.2346, power: 4 });
  assert.deepEqual(Object.keys(rows[0]), ['device', 'time', 'temperature', 'power']);
});

test('latest values: the devices kept are the ones heard from most recently, whatever the order (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }), { maxLength: 60 }), (max, sends) => {
      const l = new LatestValues({ maxDevices: max });
      // The reference: a list of names, most recently heard from last.
      let order: string[] = [];
      let ts = 0;
      for (const names of sends) {
        l.add(names.map((n) => r(`d${n}`, ++ts, { v: ts })));
        for (const n of names) order = [...order.filter((x) => x !== `d${n}`), `d${n}`];
      }
      const kept = order.slice(-max).sort();
      assert.deepEqual(l.rows().map((x) => x.device), kept);
      assert.equal(l.size, kept.length);
    }),
  );
});

test('chart points: per field since the last take, oldest first, booleans as 0/1, text skipped, bounded', () => {
  const c = new ChartPoints(['temperature', 'motion'], 3);
  c.add([r('a', 20, { temperature: 2, motion: true }), r('b', 10, { temperature: 1, motion: 'maybe' })]);
  c.add([r('a', 30, { temperature: 3 }), r('a', 40, { temperature: 4 })]);
  const [t, m] = c.take();
  assert.deepEqual(t, [{ device: 'b', ts: 10, value: 1 }, { device: 'a', ts: 30, value: 3 }, { device: 'a', ts: 40, value: 4 }], 'the first point added went past the bound');
  assert.deepEqual(m, [{ device: 'a', ts: 20, value: 1 }]);
  assert.deepEqual(c.take(), [[], []]);
});

test('chart points: after many more points than the bound, a take has the latest ones, as many as the bound', () => {
  const c = new ChartPoints(['temperature'], 3);
  for (let i = 0; i < 20; i++) c.add([r('a', 100 - i, { temperature: i })]);
  assert.deepEqual(c.take()[0].map((p) => p.value), [19, 18, 17], 'the three added last, oldest timestamp first');
  c.add([r('a', 1, { temperature: 5 })]);
  assert.deepEqual(c.take()[0].map((p) => p.value), [5]);
});

test('totals add up the inputs, sinks and dead letters; the rate meter turns them into per-second rates', () => {
  const before = pipelineTotals();
  received.child('test-proto').inc(30);
  deadLettered.child('TEST_CODE').inc(2);
  let written = 100;
  const stop = registerSink('dash-test-sink', { name: 'main', kind: 'duckdb', stats: () => ({ written, queued: 7, spooled: 3 }) });
  try {
    const t = pipelineTotals();
    assert.equal(t.received - before.received, 30);
    assert.equal(t.deadLetters - before.deadLetters, 2);
    assert.equal(t.stored - before.stored, 100);
    assert.equal(t.queued - before.queued, 7);
    assert.equal(t.spooled - before.spooled, 3);
    const meter = new RateMeter();
    assert.deepEqual(meter.next(t, 10_000), { receivedPerSecond: 0, storedPerSecond: 0, deadLettersPerSecond: 0 }, 'no rate from one look');
    received.child('test-proto').inc(20);
    written += 50;
    const rates = meter.next(pipelineTotals(), 15_000);
    assert.equal(rates.receivedPerSecond, 4);
    assert.equal(rates.storedPerSecond, 10);
    assert.equal(rates.deadLettersPerSecond, 0);
    // A counter that went back (its node was redeployed) counts from zero.
    written = 5;
    assert.equal(meter.next(pipelineTotals(), 20_000).storedPerSecond, 1);
  } finally {
    stop();
  }
});

test('latest values: sensitive fields as a reader is served them (rounded, masked, hidden column left out)', () => {
  const lv = new LatestValues();
  lv.add([{ device: 'sens1', ts: 1000, fields: { lat: 52.987654, owner: 'Jane Doe Smith', pin: '1234', temp: 5 }, tags: {} }]);
  const masks = new Map<string, Mask>([['lat', parseMask('round:2', 'lat')], ['owner', parseMask('mask', 'owner')], ['pin', parseMask(true, 'pin')]]);
  const [row] = lv.rows(masks);
  assert.deepEqual(row, { device: 'sens1', time: '1970-01-01T00:00:01.000Z', lat: 52.99, owner: '**********mith', temp: 5 });
  assert.equal(lv.rows()[0].pin, '1234', 'without masks as sent');
});
