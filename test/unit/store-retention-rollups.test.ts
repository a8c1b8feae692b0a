/**
 * Roll-ups of the embedded DuckDB store across a retention pass (real DuckDB,
 * in memory): a late reading in a bucket whose raw rows retention partly
 * removed is added to it once, a replay is not counted again, a reading older
 * than the raw cutoff for a sealed hour is refused (history of an hour never
 * held is taken), and an aggregate reaching before the cutoff is answered by
 * the 1-minute tier.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { AggregateFn, AggregatePoint } from '../../nodes/lib/store/types';
import type { Reading } from '../../nodes/lib/reading';
import { RetentionRefusedError } from '../../nodes/lib/errors';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
/** The raw cutoff of the pass: inside minute T0+30m and hour T0, so both buckets are sealed yet keep raw rows. */
const CUTOFF = T0 + 30 * MIN + 35_000;

const at = (ts: number, v: number, device = 'd'): Reading => ({ device, ts, fields: { v }, tags: {} });

/** Two hours of readings every 10 s (value: its index), then a pass with a one-day retention at CUTOFF. */
async function storeAfterPass(): Promise<{ store: DuckDbStore; written: Reading[] }> {
  const store = new DuckDbStore({ path: ':memory:', retentionMs: DAY, retentionEveryMs: DAY });
  await store.open();
  const written = Array.from({ length: 2 * 360 }, (_, i) => at(T0 + i * 10_000, i));
  for (let i = 0; i < written.length; i += 100) await store.write(written.slice(i, i + 100));
  await store.applyRetention(CUTOFF + DAY);
  assert.equal(await store.rawSince(), CUTOFF);
  return { store, written };
}

async function bucket(store: DuckDbStore, fn: AggregateFn, from: number, width: number): Promise<AggregatePoint['value'] | undefined> {
  const r = await store.aggregateWithTier({ device: 'd', field: 'v', fn, everyMs: width, from, to: from + width });
  assert.equal(r.tier, width === HOUR ? '1h' : '1m');
  return r.points[0]?.value;
}

/** count, sum and mean of the minute T0+30m and of the hour T0. */
async function sealedBuckets(store: DuckDbStore): Promise<number[]> {
  const out: number[] = [];
  for (const [from, width] of [
    [T0 + 30 * MIN, MIN],
    [T0, HOUR],
  ]) {
    for (const fn of ['count', 'sum', 'mean'] as const) out.push((await bucket(store, fn, from, width)) as number);
  }
  return out;
}

test('a late reading at or after the raw cutoff, in a bucket retention sealed, is added to its minute and hour roll-ups', async () => {
  const { store } = await storeAfterPass();
  // Minute T0+30m held indexes 180..185; hour T0 held 0..359.
  const minuteSum = 180 + 181 + 182 + 183 + 184 + 185;
  const hourSum = (359 * 360) / 2;
  assert.deepEqual(await sealedBuckets(store), [6, minuteSum, minuteSum / 6, 360, hourSum, hourSum / 360]);
  // Late (the device has sent later readings): one exactly at the cutoff, one after it.
  await store.write([at(CUTOFF, 1000), at(CUTOFF + 3000, 2000)]);
  assert.deepEqual(await sealedBuckets(store), [8, minuteSum + 3000, (minuteSum + 3000) / 8, 362, hourSum + 3000, (hourSum + 3000) / 362]);
  assert.equal(await bucket(store, 'max', T0 + 30 * MIN, MIN), 2000);
  assert.equal(await bucket(store, 'min', T0, HOUR), 0, 'the minimum of rows retention deleted is kept');
  await store.close();
});

test('a replay of readings already stored in a sealed bucket leaves its count and sum as they were', async () => {
  const { store, written } = await storeAfterPass();
  await store.write([at(CUTOFF + 3000, 2000)]);
  const before = await sealedBuckets(store);
  // The late reading again, a stored reading after the cutoff, and a duplicate inside the batch.
  const stored = written.find((r) => r.ts >= CUTOFF)!;
  await store.write([at(CUTOFF + 3000, 2000), stored, stored]);
  assert.deepEqual(await sealedBuckets(store), before);
  // A new reading in the same batch as a replay is still counted.
  await store.write([stored, at(CUTOFF + 4000, 10)]);
  const after = await sealedBuckets(store);
  assert.deepEqual([after[0], after[1], after[3], after[4]], [before[0] + 1, before[1] + 10, before[3] + 1, before[4] + 10]);
  await store.close();
});

