/**
 * DuckDB retention's first pass waits for the holds on raw rows: report and invoice nodes register theirs
 * after the store has opened, and a pass at open would delete rows of a period they still have to produce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';
import { eventually } from '../helpers/runtime';

const DAY = 86_400_000;
const RETENTION = 30 * DAY;

/** A store file with hourly readings from 50 to 40 days ago, written with nothing deleted. */
async function oldReadings(): Promise<{ path: string; held: number }> {
  const path = join(tempDir('us-ret-first-'), 'store.duckdb');
  const store = new DuckDbStore({ path });
  await store.open();
  const now = Date.now();
  const readings: Reading[] = [];
  for (let ts = now - 50 * DAY; ts < now - 40 * DAY; ts += 3_600_000) readings.push({ device: 'm', ts, fields: { power: 1 }, tags: {} });
  await store.write(readings);
  await store.close();
  // What last month's report still needs: the readings of the last five of those days.
  return { path, held: now - 45 * DAY };
}

async function countFrom(store: DuckDbStore, from: number): Promise<number> {
  return (await store.readings({ device: 'm', from, to: Date.now(), fields: ['power'], limit: 10_000 })).readings.length;
}

test('a hold registered right after the store opens protects its rows from the first retention pass', async (t) => {
  const { path, held } = await oldReadings();
  const store = new DuckDbStore({ path, retentionMs: RETENTION, retentionEveryMs: 20 });
  await store.open();
  t.after(() => store.close());
  store.holdRaw('report:r', () => held);
  const since = await eventually(() => store.rawSince(), 10_000, 'a retention pass');
  assert.equal(since, held, 'deleted up to the hold, not up to the retention period');
  assert.equal(await countFrom(store, held), 5 * 24);
});

test('holdsRegistered() runs the first pass without waiting for the timer; opening runs none', async (t) => {
  const { path, held } = await oldReadings();
  const store = new DuckDbStore({ path, retentionMs: RETENTION, retentionEveryMs: 3_600_000 });
  await store.open();
  t.after(() => store.close());
  assert.equal(await store.rawSince(), undefined, 'nothing deleted at open');
  assert.equal(await countFrom(store, 0), 10 * 24);
  store.holdRaw('invoice:i', () => held);
  store.holdsRegistered();
  const since = await eventually(() => store.rawSince(), 10_000, 'a retention pass');
  assert.equal(since, held);
  assert.equal(await countFrom(store, 0), 5 * 24);
});
