import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { ReadingsPage } from '../../nodes/lib/store/types';
import { encodeBatch } from '../../nodes/lib/store/duckdb-encode';
import { BadParameterError, StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { AggregateFn } from '../../nodes/lib/store/types';
import { duckdbFiles, r, T0 } from '../helpers/duckdb-store';

const { dir, dbPath, withStore } = duckdbFiles();

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

  test('pages asked for by fields hold each timestamp whole, and the last page has no next cursor', async () => {
    await withStore(async (s) => {
      // Timestamps with one, two or three fields (one not asked for), and a suspect rewrite of one of them.
      const all = Array.from({ length: 9 }, (_, i) => r('d', T0 + i, i % 3 === 0 ? { a: i } : i % 3 === 1 ? { a: i, b: -i } : { a: i, b: -i, c: 0 }));
      await s.write(all);
      await s.write([r('d', T0 + 4, { a: 40, b: -40 })]);
      const pages: ReadingsPage['readings'][] = [];
      let cursor: string | undefined;
      do {
        const page = await s.readings({ device: 'd', limit: 2, fields: ['a', 'b'], cursor });
        pages.push(page.readings);
        cursor = page.nextCursor;
      } while (cursor && pages.length < 10);
      assert.deepEqual(pages.map((p) => p.length), [2, 2, 2, 2, 1]);
      const want = all.map((x, i) => {
        const v = i === 4 ? 40 : i;
        return { ts: x.ts, fields: i % 3 === 0 ? { a: v } : { a: v, b: -v }, tags: {} };
      });
      assert.deepEqual(pages.flat(), want);
      const exact = await s.readings({ device: 'd', limit: 9, fields: ['b', 'a'] });
      assert.equal(exact.readings.length, 9);
      assert.equal(exact.nextCursor, undefined);
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
    const s = new DuckDbStore({ path: join(dir(), 'limited.duckdb'), memoryLimitMb: 64 });
    await s.open();
    await s.write([r('d', T0, { a: 1 })]);
    const h = await s.health();
    assert.equal(h.ok, true);
    // DuckDB reports the limit in MiB: 64 MB is 61.0 MiB.
    assert.match(h.detail, /memory .+ of 61\.0 MiB/, h.detail);
    await s.close();
    const unlimited = new DuckDbStore({ path: join(dir(), 'unlimited.duckdb') });
    await unlimited.open();
    assert.doesNotMatch((await unlimited.health()).detail, /of 61\.0 MiB/);
    await unlimited.close();
    assert.throws(() => new DuckDbStore({ path: join(dir(), 'x.duckdb'), memoryLimitMb: -1 }), /memory limit must be a whole number/);
  });

  test('a path in a directory that does not exist is StoreUnavailableError naming the path', async () => {
    const path = join(dir(), 'no-such-dir', 'deeper', 'x.duckdb');
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
