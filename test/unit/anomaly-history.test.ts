/** Backtests on stored history, against a real DuckDB file in a temp folder. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { backtest } from '../../nodes/lib/anomaly/backtest';
import { backtestHistory } from '../../nodes/lib/anomaly/history';
import { BadParameterError, DetectorConfigError } from '../../nodes/lib/errors';
import type { DetectorConfig } from '../../nodes/lib/anomaly/types';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;
const ZSCORE: DetectorConfig = { type: 'zscore', robust: true, warmup: 10 };
const SPIKES = new Map([
  [25, 23],
  [40, 45],
  [70, -5],
]);

/** One reading a minute with a little deterministic noise, a bump and two spikes; "mode" is text. */
function temperature(i: number): number {
  return SPIKES.get(i) ?? 20 + Math.sin(i * 1.7) * 0.5;
}

function history(n: number): Reading[] {
  return Array.from({ length: n }, (_, i) => ({
    device: 'boiler-1',
    ts: T0 + i * MIN,
    fields: { temperature: temperature(i), humidity: 40 + Math.cos(i * 1.3), mode: 'eco' },
    tags: { site: 'lab' },
  }));
}

let dir = '';
let store: DuckDbStore;

before(async () => {
  dir = tempDir('us-history-');
  store = new DuckDbStore({ path: join(dir, 'history.duckdb') });
  await store.open();
  // Written out of order and with another device: the replay must sort by time and keep to its series.
  const rows = history(100);
  await store.write(rows.slice(50));
  await store.write(rows.slice(0, 50));
  await store.write(history(100).map((r) => ({ ...r, device: 'boiler-2', fields: { temperature: 99 } })));
  // A text value of the replayed field: counted as skipped, never judged.
  await store.write([{ device: 'boiler-1', ts: T0 + 100 * MIN, fields: { temperature: 'sensor fault' }, tags: {} }]);
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('backtestHistory', () => {
  test('replays the series in time order across pages, with the verdicts of the same detector run in memory', async () => {
    const r = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', engine: { detector: ZSCORE, units: { temperature: '°C' } } }, { pageSize: 7 });
    const points = Array.from({ length: 100 }, (_, i) => ({ ts: T0 + i * MIN, value: temperature(i) }));
    const expected = backtest(points, ZSCORE, { field: 'temperature', unit: '°C' }).verdicts;
    const expectedFlagged = expected.flatMap((v, i) => (v?.isAnomaly ? [points[i].ts] : []));

    assert.equal(r.scanned, 100);
    assert.equal(r.skipped, 1, 'the text value');
    assert.equal(r.warmingUp, 10, 'the detector warm-up of 10 readings');
    assert.equal(r.warmingUp, expected.filter((v) => v === null).length);
    assert.equal(r.firstVerdict, T0 + 10 * MIN);
    assert.deepEqual(r.anomalies.map((a) => a.ts), expectedFlagged);
    assert.equal(r.flagged, expectedFlagged.length);
    assert.ok(r.anomalies.some((a) => a.ts === T0 + 40 * MIN), 'the spike to 45 is flagged');
    assert.ok(r.anomalies.some((a) => a.ts === T0 + 70 * MIN), 'the drop to -5 is flagged');
    const spike = r.anomalies.find((a) => a.ts === T0 + 40 * MIN)!;
    assert.equal(spike.value, 45);
    assert.equal(spike.detector, 'zscore');
    assert.ok(spike.score >= 0.5 && spike.score <= 1);
    assert.ok(spike.band[0] < spike.expected && spike.expected < spike.band[1]);
    assert.match(spike.reason, /^temperature 45(\.0)? °C is .*above/);
    assert.equal(r.threshold, 0.5);
  });

  test('from is inclusive, to exclusive; a higher threshold flags only the stronger deviations', async () => {
    const r = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', from: T0 + 30 * MIN, to: T0 + 70 * MIN, engine: { detector: ZSCORE } });
    assert.equal(r.scanned, 40);
    assert.equal(r.from, T0 + 30 * MIN);
    assert.equal(r.to, T0 + 70 * MIN);
    assert.deepEqual(r.anomalies.map((a) => a.ts), [T0 + 40 * MIN], 'the drop at minute 70 is outside');
    const normal = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', engine: { detector: ZSCORE } });
    const bump = normal.anomalies.find((a) => a.ts === T0 + 25 * MIN);
    assert.ok(bump && bump.score < 0.9, 'the bump to 23 is flagged at 0.5 with a moderate score');
    const strict = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', engine: { detector: ZSCORE, threshold: 0.9 } });
    assert.equal(strict.threshold, 0.9);
    assert.ok(strict.anomalies.every((a) => a.score >= 0.9));
    assert.ok(!strict.anomalies.some((a) => a.ts === T0 + 25 * MIN), 'not at 0.9');
    assert.equal(strict.flagged, normal.flagged - normal.anomalies.filter((a) => a.score < 0.9).length);
  });

  test('the default ensemble runs when no detector is given', async () => {
    const r = await backtestHistory(store, { device: 'boiler-1', field: 'temperature' });
    const points = Array.from({ length: 100 }, (_, i) => ({ ts: T0 + i * MIN, value: temperature(i) }));
    const expected = backtest(points, undefined, { field: 'temperature' }).verdicts;
    assert.equal(r.warmingUp, expected.filter((v) => v === null).length);
    assert.equal(r.flagged, expected.filter((v) => v?.isAnomaly).length);
    assert.ok(r.flagged >= 1);
  });

  test('the count covers every flagged reading; the list stops at "listed"', async () => {
    const all = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', engine: { detector: ZSCORE } });
    const one = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', engine: { detector: ZSCORE }, listed: 1 });
    assert.ok(all.flagged >= 3);
    assert.equal(one.flagged, all.flagged);
    assert.deepEqual(one.anomalies, all.anomalies.slice(0, 1));
  });

  test('an unknown device or field scans nothing', async () => {
    for (const [device, field] of [['nobody', 'temperature'], ['boiler-1', 'pressure']]) {
      const r = await backtestHistory(store, { device, field });
      assert.deepEqual({ scanned: r.scanned, flagged: r.flagged, warmingUp: r.warmingUp, anomalies: r.anomalies }, { scanned: 0, flagged: 0, warmingUp: 0, anomalies: [] });
      assert.equal(r.firstVerdict, undefined);
    }
  });

  test('a range with more points than the cap is refused, naming the bound to narrow', async () => {
    await assert.rejects(
      backtestHistory(store, { device: 'boiler-1', field: 'temperature' }, { maxPoints: 50, pageSize: 20 }),
      (err: unknown) => err instanceof BadParameterError && err.details.parameter === 'from' && /more than 50 readings/.test(err.message),
    );
    await assert.rejects(
      backtestHistory(store, { device: 'boiler-1', field: 'temperature', from: T0 }, { maxPoints: 50 }),
      (err: unknown) => err instanceof BadParameterError && err.details.parameter === 'to',
    );
    const fits = await backtestHistory(store, { device: 'boiler-1', field: 'temperature', to: T0 + 50 * MIN }, { maxPoints: 50, pageSize: 20 });
    assert.equal(fits.scanned, 50);
  });

  test('a bad detector config is a DetectorConfigError naming the parameter', async () => {
    const cases: Array<[DetectorConfig | undefined, number | undefined, string]> = [
      [{ type: 'zscore', window: 'soon' } as DetectorConfig, undefined, 'zscore.window'],
      [{ type: 'zscore', thresh: 3 } as unknown as DetectorConfig, undefined, 'zscore.thresh'],
      [{ type: 'nope' } as unknown as DetectorConfig, undefined, 'type'],
      [undefined, 1.5, 'threshold'],
    ];
    for (const [detector, threshold, parameter] of cases) {
      await assert.rejects(
        backtestHistory(store, { device: 'boiler-1', field: 'temperature', engine: { detector, threshold } }),
        (err: unknown) => err instanceof DetectorConfigError && err.details.parameter === parameter,
        parameter,
      );
    }
  });
});
