/** The store keeps one row per (device, ts, field) without a primary key: fresh/suspect marks, replays, rewrites, restarts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DuckDBDataChunk, DuckDBInstance } from '@duckdb/node-api';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { encodeBatch } from '../../nodes/lib/store/duckdb-encode';
import { duckdbFiles, r, T0 } from '../helpers/duckdb-store';

const { dbPath, withStore } = duckdbFiles();

/** Every row of a closed store's file, as "device|ts|field=value|tags", sorted. */
async function rowsOf(path: string): Promise<string[]> {
  const inst = await DuckDBInstance.create(path);
  try {
    const conn = await inst.connect();
    const rows = (await conn.runAndReadAll(`SELECT device, epoch_ms(ts)::DOUBLE, field, coalesce(value_double::VARCHAR, value_bool::VARCHAR, 's:' || value_text), tags::VARCHAR FROM readings ORDER BY ALL`)).getRows();
    conn.closeSync();
    return rows.map((x) => `${String(x[0])}|${String(x[1])}|${String(x[2])}=${String(x[3])}|${String(x[4])}`);
  } finally {
    inst.closeSync();
  }
}

describe('DuckDbStore keeps (device, ts, field) unique without a primary key', () => {
  test('readings are fresh when later than everything of their device stored or earlier in the batch; the rest are suspects', () => {
    const marks = new Map([['a', T0 + 10]]);
    const b = encodeBatch(
      [r('a', T0 + 5, { x: 1 }), r('a', T0 + 11, { x: 1, y: 2 }), r('a', T0 + 11, { y: 3 }), r('b', T0, { x: 1 }), r('b', T0 + 1, {}), r('b', T0 + 2, { x: 2 })],
      marks,
    );
    assert.deepEqual([...b.cols.x.subarray(0, b.rows)], [1, 0, 0, 1, 0, 0]);
    assert.equal(b.suspects, 2);
    assert.deepEqual([b.lo, b.hi], [T0 + 5, T0 + 11]);
    assert.deepEqual([...b.latest], [['a', T0 + 11], ['b', T0 + 2]]);
  });

  test('a batch replayed after a restart (a journal replay) adds no row', async () => {
    const path = dbPath();
    const batch = [r('d', T0, { a: 1, b: 'x' }, { site: 'lab' }), r('d', T0 + 1000, { a: 2 }), r('e', T0, { on: true })];
    for (let i = 0; i < 3; i++) {
      const s = new DuckDbStore({ path });
      await s.open();
      await s.write(batch);
      await s.close();
    }
    assert.deepEqual(await rowsOf(path), ['d|' + T0 + '|a=1.0|{"site":"lab"}', 'd|' + T0 + '|b=s:x|{"site":"lab"}', 'd|' + (T0 + 1000) + '|a=2.0|{}', 'e|' + T0 + '|on=true|{}']);
  });

  test('a batch wider and longer than the encoder\'s first columns and one data chunk comes back value for value', async () => {
    // 1,500 readings of up to 5 fields (the columns start with room for 2 a reading) = 6,000 rows: three data chunks.
    const batch = Array.from({ length: 1500 }, (_, i) =>
      r(`w${i % 7}`, T0 + i, i % 3 === 0 ? { a: i + 0.25, b: i % 2 === 0, c: `t${i % 11}`, d: -i, e: 1e300 } : { a: i + 0.25, b: i % 2 === 0, c: `t${i % 11}` }, i % 5 === 0 ? { k: `v${i}` } : {}),
    );
    await withStore(async (s) => {
      await s.write(batch);
      for (const device of ['w0', 'w6']) {
        const page = await s.readings({ device, limit: 1000 });
        const want = batch.filter((x) => x.device === device).map((x) => ({ ts: x.ts, fields: x.fields, tags: x.tags }));
        assert.deepEqual(page.readings, want, device);
      }
    });
  });

  test('batches one after another through the batch table share one full data chunk and each comes back value for value', async () => {
    // A new chunk's vectors are each copied out of DuckDB before they are written: the full one is made once.
    const create = DuckDBDataChunk.create.bind(DuckDBDataChunk);
    let full = 0;
    DuckDBDataChunk.create = (types, rowCount) => {
      if (rowCount === 2048) full++;
      return create(types, rowCount);
    };
    try {
      const path = dbPath();
      const s = new DuckDbStore({ path });
      await s.open();
      const model = new Map<string, string>();
      // Rows: 2,600 (a full chunk and part of one), 4,096 (two full), 5,000 with replays of the first batch (suspects).
      const batches = [
        Array.from({ length: 1300 }, (_, i) => r(`s${i % 3}`, T0 + i, { a: i + 0.5, b: i % 4 === 0 })),
        Array.from({ length: 2048 }, (_, i) => r(`s${i % 5}`, T0 + 10_000 + i, { a: -i - 0.5, c: `t${i % 9}` }, i % 7 === 0 ? { k: `v${i}` } : {})),
        Array.from({ length: 2500 }, (_, i) => r(`s${i % 3}`, T0 + i, { a: 2 * i, b: i % 3 === 0 })),
      ];
      for (const batch of batches) {
        await s.write(batch);
        for (const x of batch) {
          for (const [f, v] of Object.entries(x.fields)) {
            const value = typeof v === 'number' ? v.toFixed(1) : typeof v === 'boolean' ? String(v) : `s:${v}`;
            model.set(`${x.device}|${x.ts}|${f}`, `${value}|${JSON.stringify(x.tags)}`);
          }
        }
      }
      await s.close();
      const want = [...model].map(([k, v]) => `${k}=${v}`).sort();
      assert.deepEqual(await rowsOf(path), want);
      assert.ok(full <= 1, `${full} full data chunks made for 5 full chunks' worth of rows`);
    } finally {
      DuckDBDataChunk.create = create;
    }
  });

  test('late readings are stored, a retransmitted one replaces its row, and fresh readings around them stay', async () => {
    const path = dbPath();
    const s = new DuckDbStore({ path });
    await s.open();
    await s.write([r('d', T0 + 10, { a: 10 }), r('d', T0 + 20, { a: 20 })]);
    // Late (older than the device's latest), a retransmission with a new value, new data, and a duplicate within the batch.
    await s.write([r('d', T0 + 5, { a: 5 }), r('d', T0 + 10, { a: 11 }), r('d', T0 + 30, { a: 30 }), r('d', T0 + 30, { a: 31 })]);
    await s.close();
    assert.deepEqual(await rowsOf(path), [5, 10, 20, 30].map((t) => `d|${T0 + t}|a=${t === 10 ? '11.0' : t === 30 ? '31.0' : `${t}.0`}|{}`));
  });

  test('a store from before (primary key on readings) is moved to the table without it once, keeping its rows', async () => {
    const path = dbPath();
    const inst = await DuckDBInstance.create(path);
    const conn = await inst.connect();
    await conn.run(`CREATE TABLE readings (device VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, field VARCHAR NOT NULL, value_double DOUBLE, value_bool BOOLEAN, value_text VARCHAR, tags JSON, PRIMARY KEY (device, ts, field));
      CREATE TABLE upperstack_meta (key VARCHAR PRIMARY KEY, value VARCHAR); INSERT INTO upperstack_meta VALUES ('schema_version', '1');
      INSERT INTO readings VALUES ('d', make_timestamp(${T0}::BIGINT * 1000), 'a', 1, NULL, NULL, '{}'), ('d', make_timestamp(${T0 + 1}::BIGINT * 1000), 'a', 2, NULL, NULL, '{}')`);
    conn.closeSync();
    inst.closeSync();
    const s = new DuckDbStore({ path });
    await s.open();
    // The marks come from the moved rows: the replay of the older reading replaces it.
    await s.write([r('d', T0, { a: 3 }), r('d', T0 + 2, { a: 4 })]);
    await s.close();
    assert.deepEqual(await rowsOf(path), [`d|${T0}|a=3.0|{}`, `d|${T0 + 1}|a=2.0|{}`, `d|${T0 + 2}|a=4.0|{}`]);
    const check = await DuckDBInstance.create(path);
    const c = await check.connect();
    const keys = (await c.runAndReadAll(`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'readings' AND constraint_type = 'PRIMARY KEY'`)).getRows()[0][0];
    const version = (await c.runAndReadAll(`SELECT value FROM upperstack_meta WHERE key = 'schema_version'`)).getRows()[0][0];
    c.closeSync();
    check.closeSync();
    assert.equal(Number(keys), 0);
    assert.equal(version, '2');
  });

  test('any order of writes, replays and restarts leaves one row per key holding the last value written (property)', async () => {
    const reading = fc.record({
      device: fc.constantFrom('a', 'b'),
      ts: fc.integer({ min: 0, max: 6 }),
      fields: fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constantFrom('p', 'q')), { minKeys: 1 }),
    });
    const step = fc.oneof({ arbitrary: fc.array(reading, { minLength: 1, maxLength: 6 }).map((rs) => ({ write: rs })), weight: 4 }, { arbitrary: fc.constant({ restart: true as const }), weight: 1 });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        const path = dbPath();
        const model = new Map<string, string>();
        let s = new DuckDbStore({ path });
        await s.open();
        try {
          for (const st of steps) {
            if ('restart' in st) {
              await s.close();
              s = new DuckDbStore({ path });
              await s.open();
              continue;
            }
            await s.write(st.write.map((x) => r(x.device, T0 + x.ts, x.fields)));
            for (const x of st.write) {
              for (const [f, v] of Object.entries(x.fields)) {
                const value = typeof v === 'number' ? v.toFixed(1) : typeof v === 'boolean' ? String(v) : `s:${v}`;
                model.set(`${x.device}|${T0 + x.ts}|${f}`, `${value}|{}`);
              }
            }
          }
        } finally {
          await s.close();
        }
        const expected = [...model].map(([k, v]) => `${k}=${v}`).sort();
        assert.deepEqual(await rowsOf(path), expected);
      }),
      { numRuns: 15 },
    );
  });
});
