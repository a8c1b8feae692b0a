/**
 * Aggregates of a range that starts before the raw cutoff of the embedded
 * DuckDB store (real DuckDB, in memory), whose raw rows retention deleted:
 * the query API refuses an `every` no roll-up tier can build, naming it and the
 * cutoff, instead of answering with the buckets before the cutoff missing; a
 * Grafana panel zoomed into that stretch gets 1-minute points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { handleQuery } from '../../nodes/lib/api/handlers';
import { query as grafanaQuery } from '../../nodes/lib/grafana/datasource';
import { ScopedStore } from '../../nodes/lib/security/scoped-store';

const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
/** Where the pass cuts: an hour into the two hours written. */
const CUTOFF = T0 + 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();

/** Two hours of readings every 10 s (value: its index), then a pass with a one-day retention at CUTOFF. */
async function storeAfterPass(): Promise<DuckDbStore> {
  const store = new DuckDbStore({ path: ':memory:', retentionMs: DAY, retentionEveryMs: DAY });
  await store.open();
  const written = Array.from({ length: 2 * 360 }, (_, i) => ({ device: 'd', ts: T0 + i * 10_000, fields: { v: i }, tags: {} }));
  for (let i = 0; i < written.length; i += 100) await store.write(written.slice(i, i + 100));
  await store.applyRetention(CUTOFF + DAY);
  assert.equal(await store.rawSince(), CUTOFF);
  return store;
}

const aggregate = (store: DuckDbStore, q: Record<string, string>) => handleQuery(store, 'aggregate', { device: 'd', field: 'v', fn: 'count', ...q }, undefined);

test('an every of seconds over a range from before the raw cutoff is a 400 naming "every" and the cutoff, not buckets missing', async () => {
  const store = await storeAfterPass();
  const r = await aggregate(store, { every: '30s', from: iso(T0 + 50 * MIN), to: iso(T0 + 70 * MIN) });
  assert.equal(r.status, 400, r.body);
  const err = (JSON.parse(r.body) as { error: { code: string; parameter: string; message: string } }).error;
  assert.equal(err.code, 'BAD_PARAMETER');
  assert.equal(err.parameter, 'every');
  assert.match(err.message, /is before 2026-01-01T01:00:00\.000Z, and the store.s retention has deleted the raw readings before then/);
  assert.match(err.message, /whole number of minutes/);

  // Whole minutes over the same range: the 1-minute tier answers every bucket, before the cutoff too.
  const minutes = await aggregate(store, { every: '1m', from: iso(T0 + 50 * MIN), to: iso(T0 + 70 * MIN) });
  assert.equal(minutes.status, 200, minutes.body);
  const points = (JSON.parse(minutes.body) as { points: Array<{ ts: string; value: number }> }).points;
  assert.equal(points.length, 20);
  assert.ok(points.every((p) => p.value === 6));

  // From the cutoff on, the raw rows are all there and answer seconds; without "from" they answer what they hold.
  const after = await aggregate(store, { every: '30s', from: iso(CUTOFF), to: iso(CUTOFF + 5 * MIN) });
  assert.equal(after.status, 200, after.body);
  assert.equal((JSON.parse(after.body) as { points: unknown[] }).points.length, 10);
  const all = await aggregate(store, { every: '30s' });
  assert.equal(all.status, 200, all.body);
  assert.equal((JSON.parse(all.body) as { points: Array<{ ts: string }> }).points[0].ts, iso(CUTOFF));
  await store.close();
});

test('a Grafana panel over a stretch before the raw cutoff gets 1-minute points, not an empty series, with the admin key and a read key', async () => {
  const store = await storeAfterPass();
  const readKeyView = new ScopedStore(store, { sees: () => true, describe: 'scopes read' });
  for (const view of [store, readKeyView]) {
    // Grafana zoomed into ten old minutes asks for 1-second buckets.
    const series = await grafanaQuery(view, {
      range: { from: iso(T0 + 10 * MIN), to: iso(T0 + 20 * MIN) },
      intervalMs: 1000,
      maxDataPoints: 1000,
      targets: [{ target: 'd:v', payload: { fn: 'count' } }],
    });
    assert.equal(series.length, 1);
    assert.deepEqual(
      series[0].datapoints,
      Array.from({ length: 10 }, (_, i) => [6, T0 + (10 + i) * MIN]),
    );
  }
  await store.close();
});
