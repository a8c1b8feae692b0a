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
import { mkdirSync } from 'node:fs';
import { JournalError } from '../errors';
import { readCheckpoint, takePendingList, writeCheckpointInBackground, writeCheckpointSync, writePendingList } from './checkpoint-file';
import { PendingCounts } from './pending';
import { BUFFER_RECORDS, encodeGroup, type JournalEntry, type RecordEncoder } from './segment-file';
import { SegmentFiles } from './segments';
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
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly fsyncIntervalMs: number;
  private readonly checkpointIntervalMs: number;
  private readonly segments: SegmentFiles;
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
  /** The periodic checkpoint runs on the libuv pool; one at a time. */
  private checkpointing = false;
  /** Bumped by close(), so a background checkpoint finishing late leaves a reopened journal alone. */
  private generation = 0;
  /** dropIfSettled() came while a background checkpoint was on its way: it runs once that is done. */
  private dropWhenCheckpointed = false;

  constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    this.segments = new SegmentFiles(opts.dir, opts.segmentBytes ?? 64 * 1024 * 1024);
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
    const lastOnDisk = this.segments.load(this.settledUpTo, unsettled);
    if (exact) {
      const keep = unsettled.filter((e) => exact.has(e.seq));
      unsettled.length = 0;
      unsettled.push(...keep);
    }
    this.nextSeq = Math.max(lastOnDisk + 1, this.settledUpTo + 1);
    // Ascending, each once (segments are read in order; a seq met twice counts once).
    let prev = 0;
    for (const e of unsettled) {
      if (e.seq > prev) this.pending.add(e.seq, 1);
      prev = Math.max(prev, e.seq);
    }
    if (unsettled.length === 0) this.settledUpTo = this.nextSeq - 1;
    else this.settledUpTo = unsettled[0].seq - 1;
    this.dropSettledSegments();
    this.segments.openForAppend(this.nextSeq);
    this.opened = true;
    // In the background: on ext4 the rename of a checkpoint waits for the new file's data to be
    // written out, and fsync for the disk, both for milliseconds the event loop would stand still.
    if (this.fsyncPolicy === 'interval') this.every(this.fsyncIntervalMs, () => this.segments.syncInBackground());
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
    this.segments.write(encodeGroup(items, encoder, first), first, n, this.fsyncPolicy === 'always');
    this.nextSeq = first + n;
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
    if (this.pending.size >= w.backlogBelow || this.segments.bytes >= w.bytesBelow) return false;
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

  /**
   * The entries not settled yet, read back in order while the journal stays open: for an input whose messages were
   * lost on their way (a deploy stopped the nodes that held them). Only the segment files holding one of them are
   * read, on the libuv pool (a long store outage leaves a large backlog, which would hold up the event loop); only
   * entries appended before the call, and not settled by the time their file is read. Rejects with JournalError
   * when a file holding unsettled entries cannot be read.
   */
  async unsettled(): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    if (!this.opened || this.pending.size === 0) return out;
    const upTo = this.nextSeq - 1;
    const wanted = (seq: number) => seq <= upTo && this.pending.has(seq);
    await this.segments.readBack((first, last) => this.pending.anyIn(first, Math.min(last, upTo)), wanted, out);
    return out;
  }

  /** Entries appended but not settled yet (stats().pending without the rest). */
  backlog(): number {
    return this.pending.size;
  }

  /** Bytes the segment files take on disk. */
  bytes(): number {
    return this.segments.bytes;
  }

  /** The lowest unsettled sequence number, or undefined when everything is settled. */
  oldestPending(): number | undefined {
    return this.pending.size ? this.settledUpTo + 1 : undefined;
  }

  stats(): JournalStats {
    return {
      pending: this.pending.size,
      bytes: this.segments.bytes,
      segments: this.segments.count,
      lastSeq: this.nextSeq - 1,
    };
  }

  /**
   * With every entry settled, writes the checkpoint and cuts off the segment files now (an empty one takes
   * their place), instead of when the segment being written fills. For a spool that has just drained: until
   * then its segment, up to segmentBytes of records all written, counts as disk in use. Should a background
   * checkpoint be on its way, this waits for it: its late rename would put the mark back behind segments
   * already gone. A checkpoint that cannot be written leaves the segments as they were.
   */
  dropIfSettled(): void {
    if (!this.opened || this.pending.size !== 0) return;
    if (this.checkpointing) {
      this.dropWhenCheckpointed = true;
      return;
    }
    this.checkpoint();
    if (this.checkpointed !== this.nextSeq - 1) return;
    this.segments.dropSettled(this.checkpointed, true, this.nextSeq, true);
    this.checkDrained();
  }

  /** Flushes to stable storage (power-loss durability). */
  sync(): void {
    this.segments.sync();
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (!this.opened) return;
    this.generation++;
    this.checkpoint();
    // A clean close knows exactly what is unsettled, so the next open replays only that.
    writePendingList(this.dir, this.pending.keys());
    this.segments.close();
    this.opened = false;
    this.pending.clear();
    this.weights.clear();
    this.taken.clear();
    this.drainWaiter = undefined;
    this.dropWhenCheckpointed = false;
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
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
      if (generation !== this.generation) return;
      // Without a checkpoint a crash replays more than needed, which the idempotent store absorbs.
      if (!err && value > this.checkpointed) {
        this.checkpointed = value;
        if (this.settledUpTo === value) this.dirty = false;
        this.dropSettledSegments();
      }
      if (this.dropWhenCheckpointed) {
        this.dropWhenCheckpointed = false;
        this.dropIfSettled();
      }
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
    this.segments.dropSettled(this.checkpointed, this.pending.size === 0 && this.settledUpTo === this.nextSeq - 1, this.nextSeq);
    this.checkDrained();
  }
}
