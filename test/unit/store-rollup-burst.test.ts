/**
 * Many new series at once (a fleet's first readings, a gateway resending a big
 * batch): the roll-ups must cost in proportion to the batch, and stay exact. Deferred deltas of
 * 20,000 new devices left the process at ~860 MB; the merge of a resent batch of
 * one device grew with the square of its rows (50,000 rows: 4 GB, 2 minutes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance, LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { DuckDbStore, type StoreTraceEvent } from '../../nodes/lib/store/duckdb';
import { encodeBatch, raiseMarks } from '../../nodes/lib/store/duckdb-encode';
import { DIRECT_BUCKETS, manyBuckets } from '../../nodes/lib/store/duckdb-rollup-pending';
import { mergeSql, writeBatch } from '../../nodes/lib/store/duckdb-write';
import { ROLLUP_SCHEMA, TIERS } from '../../nodes/lib/store/duckdb-rollups';
import { SCHEMA } from '../../nodes/lib/store/duckdb-schema';
import type { Reading } from '../../nodes/lib/reading';
import { assertTiersMatchRaw } from '../helpers/rollup-match';

const T0 = Date.UTC(2026, 0, 1);

function fleet(devices: number, ts: number, fields = ['v', 'w']): Reading[] {
  const out: Reading[] = [];
  for (let j = 0; j < devices; j++) out.push({ device: `fleet${j}`, ts: ts + j, fields: Object.fromEntries(fields.map((f, i) => [f, j + i])), tags: {} });
  return out;
}

/** One device's readings a second apart, from `from`. */
function series(device: string, from: number, count: number, fields = ['v']): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < count; i++) out.push({ device, ts: from + i * 1000, fields: Object.fromEntries(fields.map((f, k) => [f, (i * 7 + k) % 13])), tags: {} });
  return out;
}

test('a batch counts as opening many buckets by its (device, field, minute) buckets, not by its rows', () => {
  const marks = new Map<string, number>();
  assert.equal(manyBuckets(encodeBatch(fleet(DIRECT_BUCKETS / 2, T0), marks)), true, 'two fields of half as many devices');
  assert.equal(manyBuckets(encodeBatch(fleet(DIRECT_BUCKETS / 2 - 1, T0), marks)), false, 'one bucket short');
  // 5,000 readings of one device and field over 84 minutes: many rows, 84 buckets.
  assert.equal(manyBuckets(encodeBatch(series('one', T0, 5000), marks)), false);
  // Ten fields over 2,000 minutes of one device: 20,000 buckets.
  const minutes: Reading[] = series('one', T0, 2000, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']).map((r, i) => ({ ...r, ts: T0 + i * 60_000 }));
  assert.equal(manyBuckets(encodeBatch(minutes, marks)), true);
});

test('a fleet\'s first batch keeps the tiers in its own write, after what was pending: nothing is left to apply and the tiers equal the raw aggregates', async () => {
  const events: StoreTraceEvent[] = [];
  const store = new DuckDbStore({ path: ':memory:', rollupEveryMs: 3_600_000, trace: (e) => events.push(e) });
  await store.open();
  try {
    await store.write(series('a', T0, 3));
    await store.write(fleet(1100, T0 + 5000));
    assert.deepEqual(
      events.filter((e) => e.kind === 'rollups').map((e) => (e.kind === 'rollups' ? e.buckets : 0)),
      [1],
      'the one bucket pending from the first write was applied, the fleet\'s 2,200 were not deferred',
    );
    events.length = 0;
    await store.applyRollups();
    assert.equal(events.filter((e) => e.kind === 'rollups').length, 0, 'nothing left pending');
    await assertTiersMatchRaw(store, ['a', 'fleet0', 'fleet1099'], ['v', 'w'], T0, T0 + 3_600_000);
    // A long batch of one device over few buckets is still deferred: merged in the write, it would cost a statement per tier.
    await store.write(series('a', T0 + 10_000, 3000));
    await store.applyRollups();
    assert.equal(events.filter((e) => e.kind === 'rollups').length, 1, 'applied after its write, not in it');
    await assertTiersMatchRaw(store, ['a'], ['v'], T0, T0 + 3_600_000);
  } finally {
    await store.close();
  }
});

test('roll-ups applied through the staging table (hundreds of new buckets a write) equal the raw aggregates, numbers, booleans and text alike', async () => {
  const store = new DuckDbStore({ path: ':memory:', rollupEveryMs: 3_600_000 });
  await store.open();
  try {
    const devices = Array.from({ length: 150 }, (_, j) => `s${j}`);
    // Three writes of 150 new devices × 3 fields (450 buckets each: staged, not merged in the write), then a replay.
    for (let w = 0; w < 3; w++) {
      await store.write(devices.map((device, j) => ({ device, ts: T0 + w * 70_000 + j, fields: { v: j * w - 7.5, on: (j + w) % 2 === 0, mode: `m${(j + w) % 3}` }, tags: {} })));
    }
    await store.write([{ device: 's3', ts: T0 + 3, fields: { v: 99, on: true, mode: 'late' }, tags: {} }]);
    await store.applyRollups();
    await assertTiersMatchRaw(store, ['s0', 's3', 's149'], ['v', 'on', 'mode'], T0, T0 + 3_600_000);
  } finally {
    await store.close();
  }
});

/** The largest number of rows any operator of `sql` produced, from DuckDB's EXPLAIN ANALYZE. */
async function largestOperator(conn: Awaited<ReturnType<DuckDBInstance['connect']>>, sql: string, names: string[]): Promise<number> {
  const p = await conn.prepare(`EXPLAIN ANALYZE ${sql}`);
  p.bind({ names: listValue(names) }, { names: LIST(VARCHAR) });
  const text = (await p.runAndReadAll()).getRows().map((r) => String(r[1])).join('\n');
  const rows = [...text.matchAll(/([\d,]+) [Rr]ows/g)].map((m) => Number(m[1].replace(/,/g, '')));
  assert.ok(rows.length > 0, `no operator row counts in the plan:\n${text.slice(0, 2000)}`);
  return Math.max(...rows);
}

test('the tiers\' merge for a resent batch of one device does work in proportion to its rows, not to their square', async () => {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    await conn.run(SCHEMA);
    await conn.run(ROLLUP_SCHEMA);
    const marks = new Map<string, number>();
    const first = encodeBatch(series('gw', T0, 2000), marks);
    raiseMarks(marks, first);
    await writeBatch(conn, first, TIERS);
    // 2,000 readings again, half a second later each: none stored, all but the last earlier than what is.
    const resent = encodeBatch(series('gw', T0 + 500, 2000), marks);
    assert.equal(resent.suspects, 1999);
    await writeBatch(conn, resent, TIERS);
    for (const tier of TIERS) {
      // The batch table still holds the resent batch, as the write left it.
      const largest = await largestOperator(conn, mergeSql(tier, resent.shape, true), resent.names);
      assert.ok(largest <= 4 * resent.rows, `${tier.table}: an operator produced ${largest} rows for a batch of ${resent.rows}`);
    }
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
});
