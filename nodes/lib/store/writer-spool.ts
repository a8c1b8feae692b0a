/**
 * The durable writer's spool: what the sink could not take yet, in write order,
 * on disk (a Journal) and in memory, with what the writer's stats and budget
 * need of it. The writer (writer.ts) decides when to spool and drain; this keeps
 * the records, their counts and their settlement in step.
 */
import { spoolSafe } from '../deadletter';
import type { Journal } from '../journal/journal';
import { asError } from './writer-refusals';
import type { SpoolRecord } from './writer-types';

interface Entry {
  seq: number;
  rec: SpoolRecord;
  /** Readings and dead letters in it. */
  count: number;
}

const countOf = (rec: SpoolRecord) => (rec.r?.length ?? 0) + (rec.d?.length ?? 0);

export class WriterSpool {
  private readonly entries: Entry[] = [];
  /** Readings and dead letters waiting in it. */
  waiting = 0;

  constructor(
    private readonly journal: Journal,
    readonly budget: number,
  ) {}

  /** Opens the journal and takes in what an earlier run spooled; true when something waits. */
  open(): boolean {
    for (const e of this.journal.open()) {
      const rec = JSON.parse(e.data.toString('utf8')) as SpoolRecord;
      this.entries.push({ seq: e.seq, rec, count: countOf(rec) });
      this.waiting += countOf(rec);
    }
    // An earlier run may have left a drained spool's records behind on disk.
    if (this.entries.length === 0) this.journal.dropIfSettled();
    return this.entries.length > 0;
  }

  close(): void {
    this.journal.close();
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** The oldest record, the next the drain writes. */
  head(): SpoolRecord | undefined {
    return this.entries[0]?.rec;
  }

  /**
   * Bytes the spool takes on disk: what waits, plus, while it drains, the written records before it in
   * the same segment. A drained spool drops its segment, so this is 0 when nothing waits (/health's
   * disk.spools), not the last outage's records until the segment fills.
   */
  bytes(): number {
    try {
      return this.journal.stats().bytes;
    } catch {
      return 0;
    }
  }

  /** At the budget, counted only while something is waiting in it (settled bytes go with their segment). */
  full(): boolean {
    return this.entries.length > 0 && this.bytes() >= this.budget;
  }

  /** Appends a record (empty parts left out); the error when the disk refuses it, e.g. full. */
  add(rec: SpoolRecord): Error | undefined {
    const r = rec.r?.length ? rec.r : undefined;
    const d = rec.d?.length ? rec.d : undefined;
    const count = (r?.length ?? 0) + (d?.length ?? 0);
    if (count === 0) return undefined;
    const clean: SpoolRecord = {};
    if (r) clean.r = r;
    if (d) clean.d = d.map(spoolSafe);
    clean.t = rec.t ?? Date.now();
    try {
      const seq = this.journal.append(Buffer.from(JSON.stringify(clean)));
      this.entries.push({ seq, rec: clean, count });
      this.waiting += count;
      return undefined;
    } catch (err) {
      return asError(err);
    }
  }

  /** The head was written: it leaves the spool, and once nothing waits, the disk (see bytes()). */
  settleHead(): void {
    const entry = this.entries.shift();
    if (!entry) return;
    this.journal.settle(entry.seq);
    this.waiting -= entry.count;
    if (this.entries.length === 0) this.journal.dropIfSettled();
  }

  /**
   * Only part of the head is left to write (its readings are stored, its dead letters wait): that part
   * replaces it at the head, so what was written is not written (nor its refusals recorded) again.
   * Returns the disk's error if the part cannot be spooled; the head then stays as it was.
   */
  replaceHead(left: SpoolRecord): Error | undefined {
    const entry = this.entries[0];
    if (!entry) return undefined;
    if (countOf(left) === 0) return void this.settleHead();
    const err = this.add({ ...left, t: entry.rec.t });
    if (err) return err;
    const moved = this.entries.pop()!;
    this.entries[0] = moved;
    this.journal.settle(entry.seq);
    this.waiting -= entry.count;
    return undefined;
  }
}
