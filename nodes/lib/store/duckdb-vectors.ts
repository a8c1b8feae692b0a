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
 * needs a DuckDBTimestampValue and three BigInts per row, and the string
 * columns every row has (device, field, tags) as whole buffers (fillStrings).
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { DuckDBTimestampValue, type DuckDBDataChunk, type DuckDBValue, type DuckDBVector } from '@duckdb/node-api';

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

/** The three calls of @duckdb/node-bindings that fillStrings uses. */
interface StringBindings {
  data_chunk_get_vector(chunk: unknown, column: number): unknown;
  copy_data_to_vector(vector: unknown, targetOffset: number, source: ArrayBuffer, sourceOffset: number, bytes: number): void;
  vector_assign_string_element(vector: unknown, index: number, value: string): void;
}

/**
 * The bindings @duckdb/node-api itself loaded, resolved from its own folder so that
 * the vectors it made are handed to the same native module; undefined if they
 * cannot be found or lack a call (fillStrings then goes through setItem).
 */
const stringBindings: StringBindings | undefined = (() => {
  try {
    const b = createRequire(require.resolve('@duckdb/node-api'))('@duckdb/node-bindings') as Partial<StringBindings>;
    return typeof b.data_chunk_get_vector === 'function' && typeof b.copy_data_to_vector === 'function' && typeof b.vector_assign_string_element === 'function'
      ? (b as StringBindings)
      : undefined;
  } catch {
    return undefined;
  }
})();

/** Whether fillStrings writes buffers (true on little-endian machines with the bindings found) or goes through setItem. */
export const STRINGS_IN_PLACE = LITTLE_ENDIAN && stringBindings !== undefined;

/** DuckDB's string_t holds up to 12 bytes in place: length (uint32) then the bytes, zero-padded (duckdb.h, duckdb_string_t). */
const INLINE_BYTES = 12;
const utf8 = new TextEncoder();

/** A string as DuckDB's 16-byte string_t in four 32-bit words, when it fits in place; undefined when it does not. */
function inlineWords(s: string): Uint32Array | undefined {
  const bytes = utf8.encode(s);
  if (bytes.length > INLINE_BYTES) return undefined;
  const words = new Uint32Array(4);
  words[0] = bytes.length;
  new Uint8Array(words.buffer, 4, INLINE_BYTES).set(bytes);
  return words;
}

/**
 * Fills VARCHAR column `column` of `chunk` (rows 0..rows-1, at most the chunk's
 * capacity, never null) with `list[index[i] - base]`. Through setItem every value
 * is one native call when the vector is flushed (about a microsecond a reading
 * for device, field and tags: a tenth of a store write's CPU). Here the distinct
 * strings, a handful per batch, are encoded once, every row that fits DuckDB's
 * 12 inline bytes is written into one buffer copied into the vector at once, and
 * only longer strings get a call each. The layout is the C API's duckdb_string_t
 * (little-endian machines; elsewhere, or without the bindings, setItem as before).
 */
export function fillStrings(chunk: DuckDBDataChunk, column: number, rows: number, list: readonly string[], index: ArrayLike<number>, base: number): void {
  // The copy is unchecked: never more rows than a vector holds.
  if (rows > chunk.rowCount) throw new RangeError(`fillStrings: ${rows} rows for a chunk of ${chunk.rowCount}`);
  const handle = (chunk as unknown as { chunk?: unknown }).chunk;
  if (!STRINGS_IN_PLACE || stringBindings === undefined || handle === undefined) {
    const vector = chunk.getColumnVector(column) as DuckDBVector<string | null>;
    for (let i = 0; i < rows; i++) vector.setItem(i, list[index[i] - base]);
    vector.flush();
    return;
  }
  const raw = stringBindings.data_chunk_get_vector(handle, column);
  const forms = list.map(inlineWords);
  const words = new Uint32Array(rows * 4);
  let long: number[] | undefined;
  for (let i = 0; i < rows; i++) {
    const w = forms[index[i] - base];
    if (w === undefined) {
      (long ??= []).push(i);
      continue;
    }
    // Four stores, not words.set(): a set() call per row cost more than the copy itself.
    const o = i * 4;
    words[o] = w[0];
    words[o + 1] = w[1];
    words[o + 2] = w[2];
    words[o + 3] = w[3];
  }
  stringBindings.copy_data_to_vector(raw, 0, words.buffer, 0, words.byteLength);
  if (long) for (const i of long) stringBindings.vector_assign_string_element(raw, i, list[index[i] - base]);
}
