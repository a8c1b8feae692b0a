/**
 * Roll-ups applied after the write, not in it.
 *
 * Keeping the 1-minute and 1-hour tiers in the write's own transaction made
 * every write cost two upserts (INSERT ... ON CONFLICT on the tiers' primary
 * key, ~7 ms of CPU each whatever their size) and a heavier commit: ~95% of
 * a write of 50 readings (bench/duckdb-write.ts). Now a write of fresh
 * readings (see duckdb-write.ts) is only its INSERT into `readings`; the
 * aggregates of its rows are folded here, in memory, into per (device, field,
 * minute) deltas, and applied later (duckdb-rollup-apply.ts: one upsert per
 * tier, the hour tier folded from the minute deltas).
 *
 * The deltas are kept in chunks of about `maxChunk` buckets, in write order; an
 * apply takes the oldest chunk whole, so the store can apply one chunk per turn
 * of its write queue and let the writes queued meanwhile go between them
 * (duckdb-rollup-timer.ts): an apply never holds the writes for longer than one
 * chunk's upserts. Applying in write order is what keeps the repair after a
 * crash exact (duckdb-rollup-open.ts).
 *
 * The store applies everything pending before a write it cannot defer
 * (suspects, whose buckets are recomputed from the raw rows), before
 * retention, and when it closes; a timer applies it in between. An aggregate
 * from a tier does not wait for it: it reads the tier and adds the deltas still
 * pending (duckdb-rollup-read.ts; why each counts once: PendingRollups.capture).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EncodedBatch } from './duckdb-encode';
import { MINUTE } from './duckdb-rollups';
import { applyDeltas, emptyDelta, type Delta } from './duckdb-rollup-apply';

/** Buckets per chunk (so per apply turn) unless the store says otherwise. */
export const DEFAULT_CHUNK_BUCKETS = 64;

/**
 * New (device, field, minute) buckets past which a batch of fresh readings keeps
 * the tiers in its own transaction instead of deferring them. Deferred deltas
 * reach DuckDB as bound lists, a value each: 20,000 new devices with 10 fields
 * in four writes took the process from 100 MB to ~860 MB (and it stayed there)
 * and 20 s of applies, where the same buckets merged from the batch table that
 * the write fills anyway took ~160 MB and 3 s. Below this, deferring wins: a
 * merge costs each write a statement per tier whatever its size.
 */
export const DIRECT_BUCKETS = 1024;

/**
 * Whether a batch touches at least `atLeast` minute buckets (counted as a
 * change of minute between consecutive rows of one device and field, which is
 * exact for rows in time order and an overcount otherwise). Stops counting
 * once there; a batch with fewer rows is not looked at.
 */
export function manyBuckets(b: EncodedBatch, atLeast = DIRECT_BUCKETS): boolean {
  if (b.rows < atLeast) return false;
  const { d, t, f } = b.cols;
  const stride = b.names.length + 1;
  const minuteOf = new Map<number, number>();
  let count = 0;
  for (let i = 0; i < b.rows; i++) {
    const pair = d[i] * stride + f[i];
    const minute = Math.floor(t[i] / MINUTE);
    if (minuteOf.get(pair) === minute) continue;
    minuteOf.set(pair, minute);
    if (++count >= atLeast) return true;
  }
  return false;
}

/** Deltas of consecutive writes, and the apply attempt that carries them to the tiers. */
class Chunk {
  /**
   * The generation of the apply attempt carrying these deltas (set before its transaction begins,
   * cleared if it fails); undefined while no apply has taken them.
   */
  gen?: number;
  /** Minute deltas by device and field, then by minute: a tier read looks up one (device, field). */
  readonly pairs = new Map<string, Map<number, Delta>>();
  size = 0;

  deltas(): Delta[] {
    const out: Delta[] = [];
    for (const byMinute of this.pairs.values()) for (const d of byMinute.values()) out.push(d);
    return out;
  }

  /** The delta of one (device, field, minute), made empty when new. */
  at(device: string, field: string, bucket: number): Delta {
    const pair = `${device}\u0000${field}`;
    let byMinute = this.pairs.get(pair);
    if (byMinute === undefined) this.pairs.set(pair, (byMinute = new Map()));
    let delta = byMinute.get(bucket);
    if (delta === undefined) {
      delta = emptyDelta(device, field, bucket);
      byMinute.set(bucket, delta);
      this.size++;
    }
    return delta;
  }
}

/**
 * The deltas a tier read must add to the tier rows it read: captured when the read is asked
 * for, chosen once its snapshot's generation is known (PendingRollups.capture).
 */
export interface PendingView {
  /** Copies of the captured deltas that a snapshot of the tiers at generation `applied` lacks. */
  since(applied: number): Delta[];
}

export type { Delta as PendingDelta };

export class PendingRollups {
  /**
   * Oldest first; writes add to the last, applies take the first. The first is never added
   * to once an apply has taken it (a new last is started then), so a chunk's deltas are
   * all there when its apply begins.
   */
  private chunks: Chunk[] = [new Chunk()];
  /** The last generation handed out; only grows, across reopens too. */
  private gen = 0;

  /** @param maxChunk buckets past which writes start a new chunk (a batch is never split, so a chunk may hold one batch more). */
  constructor(private readonly maxChunk = DEFAULT_CHUNK_BUCKETS) {}

  /** (device, field, minute) buckets waiting to be applied, counted once per chunk they are in. */
  get size(): number {
    let n = 0;
    for (const c of this.chunks) n += c.size;
    return n;
  }

