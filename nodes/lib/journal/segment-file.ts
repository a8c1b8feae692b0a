/**
 * The journal's on-disk format: segment files of records, each a 16-byte
 * header (u32 length, u32 crc32 of the payload, f64 sequence number) and the
 * payload. Writing a group of records into one buffer, and reading a segment
 * back (cutting off a torn tail), live here; segments.ts keeps the set of
 * files, and journal.ts decides when to write and what is settled.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { JournalError } from '../errors';

export const HEADER = 16; // u32 length, u32 crc32(payload), f64 seq
export const MAX_RECORD = 256 * 1024 * 1024;

export interface JournalEntry {
  seq: number;
  data: Buffer;
}

/** Writes items as journal records without an intermediate buffer per record. */
export interface RecordEncoder<T> {
  size(item: T): number;
  write(item: T, buf: Buffer, offset: number): void;
}

export const BUFFER_RECORDS: RecordEncoder<Buffer> = {
  size: (b) => b.length,
  write: (b, buf, offset) => void b.copy(buf, offset),
};

export interface Segment {
  firstSeq: number;
  lastSeq: number;
  path: string;
  size: number;
}

/**
 * One buffer holding a record per item, numbered from `first` on. Throws
 * JournalError for a record over MAX_RECORD (nothing written then).
 */
export function encodeGroup<T>(items: readonly T[], encoder: RecordEncoder<T>, first: number): Buffer {
  const n = items.length;
  const sizes = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const size = encoder.size(items[i]);
    if (size > MAX_RECORD) throw new JournalError(`a journal record of ${size} bytes is larger than the limit of ${MAX_RECORD}`);
    sizes[i] = size;
    total += HEADER + size;
  }
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const size = sizes[i];
    const body = off + HEADER;
    encoder.write(items[i], buf, body);
    buf.writeUInt32LE(size, off);
    buf.writeUInt32LE(crc32(buf.subarray(body, body + size)), off + 4);
    buf.writeDoubleLE(first + i, off + 8);
    off = body + size;
  }
  return buf;
}

/**
 * Calls `each` for every whole record in a segment's bytes, in order, and
 * returns where they end: at the first record cut short, over MAX_RECORD or
 * failing its CRC (a torn tail), or at the end of `buf`. `data` is a view
 * into `buf`. The one place a segment is read.
 */
function eachRecord(buf: Buffer, each: (seq: number, data: Buffer) => void): number {
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len > MAX_RECORD || off + HEADER + len > buf.length) break;
    const data = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(data) !== buf.readUInt32LE(off + 4)) break;
    each(buf.readDoubleLE(off + 8), data);
    off += HEADER + len;
  }
  return off;
}

/**
 * Reads a segment, collects its records numbered above `settledUpTo` into
 * `unsettled` and cuts off a torn tail. An empty segment is removed (undefined).
 */
export function scanSegment(path: string, settledUpTo: number, unsettled: JournalEntry[]): Segment | undefined {
  const buf = readFileSync(path);
  let firstSeq = 0;
  let lastSeq = 0;
  const off = eachRecord(buf, (seq, data) => {
    if (firstSeq === 0) firstSeq = seq;
    lastSeq = seq;
    if (seq > settledUpTo) unsettled.push({ seq, data: Buffer.from(data) });
  });
  if (off < buf.length) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, off);
    } finally {
      closeSync(fd);
    }
  }
  if (off === 0) {
    unlinkSync(path);
    return undefined;
  }
  return { firstSeq, lastSeq, path, size: off };
}

/**
 * Reads, on the libuv pool, the records of a running journal's segment whose seq `wanted` picks, leaving the file
 * as it is (no cut of a torn tail: the journal's own writes are whole or undone, and a record being appended
 * meanwhile is newer than any the caller wants). For a running journal's unsettled entries.
 */
export async function readRecords(path: string, wanted: (seq: number) => boolean, out: JournalEntry[]): Promise<void> {
  const buf = await readFile(path);
  eachRecord(buf, (seq, data) => {
    if (wanted(seq)) out.push({ seq, data: Buffer.from(data) });
  });
}