test('after a pass a reading older than the raw cutoff in a sealed hour is refused; one at the cutoff and history of an hour never held are taken', async () => {
  const { store } = await storeAfterPass();
  const countBefore = await bucket(store, 'count', T0, HOUR);
  // Index 0: before the cutoff in the sealed hour T0. Index 2: the day before, an hour the store never held.
  const history = T0 - DAY + 5 * MIN;
  await assert.rejects(
    store.write([at(CUTOFF - 1, 5), at(CUTOFF, 6), at(history, 7), at(T0 + 5 * MIN + 1, 8, 'never-seen')]),
    (err: unknown) =>
      err instanceof RetentionRefusedError &&
      err.code === 'BEYOND_RETENTION' &&
      err.cutoff === CUTOFF &&
      err.indexes.join() === '0' &&
      /older than the store keeps/.test(err.reasonFor('d', CUTOFF - 1)),
  );
  // Nothing of the refused batch was written; the writer writes the rest on its own.
  assert.equal(await bucket(store, 'count', T0, HOUR), countBefore);
  await store.write([at(CUTOFF, 6), at(history, 7), at(T0 + 5 * MIN + 1, 8, 'never-seen')]);
  assert.equal(await bucket(store, 'count', T0, HOUR), (countBefore as number) + 1);
  assert.equal(await bucket(store, 'sum', T0 - DAY, HOUR), 7, 'the imported hour is rolled up');
  const never = await store.aggregateWithTier({ device: 'never-seen', field: 'v', fn: 'sum', everyMs: HOUR, from: T0, to: T0 + HOUR });
  assert.deepEqual(never.points, [{ ts: T0, value: 8 }]);
  // Once the next pass has deleted the imported rows and sealed their hours, a replay of them is refused.
  await store.applyRetention(CUTOFF + DAY);
  await assert.rejects(store.write([at(history, 7)]), RetentionRefusedError);
  assert.equal(await bucket(store, 'sum', T0 - DAY, HOUR), 7);
  await store.close();
});

test('an aggregate reaching before the raw cutoff is answered by the 1-minute tier over whole minutes', async () => {
  const { store, written } = await storeAfterPass();
  // Neither end on a minute: the raw rows would answer it, but those before the cutoff are gone.
  const q = { device: 'd', field: 'v', everyMs: 5 * MIN, from: T0 + 23 * MIN + 35_000, to: T0 + 50 * MIN + 20_000 };
  const lo = T0 + 23 * MIN;
  const hi = T0 + 51 * MIN;
  const expected = (fn: 'sum' | 'count' | 'mean'): AggregatePoint[] => {
    const groups = new Map<number, number[]>();
    for (const r of written.filter((x) => x.ts >= lo && x.ts < hi)) {
      const b = Math.floor(r.ts / (5 * MIN)) * 5 * MIN;
      groups.set(b, [...(groups.get(b) ?? []), r.fields.v as number]);
    }
    return [...groups].map(([ts, vs]) => {
      const sum = vs.reduce((a, b) => a + b, 0);
      return { ts, value: fn === 'sum' ? sum : fn === 'count' ? vs.length : sum / vs.length };
    });
  };
  for (const fn of ['sum', 'count', 'mean'] as const) {
    const r = await store.aggregateWithTier({ ...q, fn });
    assert.equal(r.tier, '1m', fn);
    assert.deepEqual(r.points, expected(fn), fn);
  }
  assert.equal(expected('count')[0].value, 12, 'the first bucket starts at the widened minute T0+23m');
  // Wholly after the cutoff the raw rows answer it exactly.
  const after = await store.aggregateWithTier({ ...q, fn: 'count', from: CUTOFF + 5000 });
  assert.equal(after.tier, 'raw');
  await store.close();
});