  /** Chunks waiting, each one apply (applyNext). */
  get chunkCount(): number {
    return this.chunks.filter((c) => c.size > 0).length;
  }

  /**
   * Folds the rows of a batch that was just written, all of them fresh: per
   * device the batch's rows come in time order, so "last" is the latest row.
   */
  add(b: EncodedBatch): void {
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk.gen !== undefined || chunk.size >= this.maxChunk) this.chunks.push((chunk = new Chunk()));
    const { d, t, f, k, n } = b.cols;
    // The delta the previous row of a (device, field) went to: consecutive rows mostly share it.
    const recent = new Map<number, Delta>();
    const stride = b.names.length + 1;
    for (let i = 0; i < b.rows; i++) {
      const ts = t[i];
      const bucket = Math.floor(ts / MINUTE) * MINUTE;
      const pair = d[i] * stride + f[i];
      let delta = recent.get(pair);
      if (delta === undefined || delta.bucket !== bucket) {
        delta = chunk.at(b.names[d[i] - 1], b.names[f[i] - 1], bucket);
        recent.set(pair, delta);
      }
      const kind = k[i];
      const v = n[i];
      delta.n++;
      if (kind === 0) {
        if (delta.nNum === 0) {
          delta.sum = v;
          delta.min = v;
          delta.max = v;
        } else {
          delta.sum += v;
          if (v < delta.min) delta.min = v;
          if (v > delta.max) delta.max = v;
        }
        delta.nNum++;
      }
      if (ts >= delta.lastTs) {
        delta.lastTs = ts;
        delta.lastKind = kind;
        delta.last = kind === 0 ? v : kind === 1 ? v !== 0 : b.texts[v - 1];
      }
    }
  }

  /**
   * Everything pending is in the tiers (the open that repaired them): labelled with a new
   * generation, which the caller records in the meta table, so a read that captured it
   * leaves it out once it sees that generation. Returns the generation.
   */
  settle(): number {
    const gen = ++this.gen;
    for (const c of this.chunks) c.gen = gen;
    this.chunks = [new Chunk()];
    return gen;
  }

  /**
   * The pending deltas of one (device, field) with minutes in [from, to) (bounds on minute
   * boundaries), for a tier read that runs after this call.
   *
   * Why a read counts every reading once, whatever apply runs meanwhile: an apply labels its
   * chunk with generation g before its transaction begins and writes g to the meta table in
   * that transaction; the read reads the generation G in the same statement (one snapshot) as
   * the tier rows, and adds a captured delta iff its chunk's label is unset or above G.
   * - Every captured delta's raw rows committed before this call (a write adds its deltas after
   *   its commit), so before the read's snapshot: the delta belongs in the answer.
   * - Label g <= G: the apply of g committed within the snapshot. Applies run one at a time,
   *   oldest chunk first, and take labels in increasing order; g is never written by a failed
   *   attempt (its chunk is unlabelled, stays first, and the next attempt labels it higher), so
   *   a chunk that still bears g when G >= g was committed by the apply of g. That apply held
   *   every delta the chunk had when captured (a chunk is never added to once an apply has
   *   taken it): the tier rows have it, leave it out.
   * - Label unset or above G: no apply carrying it committed within the snapshot (the label is
   *   set in this thread before the apply's transaction begins, so an apply the snapshot sees
   *   has labelled its chunk before the read's result is handled): the tier rows lack it, add it.
   * The copies are taken now, so deltas folded in later (writes after this call) are not added.
   * A reopen (openRollups) repairs the tiers from the raw rows and settles the chunks the same way.
   */
  capture(device: string, field: string, from: number | undefined, to: number | undefined): PendingView {
    const parts: Array<{ chunk: Chunk; deltas: Delta[] }> = [];
    for (const chunk of this.chunks) {
      const byMinute = chunk.pairs.get(`${device}\u0000${field}`);
      if (!byMinute) continue;
      const deltas: Delta[] = [];
      for (const x of byMinute.values()) {
        if ((from === undefined || x.bucket >= from) && (to === undefined || x.bucket < to)) deltas.push({ ...x });
      }
      if (deltas.length > 0) parts.push({ chunk, deltas });
    }
    return {
      since: (applied) => parts.flatMap((p) => (p.chunk.gen === undefined || p.chunk.gen > applied ? p.deltas : [])),
    };
  }

  /**
   * Applies the oldest chunk to both tiers in one transaction; kept, still oldest, for the next
   * try if it fails. Returns the buckets applied (0: nothing was pending).
   */
  async applyNext(conn: DuckDBConnection): Promise<number> {
    while (this.chunks.length > 1 && this.chunks[0].size === 0) this.chunks.shift();
    const chunk = this.chunks[0];
    if (chunk.size === 0) return 0;
    // Writes that come while it runs go to a chunk of their own.
    if (this.chunks.length === 1) this.chunks.push(new Chunk());
    const gen = ++this.gen;
    chunk.gen = gen;
    try {
      await applyDeltas(conn, chunk.deltas(), gen);
    } catch (err) {
      // Not in the tiers: pending again, unlabelled.
      if (chunk.gen === gen) chunk.gen = undefined;
      throw err;
    }
    // A reopen during the apply settled it already (and replaced the list).
    const i = this.chunks.indexOf(chunk);
    if (i >= 0) this.chunks.splice(i, 1);
    if (this.chunks.length === 0) this.chunks.push(new Chunk());
    return chunk.size;
  }

  /** Applies everything pending, oldest chunk first (one transaction each); what a failure leaves stays pending. */
  async apply(conn: DuckDBConnection): Promise<void> {
    while ((await this.applyNext(conn)) > 0);
  }
}
