/**
 * Every verdict the anomaly engine gives names the field it judged, on this thread and through the worker, in
 * full and flagged-only: a verdict handed on alone (the anomaly node's `anomaly`, the alert rules) still says which
 * of a reading's numbers it is about, and the one the node picks is the engine's own verdict, not a copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyEngine, type AnomalyEngineOptions, type ReadingResult } from '../../nodes/lib/anomaly/engine';
import { InProcessEngineHost, WorkerEngineHost, type EngineHost } from '../../nodes/lib/anomaly/remote/host';
import { annotate } from '../../nodes/anomaly/annotate';
import type { Reading } from '../../nodes/lib/reading';

const T0 = Date.UTC(2026, 0, 1);
const STEP = 60_000;
/** Above 50 is an anomaly, from the second reading of a series on. */
const LIMITS: AnomalyEngineOptions = { detector: { type: 'limits', max: 50, warmup: 1 }, units: { temperature: '°C' }, heartbeat: false };
/** What a verdict holds, in this order (its JSON on a message). */
const KEYS = ['score', 'isAnomaly', 'detector', 'expected', 'band', 'reason', 'field'];

/** Two devices; temperature and humidity with a text field, a pressure only some readings have; two spikes. */
function readings(): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < 12; i++) {
    const fields: Reading['fields'] = { temperature: i === 5 ? 70 : 20, humidity: i === 9 ? 90 : 40, status: 'ok' };
    if (i % 3 === 0) fields.pressure = 1;
    out.push({ device: 'room', ts: T0 + i * STEP, fields, tags: {} });
    out.push({ device: 'hall', ts: T0 + i * STEP, fields: { temperature: 21 }, tags: {} });
  }
  return out;
}

/** Every verdict of every result names the field it is filed under; says how many verdicts there were. */
function assertNamed(results: readonly ReadingResult[]): number {
  let n = 0;
  for (const r of results) {
    for (const [field, v] of Object.entries(r.anomaly)) {
      if (!v) continue;
      n++;
      assert.deepEqual(Object.keys(v), KEYS, `${r.device} ${field}`);
      assert.equal(v.field, field, `${r.device} ${field}`);
    }
  }
  return n;
}

test('the engine on this thread: each verdict names its field, with several fields or one watched', () => {
  const all = new AnomalyEngine(LIMITS).process(readings());
  // Both devices' first reading warms up (null); every later numeric field has a verdict; the text field none.
  assert.equal(assertNamed(all), 11 * 2 + 3 + 11);
  assert.deepEqual(all[0].anomaly, { temperature: null, humidity: null, pressure: null });
  const spike = all[10].anomaly;
  assert.equal(spike.temperature?.isAnomaly, true);
  assert.equal(spike.temperature?.field, 'temperature');
  assert.match(spike.temperature!.reason, /temperature 70(\.0)? °C/);
  assert.equal(spike.humidity?.field, 'humidity');
  assert.equal(all[18].anomaly.humidity?.isAnomaly, true);
  assert.equal(all[18].anomaly.humidity?.field, 'humidity');

  const one = new AnomalyEngine({ ...LIMITS, fields: ['humidity'] }).process(readings());
  assert.equal(assertNamed(one), 11);
  assert.deepEqual(Object.keys(one[18].anomaly), ['humidity']);
  assert.equal(one[18].anomaly.humidity?.field, 'humidity');
  assert.deepEqual(one[1].anomaly, {}, 'hall has no humidity');
});

for (const mode of ['worker', 'in-process'] as const) {
  test(`through the ${mode} host, in full and flagged-only: the same verdicts, each naming its field`, async () => {
    for (const fields of [undefined, ['temperature']]) {
      const options = { ...LIMITS, ...(fields ? { fields } : {}) };
      const o = { engine: options, heartbeatEveryMs: null, events: { onHeartbeats: () => undefined } };
      const host: EngineHost = mode === 'worker' ? new WorkerEngineHost(o) : new InProcessEngineHost(o);
      await host.start();
      try {
        const rs = readings();
        const local = new AnomalyEngine(options).process(rs);
        // The first four readings of each device in full, then the rest, both spikes among them, flagged-only.
        const full = await host.process(rs.slice(0, 8));
        const flagged = await host.processFlagged(rs.slice(8));
        assert.deepEqual(full, local.slice(0, 8));
        assert.equal(assertNamed(full), fields ? 6 : 10);
        assert.equal(full[2].anomaly.temperature?.field, 'temperature');
        assert.deepEqual(flagged.index, fields ? [2] : [2, 10]);
        assert.deepEqual(flagged.results, flagged.index.map((k) => local[8 + k]));
        // The spiked readings, every watched field of them: 2 and 3 numbers, or the temperature of the first.
        assert.equal(assertNamed(flagged.results), fields ? 1 : 5);
      } finally {
        await host.close(false);
      }
    }
  });
}

test('the verdict the node puts on a reading is its worst field\'s own, among the per-field verdicts', () => {
  const engine = new AnomalyEngine(LIMITS);
  const rs = readings();
  const results = engine.process(rs);
  const spiked = annotate(structuredClone(rs[18]), results[18]);
  assert.equal(spiked.anomaly?.field, 'humidity');
  assert.equal(spiked.anomaly?.isAnomaly, true);
  assert.deepEqual(spiked.anomalies?.humidity, spiked.anomaly);
  assert.equal(spiked.anomaly, results[18].anomaly.humidity, 'not a copy of it');
  // One field on the reading: one verdict, no per-field map, still naming its field.
  const hall = annotate(structuredClone(rs[19]), results[19]);
  assert.equal(hall.anomalies, undefined);
  assert.equal(hall.anomaly?.field, 'temperature');
  assert.equal(hall.anomaly, results[19].anomaly.temperature);
});
