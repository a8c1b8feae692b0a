/**
 * Null masks for the data chunks the store appends. @duckdb/node-api keeps a
 * vector's validity as a BigUint64Array and, once one value of a column is
 * null, does BigInt arithmetic (two BigInts allocated) for every later value
 * of that column. A single-reading write is almost all numbers, so its boolean
 * and text columns are null in nearly every row: that bookkeeping was about a
 * tenth of what the main thread allocated per MQTT reading. Here the values go
 * in through setItem while the column is still all valid (no mask: a no-op for
 * validity), and the mask is set once at the end, a bit per row. Times are
 * written the same way: as the two 32-bit halves of each int64, where setItem
 * needs a DuckDBTimestampValue and three BigInts per row.
 */
import { endianness } from 'node:os';
import { DuckDBTimestampValue, type DuckDBValue, type DuckDBVector } from '@duckdb/node-api';

/** The validity mask as DuckDB reads it: 64-bit words, bit i of word w for row 64w + i. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** Which rows of one column of a chunk hold a value; rows never set stay null. */
export class NullMask {
  private readonly bytes: Uint8Array;
  private nulls = 0;

  constructor(private readonly rows: number) {
    this.bytes = new Uint8Array(Math.ceil(rows / 64) * 8);
  }

  valid(row: number): void {
    this.bytes[row >> 3] |= 1 << (row & 7);
  }

  null(): void {
    this.nulls++;
  }

  /**
   * Puts the mask on a vector whose values were all set through setItem with
   * non-null values (so the library has no mask of its own yet). Where its
   * internals are not as expected (a newer @duckdb/node-api, a big-endian
   * machine), the null rows go through setItem(row, null) as before.
   */
  apply<T extends DuckDBValue>(vector: DuckDBVector<T | null>): void {
    if (this.nulls === 0) return;
    const validity = (vector as unknown as { validity?: { data?: unknown } }).validity;
    if (LITTLE_ENDIAN && validity && validity.data === null) {
      validity.data = new BigUint64Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength / 8);
      return;
    }
    for (let row = 0; row < this.rows; row++) if ((this.bytes[row >> 3] & (1 << (row & 7))) === 0) vector.setItem(row, null);
  }
}

const TWO_32 = 4294967296;

/**
 * Epoch-ms times into a new TIMESTAMP vector (microseconds, int64). Whole ms
 * within ±2^53 µs (about ±285 years around 1970) are written as two 32-bit
 * halves into the vector's own array; anything else, or a vector laid out
 * otherwise, goes through setItem as before (and a fraction of a ms still
 * fails there, as it did).
 */
export function fillTimestamps(vector: DuckDBVector<DuckDBTimestampValue | null>, t: Float64Array, rows: number): void {
  const items = (vector as unknown as { items?: unknown }).items;
  let i = 0;
  if (LITTLE_ENDIAN && items instanceof BigInt64Array && items.length >= rows) {
    const halves = new Uint32Array(items.buffer, items.byteOffset, rows * 2);
    for (; i < rows; i++) {
      const ms = t[i];
      const micros = ms * 1000;
      if (!Number.isInteger(ms) || !Number.isSafeInteger(micros)) break;
      const hi = Math.floor(micros / TWO_32);
      // A Uint32Array keeps the low 32 bits of what it is given: two's complement for a negative high half.
      halves[2 * i] = micros - hi * TWO_32;
      halves[2 * i + 1] = hi;
    }
  }
  for (; i < rows; i++) vector.setItem(i, new DuckDBTimestampValue(BigInt(t[i]) * 1000n));
}
