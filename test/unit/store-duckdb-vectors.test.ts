import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DOUBLE, DuckDBDataChunk, DuckDBTimestampValue, TIMESTAMP, VARCHAR, type DuckDBVector } from '@duckdb/node-api';
import { fillStrings, fillTimestamps, NullMask, STRINGS_IN_PLACE } from '../../nodes/lib/store/duckdb-vectors';
import type { Reading } from '../../nodes/lib/reading';
import { duckdbFiles, r, T0 } from '../helpers/duckdb-store';

const { withStore } = duckdbFiles();

describe('DuckDB vectors: null masks, times and strings', () => {
  test('a small batch whose value kinds change across several mask words stores every value and no extra one', async () => {
    // 200 rows in one appended chunk: nulls in every 64-row word of each value column, and a word with none.
    const kinds = (i: number): Reading['fields'] => (i < 70 ? { v: i } : i % 3 === 0 ? { v: i + 0.5 } : i % 3 === 1 ? { v: i % 2 === 0 } : { v: `t${i}` });
    const readings = Array.from({ length: 200 }, (_, i) => r('mixed', T0 + i, kinds(i)));
    await withStore(async (s) => {
      await s.write(readings);
      const page = await s.readings({ device: 'mixed', limit: 500 });
      assert.deepEqual(page.readings, readings.map(({ ts, fields, tags }) => ({ ts, fields, tags })));
    });
  });

  test('a vector that already keeps its own mask gets its null rows through setItem, the rest untouched', () => {
    const chunk = DuckDBDataChunk.create([DOUBLE], 130);
    const vector = chunk.getColumnVector(0) as DuckDBVector<number | null>;
    const mask = new NullMask(130);
    for (let i = 0; i < 130; i++) {
      if (i % 5 === 0) mask.null();
      else {
        vector.setItem(i, i);
        mask.valid(i);
      }
    }
    // A null set by the library first: the mask can no longer be installed in its place.
    vector.setItem(0, null);
    mask.apply(vector);
    for (let i = 0; i < 130; i++) assert.equal(vector.getItem(i), i % 5 === 0 ? null : i, `row ${i}`);
  });

  test('an installed mask reads back through the vector: values where set, null elsewhere', () => {
    const chunk = DuckDBDataChunk.create([DOUBLE], 130);
    const vector = chunk.getColumnVector(0) as DuckDBVector<number | null>;
    const mask = new NullMask(130);
    for (let i = 0; i < 130; i++) {
      if (i % 7 === 3) mask.null();
      else {
        vector.setItem(i, i * 2);
        mask.valid(i);
      }
    }
    mask.apply(vector);
    for (let i = 0; i < 130; i++) assert.equal(vector.getItem(i), i % 7 === 3 ? null : i * 2, `row ${i}`);
  });

  test('times go in as the same microseconds setItem writes, before 1970, across 2^32 µs and at the edges of the fast range', () => {
    const ms = [0, 1, -1, -1500, 4_294_967, 4_294_968, -4_294_968, Date.UTC(2026, 0, 1), Date.UTC(1900, 0, 1), 9_007_199_254_740, -9_007_199_254_740, 9_007_199_254_741, 8_640_000_000_000_000];
    const t = Float64Array.from(ms);
    const chunk = DuckDBDataChunk.create([TIMESTAMP], ms.length);
    const vector = chunk.getColumnVector(0) as DuckDBVector<DuckDBTimestampValue | null>;
    fillTimestamps(vector, t, ms.length);
    assert.deepEqual(
      ms.map((_, i) => vector.getItem(i)?.micros),
      ms.map((v) => BigInt(v) * 1000n),
    );
  });

  test('a time with a fraction of a millisecond still fails as it did', () => {
    const chunk = DuckDBDataChunk.create([TIMESTAMP], 2);
    const vector = chunk.getColumnVector(0) as DuckDBVector<DuckDBTimestampValue | null>;
    assert.throws(() => fillTimestamps(vector, Float64Array.from([1, 1.5]), 2), RangeError);
  });

  test('strings go into a VARCHAR column as DuckDB reads them: empty, 12 bytes in place, 13 and more, multi-byte UTF-8', () => {
    // By UTF-8 bytes, not characters: 'ééééééé' is 7 characters and 14 bytes, '€€€€' 4 and 12.
    const list = ['', 'a', 'temperature', 'exactly12byt', 'thirteen-byte', 'ééééééé', '€€€€', '😀😀😀', '😀😀😀😀', '{"site":"roof top","floor":"3"}'];
    // On this little-endian machine with @duckdb/node-api's own bindings found, the buffers are written in place.
    assert.equal(STRINGS_IN_PLACE, true);
    const rows = 2048;
    const index = Int32Array.from({ length: rows }, (_, i) => 1 + ((i * 7) % list.length));
    const chunk = DuckDBDataChunk.create([VARCHAR, VARCHAR], rows);
    fillStrings(chunk, 1, rows, list, index, 1);
    const vector = chunk.getColumnVector(1) as DuckDBVector<string | null>;
    for (let i = 0; i < rows; i++) assert.equal(vector.getItem(i), list[index[i] - 1], `row ${i}`);
  });

  test('more rows than the chunk has are refused, not copied past its vectors', () => {
    const chunk = DuckDBDataChunk.create([VARCHAR], 10);
    assert.throws(() => fillStrings(chunk, 0, 11, ['a'], new Int32Array(11), 0), RangeError);
  });

  test('a batch whose devices, fields and tags are short and long reads back identical from the store', async () => {
    const long = 'a-device-id-longer-than-twelve-bytes';
    const readings = Array.from({ length: 300 }, (_, i) =>
      r(i % 2 ? long : 'd1', T0 + i, { t: i, ['a field name past twelve bytes']: i / 2, 'é€': i % 3 === 0 }, i % 5 === 0 ? { site: 'roof top 😀', n: String(i) } : {}),
    );
    await withStore(async (s) => {
      await s.write(readings);
      for (const device of ['d1', long]) {
        const page = await s.readings({ device, limit: 500 });
        const mine = readings.filter((x) => x.device === device);
        assert.deepEqual(page.readings, mine.map(({ ts, fields, tags }) => ({ ts, fields, tags })));
      }
    });
  });
});

