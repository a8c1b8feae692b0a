/**
 * Roll-ups and retention of the embedded DuckDB store (real DuckDB, in memory):
 * every aggregate from the 1-minute and 1-hour tiers equals the same aggregate
 * over the raw rows, also after late readings, replays (same and changed
 * values) and duplicates within a batch; the aggregate picks the coarsest tier
 * that answers exactly and says which; retention deletes exactly what is older
 * than its period, and a reading for an hour retention removed is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore, type StoreTraceEvent } from '../../nodes/lib/store/duckdb';
import type { Reading } from '../../nodes/lib/reading';
import { BadParameterError, RetentionRefusedError } from '../../nodes/lib/errors';
import { MAX_AGGREGATE_POINTS } from '../../nodes/lib/store/aggregate-limit';
import { handleQuery } from '../../nodes/lib/api/handlers';
import { tempDir } from '../helpers/temp';
import { assertTiersMatchRaw, FNS } from '../helpers/rollup-match';

const T0 = Date.UTC(2026, 0, 1);
/** A deterministic pseudo-random sequence, so a failure can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test('roll-ups equal the raw aggregates, including after late, replayed, changed and duplicated readings', async () => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  const rand = rng(7);
  const devices = ['a', 'b'];
  const all: Reading[] = [];
  // Three hours of readings every 7 s, in batches; numbers, now and then a boolean or a text value.
  for (let t = 0; t < 3 * 3600; t += 7) {
    for (const device of devices) {
      const fields: Reading['fields'] = { temp: Math.round(rand() * 4000) / 100 - 10, n: Math.floor(rand() * 100) };
      if (rand() < 0.05) fields.mixed = rand() < 0.5 ? true : 'text';
      else fields.mixed = rand() * 10;
      all.push({ device, ts: T0 + t * 1000 + Math.floor(rand() * 1000), fields, tags: {} });
    }
  }
  // Late: the last 200 arrive after everything else, in another order.
  const late = all.splice(all.length - 600, 200).reverse();
  for (let i = 0; i < all.length; i += 250) await store.write(all.slice(i, i + 250));
  await store.write(late);
  // Replayed as they were (a crash replay), replayed with changed values, and a batch with duplicates inside.
  await store.write(all.slice(100, 400));
  await store.write(all.slice(500, 520).map((r) => ({ ...r, fields: { ...r.fields, temp: (r.fields.temp as number) + 100 } })));
  const dup = all.slice(700, 705);
  await store.write([...dup, ...dup.map((r) => ({ ...r, fields: { ...r.fields, n: 999 } }))]);
  await assertTiersMatchRaw(store, devices, ['temp', 'n', 'mixed'], T0, T0 + 4 * 3_600_000);
  // Count is of readings, not of writes: a replay does not count twice.
  const [c] = (await store.aggregateWithTier({ device: 'a', field: 'temp', fn: 'count', everyMs: 24 * 3_600_000, from: T0, to: T0 + 24 * 3_600_000 })).points;
  assert.equal(c.value, all.filter((r) => r.device === 'a').length + late.filter((r) => r.device === 'a').length);
  await store.close();
});

test('the aggregate picks the coarsest tier that answers exactly, and the raw rows otherwise', async () => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(Array.from({ length: 500 }, (_, i) => ({ device: 'd', ts: T0 + i * 30_000, fields: { v: i }, tags: {} })));
  const tier = async (everyMs: number, from?: number, to?: number) => (await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'mean', everyMs, from, to })).tier;
  assert.equal(await tier(3_600_000), '1h');
  assert.equal(await tier(86_400_000, T0, T0 + 86_400_000), '1h');
  assert.equal(await tier(3_600_000, T0 + 60_000), '1m', 'a start on a minute, not an hour');
  assert.equal(await tier(300_000), '1m');
  assert.equal(await tier(90_000), 'raw');
  assert.equal(await tier(3_600_000, T0 + 1), 'raw');
  assert.equal(await tier(1000), 'raw');
  await store.close();
});

test('retention deletes exactly the raw readings older than the period, roll-ups by theirs; a reading for a removed hour is refused', async () => {
  const day = 86_400_000;
  const { join } = await import('node:path');
  const path = join(tempDir('us-retention-'), 'r.duckdb');
  // Ten days of hourly readings, written while the store kept everything.
  const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 10 * day;
  const readings = Array.from({ length: 10 * 24 }, (_, h) => ({ device: 'd', ts: base + h * 3_600_000 + 1000, fields: { v: h }, tags: {} }));
  const before = new DuckDbStore({ path });
  await before.open();
  await before.write(readings);
  await before.close();
  // Opened with retention: it runs at open, with the clock, and again here for a known `now`.
  const store = new DuckDbStore({ path, retentionMs: 2 * day, rollupRetentionMs: 5 * day });
  await store.open();
  const now = Date.now();
  await store.applyRetention(now);
  const kept = await store.readings({ device: 'd', limit: 1000 });
  assert.deepEqual(
    kept.readings.map((r) => r.ts),
    readings.filter((r) => r.ts >= now - 2 * day).map((r) => r.ts),
    'exactly the readings newer than 2 days',
  );
  const hours = await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'count', everyMs: 3_600_000 });
  assert.equal(hours.tier, '1h');
  assert.ok(hours.points.every((p) => p.ts + 3_600_000 > now - 5 * day), 'roll-up buckets that ended more than 5 days ago are gone');
  assert.equal(hours.points[0].ts, Math.floor((now - 5 * day) / 3_600_000) * 3_600_000);
  // The roll-ups still answer for the days whose raw rows are gone.
  assert.ok(hours.points.length > 2 * 24);
  // A reading for an hour whose raw rows are gone cannot be told from a replay: refused. Its roll-up is unchanged.
  const old = readings.find((r) => r.ts > now - 4 * day && r.ts < now - 3 * day)!;
  await assert.rejects(store.write([{ ...old, fields: { v: 1000 } }]), (err: Error) => err instanceof RetentionRefusedError && err.code === 'BEYOND_RETENTION' && err.indexes.length === 1 && /cannot be told from a replay/.test(err.message));
  const again = await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'count', everyMs: 3_600_000 });
  assert.deepEqual(again.points, hours.points);
  // Older history the store never held is taken (its raw rows go at the next retention pass), and so is a recent reading.
  const history = Math.floor((now - 4 * day) / 3_600_000) * 3_600_000;
  await store.write([{ device: 'imported', ts: history + 5, fields: { v: 7 }, tags: {} }]);
  const imported = await store.aggregateWithTier({ device: 'imported', field: 'v', fn: 'sum', everyMs: 3_600_000 });
  assert.deepEqual(imported.points, [{ ts: history, value: 7 }]);
  await store.write([{ device: 'd', ts: now - day, fields: { v: 1 }, tags: {} }]);
  await store.applyRetention(Date.now());
  assert.deepEqual((await store.readings({ device: 'imported', limit: 10 })).readings, [], 'its raw row went at the next pass');
  assert.deepEqual((await store.aggregateWithTier({ device: 'imported', field: 'v', fn: 'sum', everyMs: 3_600_000 })).points, imported.points, 'its roll-up stays');
  await store.close();
});

test('a store written without roll-ups gets them built from its raw rows when opened with them', async () => {
  const { join } = await import('node:path');
  const path = join(tempDir('us-rollup-'), 'old.duckdb');
  const old = new DuckDbStore({ path, rollups: false });
  await old.open();
  await old.write(Array.from({ length: 300 }, (_, i) => ({ device: 'd', ts: T0 + i * 20_000, fields: { v: i % 17 }, tags: {} })));
  await old.close();
  const store = new DuckDbStore({ path });
  await store.open();
  await assertTiersMatchRaw(store, ['d'], ['v'], T0, T0 + 3 * 3_600_000);
  await store.close();
  // Switched off again, written, switched back on: what came in meanwhile is in the roll-ups too.
  const off = new DuckDbStore({ path, rollups: false });
  await off.open();
  await off.write(Array.from({ length: 200 }, (_, i) => ({ device: 'd', ts: T0 + 3 * 3_600_000 + i * 20_000, fields: { v: i % 5 }, tags: {} })));
  await off.close();
  const on = new DuckDbStore({ path });
  await on.open();
  await assertTiersMatchRaw(on, ['d'], ['v'], T0, T0 + 5 * 3_600_000);
  await on.close();
});

async function tempPath(name: string): Promise<string> {
  const { join } = await import('node:path');
  return join(tempDir('us-rollup-'), name);
}

test('a batch mixing fresh readings with a replay and late data in the same buckets counts each reading once', async () => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  const at = (s: number, v: number): Reading => ({ device: 'd', ts: T0 + s * 1000, fields: { v }, tags: {} });
  await store.write([at(0, 1), at(10, 2), at(70, 3)]);
  // A replay of 10 s with a new value, late data at 5 s, and fresh readings in the same minutes (20 s, 80 s) and a new one.
  await store.write([at(10, 20), at(5, 5), at(20, 4), at(80, 6), at(130, 7)]);
  await assertTiersMatchRaw(store, ['d'], ['v'], T0, T0 + 3_600_000);
  const minutes = await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'sum', everyMs: 60_000, from: T0, to: T0 + 3_600_000 });
  assert.equal(minutes.tier, '1m');
  assert.deepEqual(minutes.points, [
    { ts: T0, value: 1 + 20 + 5 + 4 },
    { ts: T0 + 60_000, value: 3 + 6 },
    { ts: T0 + 120_000, value: 7 },
  ]);
  await store.close();
});

test('a batch whose rows were stored but whose roll-ups were not (a crash between them) is counted once when it comes again', async () => {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const path = await tempPath('crash.duckdb');
  const first = new DuckDbStore({ path });
  await first.open();
  await first.write([{ device: 'd', ts: T0, fields: { v: 1 }, tags: {} }]);
  await first.close();
  // The raw insert of the next batch committed, then the process died before the merges.
  const inst = await DuckDBInstance.create(path);
  const conn = await inst.connect();
  await conn.run(`INSERT INTO readings VALUES ('d', make_timestamp(${T0 + 1000}::BIGINT * 1000), 'v', 2, NULL, NULL, '{}'), ('d', make_timestamp(${T0 + 2000}::BIGINT * 1000), 'v', 3, NULL, NULL, '{}')`);
  conn.closeSync();
  inst.closeSync();
  const store = new DuckDbStore({ path });
  await store.open();
  // The journal replays it after the restart.
  await store.write([{ device: 'd', ts: T0 + 1000, fields: { v: 2 }, tags: {} }, { device: 'd', ts: T0 + 2000, fields: { v: 3 }, tags: {} }]);
  const count = await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'count', everyMs: 60_000, from: T0, to: T0 + 60_000 });
  assert.equal(count.tier, '1m');
  assert.deepEqual(count.points, [{ ts: T0, value: 3 }]);
  assert.equal((await store.readings({ device: 'd', limit: 10 })).readings.length, 3);
  await assertTiersMatchRaw(store, ['d'], ['v'], T0, T0 + 3_600_000);
  await store.close();
});

test('a store from before (primary key on readings, no roll-ups) keeps its rows, gets its roll-ups, and takes replays once', async () => {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const path = await tempPath('v1.duckdb');
  const inst = await DuckDBInstance.create(path);
  const conn = await inst.connect();
  const rows = Array.from({ length: 120 }, (_, i) => `('d', make_timestamp(${T0 + i * 45_000}::BIGINT * 1000), 'v', ${i % 13}, NULL, NULL, '{}')`);
  await conn.run(`CREATE TABLE readings (device VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, field VARCHAR NOT NULL, value_double DOUBLE, value_bool BOOLEAN, value_text VARCHAR, tags JSON, PRIMARY KEY (device, ts, field));
    CREATE TABLE upperstack_meta (key VARCHAR PRIMARY KEY, value VARCHAR); INSERT INTO upperstack_meta VALUES ('schema_version', '1');
    INSERT INTO readings VALUES ${rows.join(', ')}`);
  conn.closeSync();
  inst.closeSync();
  const store = new DuckDbStore({ path });
  await store.open();
  await assertTiersMatchRaw(store, ['d'], ['v'], T0, T0 + 2 * 3_600_000);
  // A replay of stored readings (one with a changed value) and a new one.
  await store.write([
    { device: 'd', ts: T0 + 45_000, fields: { v: 100 }, tags: {} },
    { device: 'd', ts: T0 + 90_000, fields: { v: 2 }, tags: {} },
    { device: 'd', ts: T0 + 120 * 45_000, fields: { v: 5 }, tags: {} },
  ]);
  const [c] = (await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'count', everyMs: 24 * 3_600_000, from: T0, to: T0 + 24 * 3_600_000 })).points;
  assert.equal(c.value, 121);
  await assertTiersMatchRaw(store, ['d'], ['v'], T0, T0 + 2 * 3_600_000);
  await store.close();
});

test('any order of writes, replays, late data and restarts keeps the roll-ups equal to the raw aggregates (property)', async () => {
  const fc = (await import('fast-check')).default;
  const reading = fc.record({
    device: fc.constantFrom('a', 'b'),
    // Seconds 0..300 in steps of 20: several readings per minute, replays and late ones likely.
    ts: fc.integer({ min: 0, max: 15 }).map((s) => s * 20_000),
    fields: fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constantFrom('p', 'q')), { minKeys: 1 }),
  });
  const step = fc.oneof({ arbitrary: fc.array(reading, { minLength: 1, maxLength: 8 }).map((rs) => ({ write: rs })), weight: 4 }, { arbitrary: fc.constant({ restart: true as const }), weight: 1 });
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
      const path = await tempPath('p.duckdb');
      let s = new DuckDbStore({ path });
      await s.open();
      try {
        for (const st of steps) {
          if ('restart' in st) {
            await s.close();
            s = new DuckDbStore({ path });
            await s.open();
          } else {
            await s.write(st.write.map((x) => ({ device: x.device, ts: T0 + x.ts, fields: x.fields, tags: {} })));
          }
        }
        await assertTiersMatchRaw(s, ['a', 'b'], ['x', 'y'], T0, T0 + 3_600_000);
      } finally {
        await s.close();
      }
    }),
    { numRuns: 12 },
  );
});

test('an aggregate from a tier adds the roll-ups still pending, also while an apply runs beside it (property)', async () => {
  const fc = (await import('fast-check')).default;
  const reading = fc.record({
    device: fc.constantFrom('a', 'b'),
    // Steps of 20 s from the latest reading so far: mostly later (fresh), now and then earlier (late) or the same (a replay).
    dt: fc.integer({ min: -3, max: 6 }),
    fields: fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constantFrom('p', 'q')), { minKeys: 1 }),
  });
  const step = fc.oneof(
    { arbitrary: fc.array(reading, { minLength: 1, maxLength: 8 }).map((rs) => ({ write: rs })), weight: 4 },
    { arbitrary: fc.constant({ apply: true as const }), weight: 1 },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.constantFrom(undefined, 1, 4), async (steps, race, chunk) => {
      // The timer out of the way: what is pending stays so until a late reading, a replay or an apply asked for.
      // With small chunks an apply racing the reads applies only the oldest chunk.
      const store = new DuckDbStore({ path: ':memory:', rollupEveryMs: 3_600_000, rollupChunkBuckets: chunk });
      await store.open();
      try {
        let clock = 0;
        for (const st of steps) {
          if ('apply' in st) {
            await store.applyRollups();
            continue;
          }
          await store.write(
            st.write.map((x) => {
              const s = Math.max(0, clock + x.dt * 20);
              clock = Math.max(clock, s);
              return { device: x.device, ts: T0 + s * 1000, fields: x.fields, tags: {} };
            }),
          );
        }
        const queries = ['a', 'b'].flatMap((device) => ['x', 'y'].flatMap((field) => FNS.flatMap((fn) => [60_000, 3_600_000].map((everyMs) => ({ device, field, fn, everyMs, from: T0, to: T0 + 3 * 3_600_000 })))));
        const raw = await Promise.all(queries.map((q) => store.aggregateRaw(q)));
        // Every read asked for at once, with an apply queued beside them when `race`: each counts every reading once.
        const applied = race ? store.applyRollups(chunk === undefined ? Infinity : 1) : undefined;
        const tiered = await Promise.all(queries.map((q) => store.aggregateWithTier(q)));
        await applied;
        queries.forEach((q, i) => {
          assert.equal(tiered[i].tier, q.everyMs === 60_000 ? '1m' : '1h');
          // Whole numbers: sums and means are exact whatever the order of adding.
          assert.deepEqual(tiered[i].points, raw[i], `${q.device}/${q.field} ${q.fn} every ${q.everyMs}`);
        });
      } finally {
        await store.close();
      }
    }),
    { numRuns: 20 },
  );
});

test('the timer applies pending roll-ups a chunk per turn of the write queue, and a write queued meanwhile goes between them', async () => {
  const events: StoreTraceEvent[] = [];
  let wrote: Promise<void> | undefined;
  const store: DuckDbStore = new DuckDbStore({
    path: ':memory:',
    rollupEveryMs: 50,
    rollupChunkBuckets: 2,
    trace: (e) => {
      events.push(e);
      // Queued while the first chunk's apply holds the queue.
      if (e.kind === 'rollups' && !wrote) wrote = store.write([{ device: 'late', ts: T0 + 5000, fields: { x: 1 }, tags: {} }]);
    },
  });
  await store.open();
  try {
    // Three writes of three buckets each (a device's three fields in one minute): three chunks at two buckets a chunk.
    await Promise.all([0, 1, 2].map((i) => store.write([{ device: `d${i}`, ts: T0 + i * 1000, fields: { x: i, y: true, z: 'v' }, tags: {} }])));
    while (events.filter((e) => e.kind === 'rollups').length < 4) await new Promise((r) => setTimeout(r, 20));
    await wrote;
    const seq = events.flatMap((e) => (e.kind === 'rollups' ? [`apply ${e.buckets}`] : e.kind === 'write' ? ['write'] : e.kind === 'op' && e.op === 'apply roll-ups' ? ['turn'] : []));
    // Each turn of the timer applied one chunk, and the write queued during the first went before the second.
    assert.deepEqual(seq, ['write', 'write', 'write', 'apply 3', 'turn', 'write', 'apply 3', 'turn', 'apply 3', 'turn', 'apply 1', 'turn']);
    await assertTiersMatchRaw(store, ['d0', 'd1', 'd2', 'late'], ['x', 'y', 'z'], T0, T0 + 3_600_000);
  } finally {
    await store.close();
  }
});

test('an aggregate answers with at most 100,000 buckets: more is refused, saying which bucket width fits, from raw rows and from a tier alike', async () => {
  const store = new DuckDbStore({ path: ':memory:', retentionMs: 0, rollupRetentionMs: 0 });
  await store.open();
  // One reading a minute for MAX + 1 minutes (about 69 days): one bucket per reading at 1 minute or finer.
  const n = MAX_AGGREGATE_POINTS + 1;
  for (let i = 0; i < n; i += 5_000) {
    const batch: Reading[] = [];
    for (let k = i; k < Math.min(n, i + 5_000); k++) batch.push({ device: 'd', ts: T0 + k * 60_000, fields: { v: k % 10 }, tags: {} });
    await store.write(batch);
  }
  const range = { from: T0, to: T0 + n * 60_000 };
  for (const [everyMs, tier] of [
    [60_000, '1m'],
    [30_000, 'raw'],
  ] as const) {
    const q = { device: 'd', field: 'v', fn: 'mean' as const, everyMs, ...range };
    await assert.rejects(store.aggregateWithTier(q), (err: Error) => {
      assert.ok(err instanceof BadParameterError, `${tier}: ${err.message}`);
      assert.match(err.message, new RegExp(`buckets of ${everyMs} ms give more than 100000 points with data; .*"every" must be at least 60001 ms`));
      return true;
    });
    // Without bounds the message still says what to change.
    await assert.rejects(store.aggregateWithTier({ device: 'd', field: 'v', fn: 'count', everyMs }), /ask for wider buckets or a shorter range$/);
  }
  const twoMinutes = await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'count', everyMs: 120_000, ...range });
  assert.equal(twoMinutes.tier, '1m');
  assert.equal(twoMinutes.points.length, Math.ceil(n / 2));
  assert.equal(twoMinutes.points.reduce((s, p) => s + (p.value as number), 0), n);
  // What an API client gets: 400 naming `every`, with the width that fits.
  const answer = await handleQuery(store, 'aggregate', { device: 'd', field: 'v', fn: 'mean', every: '1m', from: String(range.from), to: String(range.to) }, undefined);
  assert.equal(answer.status, 400);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string; parameter?: string } };
  assert.equal(body.error.code, 'BAD_PARAMETER');
  assert.equal(body.error.parameter, 'every');
  assert.match(body.error.message, /at least 60001 ms/);
  // Exactly the limit is answered.
  assert.equal((await store.aggregateWithTier({ device: 'd', field: 'v', fn: 'last', everyMs: 60_000, from: T0, to: T0 + MAX_AGGREGATE_POINTS * 60_000 })).points.length, MAX_AGGREGATE_POINTS);
  await store.close();
});
