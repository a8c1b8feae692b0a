/** POST /api/v1/anomaly/backtest without a transport: body rules, errors and the answer's shape. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { handleBacktest, parseBacktestBody } from '../../nodes/lib/api/backtest';
import { handleQuery } from '../../nodes/lib/api/handlers';
import { parseMask } from '../../nodes/lib/security/masking';
import { ScopedStore } from '../../nodes/lib/security/scoped-store';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

let dir = '';
let store: DuckDbStore;

before(async () => {
  dir = tempDir('us-api-backtest-');
  store = new DuckDbStore({ path: join(dir, 'api.duckdb') });
  await store.open();
  await store.write(
    Array.from({ length: 60 }, (_, i) => ({ device: 'pump-7', ts: T0 + i * MIN, fields: { pressure: i === 45 ? 9 : 2 + Math.sin(i * 1.7) * 0.05 }, tags: {} })),
  );
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

interface ErrorBody {
  error: { code: string; parameter?: string; message: string };
}

describe('backtest body', () => {
  test('times as ISO 8601 or epoch ms (number or text); detector, threshold, warmup, units and limit pass through', () => {
    const q = parseBacktestBody({
      device: 'pump-7',
      field: 'pressure',
      from: '2026-01-01T00:00:00Z',
      to: T0 + 60 * MIN,
      detector: { type: 'zscore', window: '1d' },
      threshold: 0.6,
      warmup: 20,
      units: { pressure: 'bar' },
      limit: 5,
    });
    assert.deepEqual(q, {
      device: 'pump-7',
      field: 'pressure',
      from: T0,
      to: T0 + 60 * MIN,
      engine: { detector: { type: 'zscore', window: '1d' }, threshold: 0.6, warmup: 20, units: { pressure: 'bar' } },
      listed: 5,
    });
    assert.deepEqual(parseBacktestBody(JSON.stringify({ device: 'd', field: 'f', from: String(T0) })), { device: 'd', field: 'f', from: T0, engine: {} });
  });

  const cases: Array<[unknown, number, string, string, RegExp]> = [
    ['', 400, 'BAD_PARAMETER', 'body', /needs a JSON body/],
    ['{"device": ', 400, 'BAD_PARAMETER', 'body', /not valid JSON/],
    ['[1]', 400, 'BAD_PARAMETER', 'body', /must be a JSON object/],
    [{ field: 'pressure' }, 400, 'BAD_PARAMETER', 'device', /"device" is required/],
    [{ device: 'pump-7' }, 400, 'BAD_PARAMETER', 'field', /"field" is required/],
    [{ device: 7, field: 'pressure' }, 400, 'BAD_PARAMETER', 'device', /"device" must be text/],
    [{ device: 'pump-7', field: 'pressure', from: 'yesterday' }, 400, 'BAD_PARAMETER', 'from', /ISO 8601 or an epoch time/],
    [{ device: 'pump-7', field: 'pressure', to: true }, 400, 'BAD_PARAMETER', 'to', /ISO 8601 text or an epoch time/],
    [{ device: 'pump-7', field: 'pressure', from: T0 + MIN, to: T0 }, 400, 'BAD_PARAMETER', 'from', /is after "to"/],
    [{ device: 'pump-7', field: 'pressure', detectr: {} }, 400, 'BAD_PARAMETER', 'detectr', /not a backtest parameter/],
    [{ device: 'pump-7', field: 'pressure', detector: 'zscore' }, 400, 'DETECTOR_CONFIG', 'detector', /detector config object/],
    [{ device: 'pump-7', field: 'pressure', detector: { type: 'zscore', window: 'soon' } }, 400, 'DETECTOR_CONFIG', 'zscore.window', /zscore\.window/],
    [{ device: 'pump-7', field: 'pressure', detector: { type: 'ensemble', members: [] } }, 400, 'DETECTOR_CONFIG', 'ensemble.members', /non-empty/],
    [{ device: 'pump-7', field: 'pressure', threshold: '0.5' }, 400, 'BAD_PARAMETER', 'threshold', /must be a number/],
    [{ device: 'pump-7', field: 'pressure', threshold: 2 }, 400, 'DETECTOR_CONFIG', 'threshold', /at most 1/],
    [{ device: 'pump-7', field: 'pressure', warmup: -1 }, 400, 'DETECTOR_CONFIG', 'warmup', /whole number/],
    [{ device: 'pump-7', field: 'pressure', units: { pressure: 1 } }, 400, 'BAD_PARAMETER', 'units', /unit text/],
    [{ device: 'pump-7', field: 'pressure', limit: 5000 }, 400, 'BAD_PARAMETER', 'limit', /0 to 1000/],
  ];
  for (const [body, status, code, parameter, message] of cases) {
    test(`${typeof body === 'string' ? body || '(empty)' : JSON.stringify(body)} → ${status} ${code} naming "${parameter}"`, async () => {
      const r = await handleBacktest(store, body);
      assert.equal(r.status, status);
      assert.match(r.contentType, /^application\/json/);
      const e = (JSON.parse(r.body) as ErrorBody).error;
      assert.equal(e.code, code);
      assert.equal(e.parameter, parameter);
      assert.match(e.message, message);
    });
  }
});

describe('backtest answer', () => {
  test('counts, warm-up and the flagged readings with ISO times and reasons', async () => {
    const r = await handleBacktest(store, {
      device: 'pump-7',
      field: 'pressure',
      from: T0,
      detector: { type: 'zscore', robust: true, warmup: 10 },
      units: { pressure: 'bar' },
    });
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as Record<string, unknown> & { anomalies: Array<Record<string, unknown>> };
    assert.equal(body.device, 'pump-7');
    assert.equal(body.field, 'pressure');
    assert.equal(body.from, '2026-01-01T00:00:00.000Z');
    assert.equal(body.to, null);
    assert.equal(body.threshold, 0.5);
    assert.equal(body.scanned, 60);
    assert.equal(body.skipped, 0);
    assert.equal(body.warmingUp, 10);
    assert.equal(body.firstVerdict, '2026-01-01T00:10:00.000Z');
    assert.equal(body.flagged, body.anomalies.length);
    assert.equal(body.truncated, false);
    const spike = body.anomalies.find((a) => a.ts === '2026-01-01T00:45:00.000Z');
    assert.ok(spike, 'the jump to 9 bar is flagged');
    assert.equal(spike.value, 9);
    assert.equal(spike.detector, 'zscore');
    assert.match(String(spike.reason), /^pressure 9(\.0+)? bar is/);
    assert.deepEqual(Object.keys(spike).sort(), ['band', 'detector', 'expected', 'reason', 'score', 'ts', 'value']);
  });

  test('limit 0 lists nothing but still counts, and says the list is truncated', async () => {
    const r = JSON.parse((await handleBacktest(store, { device: 'pump-7', field: 'pressure', detector: { type: 'zscore', warmup: 10 }, limit: 0 })).body) as {
      flagged: number;
      anomalies: unknown[];
      truncated: boolean;
    };
    assert.ok(r.flagged >= 1);
    assert.deepEqual(r.anomalies, []);
    assert.equal(r.truncated, true);
  });

  test('an unknown device answers 200 with nothing scanned', async () => {
    const r = await handleBacktest(store, JSON.stringify({ device: 'nobody', field: 'pressure' }));
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { scanned: number; flagged: number; firstVerdict: unknown };
    assert.deepEqual([body.scanned, body.flagged, body.firstVerdict], [0, 0, null]);
  });

  test('a store that cannot be used is 503 STORE_UNAVAILABLE', async () => {
    const closed = new DuckDbStore({ path: join(dir, 'closed.duckdb') });
    await closed.open();
    await closed.close();
    const r = await handleBacktest(closed, { device: 'pump-7', field: 'pressure' });
    assert.equal(r.status, 503);
    const e = (JSON.parse(r.body) as ErrorBody).error;
    assert.equal(e.code, 'STORE_UNAVAILABLE');
    assert.match(e.message, /closed/);
  });

  test('a key\'s view refuses a masked or hidden field as the aggregate route does; a rounded one is replayed', async () => {
    for (const kind of ['mask', 'hide']) {
      const view = new ScopedStore(store, { sees: () => true, masks: new Map([['pressure', parseMask(kind, 'pressure')]]), describe: 'scopes read' });
      const r = await handleBacktest(view, { device: 'pump-7', field: 'pressure' });
      const agg = await handleQuery(view, 'aggregate', { device: 'pump-7', field: 'pressure', every: '1h', fn: 'max' }, undefined);
      assert.equal(agg.status, 403, kind);
      assert.deepEqual([r.status, JSON.parse(r.body)], [agg.status, JSON.parse(agg.body)], kind);
    }
    const rounded = new ScopedStore(store, { sees: () => true, masks: new Map([['pressure', parseMask('round:0', 'pressure')]]), describe: 'scopes read' });
    const r = await handleBacktest(rounded, { device: 'pump-7', field: 'pressure' });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { scanned: number }).scanned, 60);
  });
});
