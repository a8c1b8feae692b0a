import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { encodeBatch } from '../../nodes/lib/store/duckdb-encode';
import { BadParameterError, StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { AggregateFn } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 0, 1);
let dir: string;
let n = 0;

function dbPath(): string {
  return join(dir, `t${n++}.duckdb`);
}

async function withStore(fn: (s: DuckDbStore, path: string) => Promise<void>): Promise<void> {
  const path = dbPath();
  const s = new DuckDbStore({ path });
  await s.open();
  try {
    await fn(s, path);
  } finally {
    await s.close();
  }
}

function r(device: string, ts: number, fields: Reading['fields'], tags: Reading['tags'] = {}): Reading {
  return { device, ts, fields, tags };
}

before(() => {
  dir = tempDir('upperstack-duckdb-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('DuckDbStore writes and reads', () => {
  test('round trip keeps value types, tags and ms timestamps, ascending by ts', async () => {
    await withStore(async (s) => {
      await s.write([
        r('dev1', T0 + 1500, { temperature: 22.5, door: true, mode: 'eco, "quiet"' }, { site: 'lab', floor: '2' }),
        r('dev1', T0 + 7, { temperature: -3, door: false, count: 0 }),
        r('dev2', T0, { other: 1 }),
      ]);
      const page = await s.readings({ device: 'dev1', limit: 10 });
      assert.deepEqual(page, {
        readings: [
          { ts: T0 + 7, fields: { temperature: -3, door: false, count: 0 }, tags: {} },
          { ts: T0 + 1500, fields: { temperature: 22.5, door: true, mode: 'eco, "quiet"' }, tags: { site: 'lab', floor: '2' } },
        ],
      });
    });
  });

  test('each batch sends only the value columns it uses; every combination stores the same rows', async () => {
    const batches: Reading[][] = [
      [r('n', T0, { a: 1.5, b: 2 })],
      [r('b', T0, { on: true })],
      [r('s', T0, { mode: 'eco' })],
      [r('t', T0, { a: 1 }, { site: 'lab' })],
      // Booleans, texts and tags first appear after rows without them.
      [r('m', T0, { a: 1 }), r('m', T0 + 1, { on: false }), r('m', T0 + 2, { mode: '' }, { k: 'v' }), r('m', T0 + 3, { a: 0, on: true, mode: 'x' })],
    ];
    // Value kinds present: number 1, boolean 2, text 4, tags 8.
    assert.deepEqual(batches.map((b) => encodeBatch(b, new Map()).shape), [1, 2, 4, 9, 15]);
    await withStore(async (s) => {
      for (const b of batches) await s.write(b);
      for (const b of batches) {
        const page = await s.readings({ device: b[0].device, limit: 10 });
        assert.deepEqual(page.readings, b.map(({ ts, fields, tags }) => ({ ts, fields, tags })));
      }
    });
  });

  test('a small batch (appended as it is) and a large one (through the batch table) store the same rows', async () => {
    const mixed = (device: string) => [
      r(device, -1500, { a: -2.25 }, { site: 'before 1970' }),
      r(device, T0, { a: 1, on: false, mode: 'eco, "quiet" ✓' }, { k: 'v' }),
      r(device, T0 + 1, { on: true, mode: '' }),
      r(device, T0 + 2, { a: 0 }),
    ];
    const filler = Array.from({ length: 2100 }, (_, i) => r('filler', T0 + i, { a: i }));
    await withStore(async (s) => {
      await s.write(mixed('small'));
      await s.write([...filler, ...mixed('large')]);
      const small = await s.readings({ device: 'small', limit: 10 });
      assert.deepEqual(small.readings, mixed('small').map(({ ts, fields, tags }) => ({ ts, fields, tags })));
      assert.deepEqual((await s.readings({ device: 'large', limit: 10 })).readings, small.readings);
      assert.equal((await s.readings({ device: 'filler', limit: 5000 })).readings.length, 2100);
    });
  });

  test('writing the same readings twice keeps one row per (device, ts, field)', async () => {
    await withStore(async (s) => {
      const batch = [r('d', T0, { a: 1, b: 'x' }), r('d', T0 + 1000, { a: 2 })];
      await s.write(batch);
      await s.write(batch);
      assert.deepEqual((await s.readings({ device: 'd', limit: 10 })).readings, [
        { ts: T0, fields: { a: 1, b: 'x' }, tags: {} },
        { ts: T0 + 1000, fields: { a: 2 }, tags: {} },
      ]);
      const counts = await s.aggregate({ device: 'd', field: 'a', everyMs: 60_000, fn: 'count' });
      assert.deepEqual(counts, [{ ts: T0, value: 2 }]);
    });
  });

  test('a rewrite of a key takes the newest value, tags included; other fields of that ts stay', async () => {
    await withStore(async (s) => {
      await s.write([r('d', T0, { a: 1, b: true }, { v: '1' })]);
      await s.write([r('d', T0, { a: 'now text' }, { v: '2' }), r('d', T0 + 1, { c: 3 })]);
      const [first, second] = (await s.readings({ device: 'd', limit: 10 })).readings;
      assert.deepEqual(first.fields, { a: 'now text', b: true });
      assert.deepEqual(second, { ts: T0 + 1, fields: { c: 3 }, tags: {} });
      const a = await s.readings({ device: 'd', limit: 10, fields: ['a'] });
      assert.deepEqual(a.readings, [{ ts: T0, fields: { a: 'now text' }, tags: { v: '2' } }]);
    });
  });

  test('duplicates inside one batch: the later one wins', async () => {
    await withStore(async (s) => {
      await s.write([r('d', T0, { a: 1, b: 1 }), r('d', T0, { a: 2 }), r('d', T0 + 5, { a: 5 }), r('d', T0, { a: 3 })]);
      assert.deepEqual((await s.readings({ device: 'd', limit: 10 })).readings, [
        { ts: T0, fields: { a: 3, b: 1 }, tags: {} },
        { ts: T0 + 5, fields: { a: 5 }, tags: {} },
      ]);
    });
  });

  test('a batch with a value that cannot be stored fails as StoreFailedError and stores nothing', async () => {
    await withStore(async (s) => {
      const bad = [r('d', T0, { a: 1 }), r('d', T0 + 1, { a: Number.NaN })];
      await assert.rejects(s.write(bad), (e: unknown) => e instanceof StoreFailedError && /field "a" is NaN/.test(e.message));
      await assert.rejects(s.write([r('d', Number.POSITIVE_INFINITY, { a: 1 })]), StoreFailedError);
      await assert.rejects(s.write([{ device: 'd', ts: T0, fields: { a: { nested: 1 } }, tags: {} } as unknown as Reading]), StoreFailedError);
      // The same failure on the upsert path (the first reading collides with a stored one).
      await s.write([r('d', T0 + 9, { a: 9 })]);
      await assert.rejects(s.write([r('d', T0 + 9, { a: 10 }), r('d', T0 + 10, { a: Number.NaN })]), StoreFailedError);
      assert.deepEqual((await s.readings({ device: 'd', limit: 10 })).readings, [{ ts: T0 + 9, fields: { a: 9 }, tags: {} }]);
    });
  });

  test('cursor paging over 2,500 readings returns each exactly once, in order', async () => {
    await withStore(async (s) => {
      const all = Array.from({ length: 2500 }, (_, i) => r('p', T0 + i * 1000, { i, even: i % 2 === 0 }));
      await s.write(all.slice(1200));
      await s.write(all.slice(0, 1200));
      const seen: number[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.readings({ device: 'p', limit: 1000, cursor });
        sizes.push(page.readings.length);
        for (const x of page.readings) {
          assert.equal(x.fields.i, (x.ts - T0) / 1000);
          seen.push(x.ts);
        }
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(sizes, [1000, 1000, 500]);
      assert.deepEqual(seen, all.map((x) => x.ts));
    });
  });

  test('a page that ends exactly at the last reading has no next cursor', async () => {
    await withStore(async (s) => {
      await s.write([r('d', T0, { a: 1 }), r('d', T0 + 1, { a: 2 })]);
      const page = await s.readings({ device: 'd', limit: 2 });
      assert.equal(page.readings.length, 2);
      assert.equal(page.nextCursor, undefined);
    });
  });

  test('a cursor that the store did not make is a BadParameterError on "cursor"', async () => {
    await withStore(async (s) => {
      await assert.rejects(s.readings({ device: 'd', limit: 5, cursor: 'not-a-cursor' }), (e: unknown) => e instanceof BadParameterError && e.details.parameter === 'cursor');
    });
  });

  test('fields filter keeps only the named fields and skips timestamps without them', async () => {
    await withStore(async (s) => {
      await s.write([r('d', T0, { a: 1, b: 2, c: 3 }), r('d', T0 + 1, { c: 4 }), r('d', T0 + 2, { b: 5 })]);
      const page = await s.readings({ device: 'd', limit: 10, fields: ['a', 'b'] });
      assert.deepEqual(page.readings, [
        { ts: T0, fields: { a: 1, b: 2 }, tags: {} },
        { ts: T0 + 2, fields: { b: 5 }, tags: {} },
      ]);
      // limit counts timestamps that have one of the fields.
      const one = await s.readings({ device: 'd', limit: 1, fields: ['c'] });
      assert.deepEqual(one.readings, [{ ts: T0, fields: { c: 3 }, tags: {} }]);
      assert.ok(one.nextCursor);
      const rest = await s.readings({ device: 'd', limit: 1, fields: ['c'], cursor: one.nextCursor });
      assert.deepEqual(rest.readings, [{ ts: T0 + 1, fields: { c: 4 }, tags: {} }]);
    });
  });

  test('from is inclusive, to is exclusive', async () => {
    await withStore(async (s) => {
      await s.write([0, 1, 2, 3, 4].map((i) => r('d', T0 + i * 10, { i })));
      const page = await s.readings({ device: 'd', limit: 10, from: T0 + 10, to: T0 + 30 });
      assert.deepEqual(page.readings.map((x) => x.fields.i), [1, 2]);
      assert.deepEqual((await s.readings({ device: 'd', limit: 10, from: T0 + 41 })).readings, []);
      assert.deepEqual((await s.readings({ device: 'd', limit: 10, to: T0 + 1 })).readings.map((x) => x.fields.i), [0]);
    });
  });
});

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

describe('DuckDbStore aggregates', () => {
  // Minute buckets: 10, 20, 'bad', 30 in minute 0 (30 written first but latest),
  // nothing in minute 1, 5 and 7 in minute 2.
  const data = [
    r('agg', T0 + 50_000, { v: 30 }),
    r('agg', T0 + 1_000, { v: 10 }),
    r('agg', T0 + 20_000, { v: 20 }),
    r('agg', T0 + 30_000, { v: 'bad' }),
    r('agg', T0 + 120_000, { v: 5 }),
    r('agg', T0 + 179_999, { v: 7 }),
    r('agg', T0 + 200_000, { w: 1 }),
  ];
  const expected: Record<AggregateFn, Array<{ ts: number; value: unknown }>> = {
    mean: [{ ts: T0, value: 20 }, { ts: T0 + 120_000, value: 6 }],
    min: [{ ts: T0, value: 10 }, { ts: T0 + 120_000, value: 5 }],
    max: [{ ts: T0, value: 30 }, { ts: T0 + 120_000, value: 7 }],
    sum: [{ ts: T0, value: 60 }, { ts: T0 + 120_000, value: 12 }],
    count: [{ ts: T0, value: 4 }, { ts: T0 + 120_000, value: 2 }],
    last: [{ ts: T0, value: 30 }, { ts: T0 + 120_000, value: 7 }],
  };
  for (const fn of Object.keys(expected) as AggregateFn[]) {
    test(`${fn} per epoch-aligned bucket, empty buckets omitted`, async () => {
      await withStore(async (s) => {
        await s.write(data);
        assert.deepEqual(await s.aggregate({ device: 'agg', field: 'v', everyMs: 60_000, fn }), expected[fn]);
      });
    });
  }

  test('last keeps the original type; numeric fns skip buckets with only text; from/to bound the input', async () => {
    await withStore(async (s) => {
      await s.write([r('d', T0, { v: 1 }), r('d', T0 + 1000, { v: 'on' }), r('d', T0 + 60_000, { v: 'only text' }), r('d', T0 + 61_000, { v: true })]);
      assert.deepEqual(await s.aggregate({ device: 'd', field: 'v', everyMs: 60_000, fn: 'last' }), [
        { ts: T0, value: 'on' },
        { ts: T0 + 60_000, value: true },
      ]);
      assert.deepEqual(await s.aggregate({ device: 'd', field: 'v', everyMs: 60_000, fn: 'max' }), [{ ts: T0, value: 1 }]);
      assert.deepEqual(await s.aggregate({ device: 'd', field: 'v', everyMs: 60_000, fn: 'count', from: T0 + 1000, to: T0 + 61_000 }), [
        { ts: T0, value: 1 },
        { ts: T0 + 60_000, value: 1 },
      ]);
    });
  });

  test('a zero bucket width or an out-of-range bound is a BadParameterError naming it', async () => {
    await withStore(async (s) => {
      const named = (parameter: string) => (e: unknown) => e instanceof BadParameterError && e.details.parameter === parameter;
      await assert.rejects(s.aggregate({ device: 'd', field: 'v', everyMs: 0, fn: 'sum' }), named('every'));
      await assert.rejects(s.aggregate({ device: 'd', field: 'v', everyMs: 1000, fn: 'sum', to: Number.NaN }), named('to'));
      await assert.rejects(s.readings({ device: 'd', limit: 5, from: 1e20 }), named('from'));
    });
  });

  test('buckets align to the epoch, not to the first reading', async () => {
    await withStore(async (s) => {
      await s.write([r('d', T0 + 7 * 60_000 + 1, { v: 2 }), r('d', T0 + 9 * 60_000, { v: 4 })]);
      assert.deepEqual(await s.aggregate({ device: 'd', field: 'v', everyMs: 5 * 60_000, fn: 'sum' }), [
        { ts: T0 + 5 * 60_000, value: 6 },
      ]);
    });
  });
});

describe('DuckDbStore dead letters, lifetime and failures', () => {
  test('dead letters come back newest first, filtered by device and limited', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters([
        { ts: T0, device: 'a', source: 'mqtt:devices/a/telemetry', code: 'DECODE_FAILED', reason: 'bad JSON at offset 3', payload: '{"x":' },
        { ts: T0 + 2, device: 'b', source: 'http:/ingest', code: 'SCHEMA_VIOLATION', reason: '/fields/t must be number', payload: '{}' },
        { ts: T0 + 1, device: 'a', source: 'coap:/t', code: 'INVALID_READING', reason: 'no fields', payload: 'AAEC' },
      ]);
      const all = await s.deadLetters({ limit: 10 });
      assert.deepEqual(all.map((l) => [l.device, l.ts]), [['b', T0 + 2], ['a', T0 + 1], ['a', T0]]);
      assert.deepEqual(await s.deadLetters({ device: 'a', limit: 1 }), [
        { id: 3, ts: T0 + 1, device: 'a', source: 'coap:/t', code: 'INVALID_READING', reason: 'no fields', payload: 'AAEC', replayable: true },
      ]);
    });
  });

  test('reopening the file keeps the data; close twice is harmless; calls after close are StoreUnavailableError', async () => {
    const path = dbPath();
    const s1 = new DuckDbStore({ path });
    await s1.open();
    await s1.write([r('d', T0, { a: 1.25, s: 'x' }, { k: 'v' })]);
    await s1.writeDeadLetters([{ ts: T0, device: 'd', source: 'mqtt:x', code: 'DECODE_FAILED', reason: 'r', payload: 'p' }]);
    await s1.close();
    await s1.close();
    await assert.rejects(s1.write([r('d', T0 + 1, { a: 1 })]), StoreUnavailableError);
    assert.equal((await s1.health()).ok, false);

    const s2 = new DuckDbStore({ path });
    await s2.open();
    try {
      assert.deepEqual((await s2.readings({ device: 'd', limit: 5 })).readings, [{ ts: T0, fields: { a: 1.25, s: 'x' }, tags: { k: 'v' } }]);
      assert.equal((await s2.deadLetters({ limit: 5 })).length, 1);
      const h = await s2.health();
      assert.equal(h.ok, true);
      assert.match(h.detail, new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    } finally {
      await s2.close();
    }
  });

  test('calls fired together are serialized: writes during queries all land', async () => {
    await withStore(async (s) => {
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        ops.push(s.write([r('c', T0 + i, { i })]));
        ops.push(s.readings({ device: 'c', limit: 100 }));
        ops.push(s.aggregate({ device: 'c', field: 'i', everyMs: 1000, fn: 'count' }));
      }
      await Promise.all(ops);
      assert.deepEqual(await s.aggregate({ device: 'c', field: 'i', everyMs: 1000, fn: 'count' }), [{ ts: T0, value: 20 }]);
    });
  });

  test('a memory limit is applied and shown by the health check; a bad one is refused', async () => {
    const s = new DuckDbStore({ path: join(dir, 'limited.duckdb'), memoryLimitMb: 64 });
    await s.open();
    await s.write([r('d', T0, { a: 1 })]);
    const h = await s.health();
    assert.equal(h.ok, true);
    // DuckDB reports the limit in MiB: 64 MB is 61.0 MiB.
    assert.match(h.detail, /memory .+ of 61\.0 MiB/, h.detail);
    await s.close();
    const unlimited = new DuckDbStore({ path: join(dir, 'unlimited.duckdb') });
    await unlimited.open();
    assert.doesNotMatch((await unlimited.health()).detail, /of 61\.0 MiB/);
    await unlimited.close();
    assert.throws(() => new DuckDbStore({ path: join(dir, 'x.duckdb'), memoryLimitMb: -1 }), /memory limit must be a whole number/);
  });

  test('a path in a directory that does not exist is StoreUnavailableError naming the path', async () => {
    const path = join(dir, 'no-such-dir', 'deeper', 'x.duckdb');
    const s = new DuckDbStore({ path });
    await assert.rejects(s.open(), (e: unknown) => e instanceof StoreUnavailableError && e.message.includes(path));
    // Writes keep failing the same retryable way, so a caller spools them.
    await assert.rejects(s.write([r('d', T0, { a: 1 })]), StoreUnavailableError);
    const h = await s.health();
    assert.equal(h.ok, false);
    assert.ok(h.detail.includes(path), h.detail);
    await s.close();
  });

  test('a file locked by another process is StoreUnavailableError naming the path', async () => {
    const path = dbPath();
    const holder = spawn(
      process.execPath,
      ['-e', `require(${JSON.stringify(require.resolve('@duckdb/node-api'))}).DuckDBInstance.create(${JSON.stringify(path)}).then(() => { console.log('locked'); setInterval(() => {}, 1000); })`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (b: Buffer) => b.toString().includes('locked') && resolve());
        holder.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
      });
      const s = new DuckDbStore({ path });
      await assert.rejects(s.open(), (e: unknown) => e instanceof StoreUnavailableError && e.message.includes(path) && /lock/i.test(e.message));
      await s.close();
    } finally {
      holder.kill();
    }
  });
});
