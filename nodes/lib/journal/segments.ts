/**
 * The journal's segment files as a set: which exist, the one being appended
 * to, their bytes on disk, rotation, fsync, and cutting off segments whose
 * entries are all settled. What a record looks like is segment-file.ts; which
 * sequence numbers are settled, and when to checkpoint, is journal.ts.
 */
import { closeSync, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { JournalError } from '../errors';
import { readRecords, scanSegment, type JournalEntry, type Segment } from './segment-file';

export class SegmentFiles {
  private list: Segment[] = [];
  private fd = -1;
  /** Bytes of all segment files (kept up to date, so the disk budget costs no stat calls). */
  private total = 0;
  /** The periodic fsync runs on the libuv pool; one at a time. */
  private syncing = false;

  constructor(
    private readonly dir: string,
    /** A new segment file starts past this size. */
    private readonly segmentBytes: number,
  ) {}

  /** Bytes the segment files take on disk. */
  get bytes(): number {
    return this.total;
  }

  get count(): number {
    return this.list.length;
  }

  /** The segment files, oldest first, with the first and last sequence number each holds (0: none yet). */
  files(): readonly Readonly<Segment>[] {
    return this.list.slice();
  }

  /**
   * Reads back, in order, the records `wanted` picks from the files `holds` says hold one (by their first and last
   * seq). A file cut off while it was read is skipped when `holds` no longer says so (all it held settled meanwhile).
   */
  async readBack(holds: (firstSeq: number, lastSeq: number) => boolean, wanted: (seq: number) => boolean, out: JournalEntry[]): Promise<void> {
    for (const seg of this.files()) {
      if (!holds(seg.firstSeq, seg.lastSeq)) continue;
      try {
        await readRecords(seg.path, wanted, out);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !holds(seg.firstSeq, seg.lastSeq)) continue;
        throw new JournalError(`cannot read journal ${seg.path}: ${(err as Error).message}`, { path: seg.path }, { cause: err });
      }
    }
  }

  /**
   * Reads the segment files in order, pushing the entries after `settledUpTo`
   * onto `unsettled`, and returns the last sequence number on disk (0: none).
   */
  load(settledUpTo: number, unsettled: JournalEntry[]): number {
    const files = readdirSync(this.dir).filter((f) => /^seg-\d+\.log$/.test(f)).sort();
    for (const file of files) {
      const seg = scanSegment(join(this.dir, file), settledUpTo, unsettled);
      if (seg) {
        this.list.push(seg);
        this.total += seg.size;
      }
    }
    const last = this.list[this.list.length - 1];
    return last ? last.lastSeq : 0;
  }

  /** Appends go to the last segment while it has room, else to a new one starting at nextSeq. */
  openForAppend(nextSeq: number): void {
    const last = this.list[this.list.length - 1];
    if (last && last.size < this.segmentBytes) {
      this.fd = openSync(last.path, 'a');
      return;
    }
    this.rotate(nextSeq);
  }

  /**
   * Writes the records `first` … `first + n - 1`, encoded in `buf`, with one
   * write(2), starting a new segment first when this one would pass its size.
   * A failed write leaves the segment as it was and throws JournalError.
   */
  write(buf: Buffer, first: number, n: number, fsyncNow: boolean): void {
    const total = buf.length;
    let seg = this.list[this.list.length - 1];
    if (seg.size > 0 && seg.size + total > this.segmentBytes) {
      this.rotate(first);
      seg = this.list[this.list.length - 1];
    }
    try {
      // One write: a torn group can only be at the end, and open() cuts it off at the first bad record.
      let written = 0;
      while (written < total) written += writeSync(this.fd, buf, written, total - written);
    } catch (err) {
      // A partial write would leave records whose numbers the next append reuses.
      try {
        ftruncateSync(this.fd, seg.size);
      } catch {
        // open() still cuts a torn tail; a complete record here only replays into the idempotent store.
      }
      throw new JournalError(`cannot write journal ${seg.path}: ${(err as Error).message}`, { path: seg.path }, { cause: err });
    }
    if (fsyncNow) fsyncSync(this.fd);
    seg.size += total;
    this.total += total;
    if (seg.firstSeq === 0) seg.firstSeq = first;
    seg.lastSeq = first + n - 1;
  }

  /** Flushes the segment being written to stable storage (power-loss durability). */
  sync(): void {
    if (this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch {
        // A failed fsync leaves the data in the page cache; the next tick tries again.
      }
    }
  }

  /** fsync on the libuv pool; appends go on meanwhile (the next tick covers them). */
  syncInBackground(): void {
    if (this.fd < 0 || this.syncing) return;
    this.syncing = true;
    // Should rotate() close this fd meanwhile, it has synced the segment itself; a reused number
    // only syncs another file.
    fsync(this.fd, () => {
      this.syncing = false;
    });
  }

  /**
   * Deletes the segments whose entries are all at or below `checkpointed`. The
   * segment being written stays, unless every entry is settled (`allSettled`)
   * and it is full: then it is cut off too, so an idle journal shrinks to an
   * empty segment instead of keeping the last burst on disk (the disk budget
   * counts it). `nextSeq` numbers the segment that replaces it. `evenIfNotFull` cuts off a settled segment
   * being written that still has room (Journal.dropIfSettled()).
   */
  dropSettled(checkpointed: number, allSettled: boolean, nextSeq: number, evenIfNotFull = false): void {
    const last = this.list[this.list.length - 1];
    const full = last !== undefined && (evenIfNotFull ? last.size > 0 : last.size >= this.segmentBytes);
    if (this.fd >= 0 && last && allSettled && full && last.lastSeq <= checkpointed) {
      this.rotate(nextSeq);
    }
    while (this.list.length > 1 && this.list[0].lastSeq <= checkpointed) {
      const seg = this.list.shift()!;
      this.total -= seg.size;
      try {
        unlinkSync(seg.path);
      } catch {
        // Already gone is fine.
      }
    }
  }

  /** Syncs and closes the segment being written; the set is empty afterwards. */
  close(): void {
    this.sync();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.list = [];
    this.total = 0;
  }

  private rotate(firstSeq: number): void {
    if (this.fd >= 0) {
      this.sync();
      closeSync(this.fd);
    }
    const path = join(this.dir, `seg-${String(firstSeq).padStart(16, '0')}.log`);
    this.fd = openSync(path, 'a');
    const size = fstatSync(this.fd).size;
    this.list.push({ firstSeq: 0, lastSeq: 0, path, size });
    this.total += size;
  }
}
