/**
 * An append-only write-ahead journal. An input appends a message here before it
 * acknowledges it; the store (or the dead-letter path) settles it once it is
 * durable there. Whatever is unsettled when the process dies is handed back by
 * open() and replayed.
 *
 * Appends use a synchronous write(2): once it returns the bytes belong to the
 * kernel, so a killed process (even kill -9) loses nothing. Surviving power loss
 * additionally needs fsync, which `fsync` controls ('interval' by default, so a
 * burst costs one fsync, not one per message).
 */
import { closeSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { JournalError } from '../errors';
import { readCheckpoint, takePendingList, writeCheckpointInBackground, writeCheckpointSync, writePendingList } from './checkpoint-file';
import { PendingCounts } from './pending';
import { BUFFER_RECORDS, encodeGroup, scanSegment, type JournalEntry, type RecordEncoder, type Segment } from './segment-file';
import { ReadingWeights } from './weights';
import { TakenEntries } from './taken';

export type { JournalEntry, RecordEncoder } from './segment-file';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface JournalOptions {
  dir: string;
  /** A new segment file starts past this size. */
  segmentBytes?: number;
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** How often the settled mark is written down; replays after a crash start there. */
  checkpointIntervalMs?: number;
}

export interface JournalStats {
  /** Entries appended but not settled yet. */
  pending: number;
  /** Bytes held on disk in segment files. */
  bytes: number;
  segments: number;
  lastSeq: number;
}

interface DrainWaiter {
  /** Entries no store write has taken yet. */
  limit: number;
  /** All unsettled entries, taken or not: stays below this. */
  backlogBelow: number;
  bytesBelow: number;
  /** Readings no store write has taken yet. */
  readings: number;
  /** All unsettled readings, taken or not: stays below this. */
  ceiling: number;
  cb: () => void;
}

export class Journal {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly fsyncIntervalMs: number;
  private readonly checkpointIntervalMs: number;
  private segments: Segment[] = [];
  private fd = -1;
  private nextSeq = 1;
  /** Outstanding settles per unsettled seq (a message split in two needs two). */
  private pending = new PendingCounts();
  /** Every seq at or below this is settled. */
  private settledUpTo = 0;
  private checkpointed = 0;
  private dirty = false;
  private timers: NodeJS.Timeout[] = [];
  private opened = false;
  private drainWaiter: DrainWaiter | undefined;
  /** Readings in unsettled entries, as decode weighed them: backpressure that counts readings. */
  private weights = new ReadingWeights();
  /** Unsettled entries a store write has taken (take()), and the readings they hold. */
  private taken = new TakenEntries();
  /** Bytes of all segment files (kept up to date, so the disk budget costs no stat calls). */
  private totalBytes = 0;
  /** The periodic fsync and checkpoint run on the libuv pool; one of each at a time. */
  private syncing = false;
  private checkpointing = false;
  /** Bumped by close(), so a background checkpoint finishing late leaves a reopened journal alone. */
  private generation = 0;

  constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.fsyncPolicy = opts.fsync ?? 'interval';
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 1000;
    this.checkpointIntervalMs = opts.checkpointIntervalMs ?? 200;
  }

  /** Opens (or creates) the journal and returns the entries left unsettled by the last run. */
  open(): JournalEntry[] {
    if (this.opened) throw new JournalError(`journal ${this.dir} is already open`);
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new JournalError(`cannot create journal folder ${this.dir}: ${(err as Error).message}`, { dir: this.dir }, { cause: err });
    }
    this.settledUpTo = readCheckpoint(this.dir);
    this.checkpointed = this.settledUpTo;
    const exact = takePendingList(this.dir);
    const unsettled: JournalEntry[] = [];
    const files = readdirSync(this.dir).filter((f) => /^seg-\d+\.log$/.test(f)).sort();
    for (const file of files) {
      const path = join(this.dir, file);
      const seg = scanSegment(path, this.settledUpTo, unsettled);
      if (seg) {
        this.segments.push(seg);
        this.totalBytes += seg.size;
      }
    }
    if (exact) {
      const keep = unsettled.filter((e) => exact.has(e.seq));
      unsettled.length = 0;
      unsettled.push(...keep);
    }
    const last = this.segments[this.segments.length - 1];
    this.nextSeq = Math.max(last ? last.lastSeq + 1 : 1, this.settledUpTo + 1);
    // Ascending, each once (segments are read in order; a seq met twice counts once).
    let prev = 0;
    for (const e of unsettled) {
      if (e.seq > prev) this.pending.add(e.seq, 1);
      prev = Math.max(prev, e.seq);
    }
    if (unsettled.length === 0) this.settledUpTo = this.nextSeq - 1;
    else this.settledUpTo = unsettled[0].seq - 1;
    this.dropSettledSegments();
    this.openSegmentForAppend();
    this.opened = true;
    // In the background: on ext4 the rename of a checkpoint waits for the new file's data to be
    // written out, and fsync for the disk, both for milliseconds the event loop would stand still.
    if (this.fsyncPolicy === 'interval') this.every(this.fsyncIntervalMs, () => this.syncInBackground());
    this.every(this.checkpointIntervalMs, () => this.checkpointInBackground());
    return unsettled;
  }

  /** Appends one record and returns its sequence number. Durable against process death on return. */
  append(data: Buffer, holds = 1): number {
    return this.appendGroup([data], BUFFER_RECORDS, holds);
  }

  /**
   * Appends one record per item with a single write(2) and returns the sequence
   * number of the first; the others follow consecutively. Durable against
   * process death on return. The encoder writes each record straight into the
   * one buffer, so a group costs one allocation and one system call.
   */
  appendGroup<T>(items: readonly T[], encoder: RecordEncoder<T>, holds = 1): number {
    if (!this.opened) throw new JournalError(`journal ${this.dir} is not open`);
    const n = items.length;
    if (n === 0) return this.nextSeq;
    const first = this.nextSeq;
    const buf = encodeGroup(items, encoder, first);
    const total = buf.length;
    let seg = this.segments[this.segments.length - 1];
    if (seg.size > 0 && seg.size + total > this.segmentBytes) {
      this.rotate(first);
      seg = this.segments[this.segments.length - 1];
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
    if (this.fsyncPolicy === 'always') fsyncSync(this.fd);
    this.nextSeq = first + n;
    seg.size += total;
    this.totalBytes += total;
    if (seg.firstSeq === 0) seg.firstSeq = first;
    seg.lastSeq = first + n - 1;
    for (let i = 0; i < n; i++) this.pending.add(first + i, holds);
    return first;
  }

  /**
   * Calls cb once at most `limit` unsettled entries are ones no store write has
   * taken yet, the segment files take fewer than `bytesBelow` bytes, at most
   * `readings` readings are in entries not taken, fewer than `ceiling` readings
   * and fewer than `backlogBelow` entries are unsettled in all, taken or not
   * (at once when that is so already). One waiter at a time; a new call
   * replaces the previous one.
   */
  whenDrained(limit: number, bytesBelow: number, cb: () => void, readings = Infinity, ceiling = Infinity, backlogBelow = Infinity): void {
    const w = { limit, backlogBelow, bytesBelow, readings, ceiling, cb };
    if (this.drained(w)) {
      this.drainWaiter = undefined;
      cb();
      return;
    }
    this.drainWaiter = w;
  }

  private drained(w: DrainWaiter): boolean {
    if (this.pending.size >= w.backlogBelow || this.totalBytes >= w.bytesBelow) return false;
    if (w.limit !== Infinity && this.untakenBacklog() > w.limit) return false;
    if (w.readings !== Infinity && this.untakenReadings() > w.readings) return false;
    return w.ceiling === Infinity || this.readings() < w.ceiling;
  }

  /**
   * The unsettled entry seq holds `readings` readings (told once its message is
   * decoded); until then, and for unknown or settled seqs, an entry counts as one.
   */
  weigh(seq: number, readings: number): void {
    if (this.pending.has(seq)) this.weights.weigh(seq, readings);
  }

  /**
   * Entries up to `upTo` are decoded; the last ones decoded were `entries`
   * entries holding `readings` readings (weigh() has the exact count of each).
   */
  decoded(upTo: number, entries: number, readings: number): void {
    this.weights.decoded(upTo, entries, readings);
  }

  /**
   * Readings in unsettled entries: weighed entries count what they hold, others
   * one, and entries not decoded yet the readings per entry decode saw lately.
   */
  readings(): number {
    return this.weights.readings(this.pending.size, this.nextSeq - 1, this.settledUpTo);
  }

  /**
   * Readings in unsettled entries that no store write has taken yet: what the
   * input's readings mark counts (gate.ts), so the next readings arrive while a
   * write runs instead of waiting for it to commit.
   */
  untakenReadings(): number {
    const r = this.readings();
    return this.taken.readings >= r ? 0 : r - this.taken.readings;
  }

  /**
   * Unsettled entries that no store write has taken whole yet: what the input's
   * messages mark counts (gate.ts), so with single-reading messages too the
   * next ones arrive while a write runs. An entry owed to several stores counts
   * until every share is taken.
   */
  untakenBacklog(): number {
    return this.pending.size - this.taken.whole;
  }

  /**
   * A store write has taken seq's data (one share of it: an entry split among
   * several stores counts as taken once every share is). It stays unsettled,
   * and replays after a crash, until the write is durable and settle() comes.
   */
  take(seq: number): void {
    const n = this.pending.get(seq);
    if (n === undefined) return;
    if (this.taken.take(seq, n, this.weights.of(seq))) this.checkDrained();
  }

  /** One more settle is needed before seq is done (the message was split). */
  hold(seq: number, extra = 1): void {
    const n = this.pending.get(seq);
    if (n !== undefined) {
      this.pending.set(seq, n + extra);
      this.taken.hold(seq, extra);
    }
  }

  /** Marks seq as durable elsewhere. Unknown or already settled seqs are ignored. */
  settle(seq: number): void {
    const n = this.pending.get(seq);
    if (n === undefined) return;
    if (n > 1) {
      this.pending.set(seq, n - 1);
      return;
    }
    this.pending.delete(seq);
    if (this.taken.size !== 0) this.taken.settled(seq);
    if (this.weights.extra !== 0) this.weights.unweigh(seq);
    if (seq === this.settledUpTo + 1) {
      this.settledUpTo = (this.pending.lowest() ?? this.nextSeq) - 1;
      this.dirty = true;
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    const w = this.drainWaiter;
    if (w && this.drained(w)) {
      this.drainWaiter = undefined;
      w.cb();
    }
  }

  /** Entries appended but not settled yet (stats().pending without the rest). */
  backlog(): number {
    return this.pending.size;
  }

  /** Bytes the segment files take on disk. */
  bytes(): number {
    return this.totalBytes;
  }

  /** The lowest unsettled sequence number, or undefined when everything is settled. */
  oldestPending(): number | undefined {
    return this.pending.size ? this.settledUpTo + 1 : undefined;
  }

  stats(): JournalStats {
    return {
      pending: this.pending.size,
      bytes: this.totalBytes,
      segments: this.segments.length,
      lastSeq: this.nextSeq - 1,
    };
  }

  /** Flushes to stable storage (power-loss durability). */
  sync(): void {
    if (this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch {
        // A failed fsync leaves the data in the page cache; the next tick tries again.
      }
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (!this.opened) return;
    this.generation++;
    this.checkpoint();
    // A clean close knows exactly what is unsettled, so the next open replays only that.
    writePendingList(this.dir, this.pending.keys());
    this.sync();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.opened = false;
    this.segments = [];
    this.totalBytes = 0;
    this.pending.clear();
    this.weights.clear();
    this.taken.clear();
    this.drainWaiter = undefined;
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  /** fsync on the libuv pool; appends go on meanwhile (the next tick covers them). */
  private syncInBackground(): void {
    if (this.fd < 0 || this.syncing) return;
    this.syncing = true;
    // Should rotate() close this fd meanwhile, it has synced the segment itself; a reused number
    // only syncs another file.
    fsync(this.fd, () => {
      this.syncing = false;
    });
  }

  /**
   * The periodic checkpoint, written and renamed on the libuv pool. Segments are dropped only
   * once the rename is done. Should close()'s own checkpoint land first and this one after it,
   * the mark goes back a little: the next open then reads more, and replays only the exact
   * unsettled list close() wrote.
   */
  private checkpointInBackground(): void {
    if (!this.dirty || this.settledUpTo === this.checkpointed || this.checkpointing) return;
    const value = this.settledUpTo;
    const generation = this.generation;
    this.checkpointing = true;
    writeCheckpointInBackground(this.dir, value, (err) => {
      this.checkpointing = false;
      // Without a checkpoint a crash replays more than needed, which the idempotent store absorbs.
      if (err || generation !== this.generation || value <= this.checkpointed) return;
      this.checkpointed = value;
      if (this.settledUpTo === value) this.dirty = false;
      this.dropSettledSegments();
    });
  }

  private checkpoint(): void {
    if (!this.dirty || this.settledUpTo === this.checkpointed) return;
    try {
      writeCheckpointSync(this.dir, this.settledUpTo);
      this.checkpointed = this.settledUpTo;
      this.dirty = false;
      this.dropSettledSegments();
    } catch {
      // Without a checkpoint a crash replays more than needed, which the idempotent store absorbs.
    }
  }

  private dropSettledSegments(): void {
    // A full segment whose every entry is settled and checkpointed is cut off, so an idle journal
    // shrinks to an empty segment instead of keeping the last burst on disk (the disk budget counts it).
    const last = this.segments[this.segments.length - 1];
    if (this.fd >= 0 && last && this.pending.size === 0 && last.size >= this.segmentBytes && last.lastSeq <= this.checkpointed && this.settledUpTo === this.nextSeq - 1) {
      this.rotate(this.nextSeq);
    }
    // The segment being written stays even when fully settled.
    while (this.segments.length > 1 && this.segments[0].lastSeq <= this.checkpointed) {
      const seg = this.segments.shift()!;
      this.totalBytes -= seg.size;
      try {
        unlinkSync(seg.path);
      } catch {
        // Already gone is fine.
      }
    }
    this.checkDrained();
  }

  private openSegmentForAppend(): void {
    const last = this.segments[this.segments.length - 1];
    if (last && last.size < this.segmentBytes) {
      this.fd = openSync(last.path, 'a');
      return;
    }
    this.rotate(this.nextSeq);
  }

  private rotate(firstSeq: number): void {
    if (this.fd >= 0) {
      this.sync();
      closeSync(this.fd);
    }
    const path = join(this.dir, `seg-${String(firstSeq).padStart(16, '0')}.log`);
    this.fd = openSync(path, 'a');
    const size = fstatSync(this.fd).size;
    this.segments.push({ firstSeq: 0, lastSeq: 0, path, size });
    this.totalBytes += size;
  }
}
