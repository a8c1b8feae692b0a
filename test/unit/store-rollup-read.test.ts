/**
 * An aggregate from a roll-up tier reads the tier on its own connection and adds the roll-ups still
 * pending (duckdb-rollup-read.ts), while applies run on the writing connection. Every order of the
 * steps that matter is driven here by hand on real DuckDB (one database, two connections, the store's
 * own write path): what is pending is captured, the tier is read (its snapshot), and the two are
 * merged, with applies (succeeding or failing at their commit), reopens (repair), fresh, late and
 * replayed writes before, between and after those steps. Each answer must equal the aggregate over
 * the raw rows as they were when the read was asked for: a bucket applied while the read runs counts once.
 * The pending deltas are kept in chunks applied one at a time (what the store's timer does, a chunk per
 * turn of its write queue); reads between those applies, and a crash after some of them (the pending
 * deltas lost, the tiers repaired from the raw rows at the next open), must be exact too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Reading } from '../../nodes/lib/reading';
import type { AggregateFn, AggregateQuery } from '../../nodes/lib/store/types';
import { SCHEMA, dropReadingsKey } from '../../nodes/lib/store/duckdb-schema';
import { PendingRollups, type PendingView } from '../../nodes/lib/store/duckdb-rollup-pending';
import { openRollups } from '../../nodes/lib/store/duckdb-rollup-open';
import { mergePending, readTier, type TierSnapshot } from '../../nodes/lib/store/duckdb-rollup-read';
import { tierFor, TIERS } from '../../nodes/lib/store/duckdb-rollups';
import { Retention } from '../../nodes/lib/store/duckdb-retention';
import { encodeBatch, raiseMarks } from '../../nodes/lib/store/duckdb-encode';
import { writeBatch } from '../../nodes/lib/store/duckdb-write';
import { planAggregateRaw } from '../../nodes/lib/store/duckdb-query';

const T0 = Date.UTC(2026, 0, 1);
const FNS: AggregateFn[] = ['mean', 'min', 'max', 'sum', 'count', 'last'];

/** The store's write path (DuckDbStore.writeNow without retention): fresh batches defer their roll-ups, others apply first. */
class Harness {
  pending: PendingRollups;
  private readonly marks = new Map<string, number>();
  private readonly retention = new Retention(0, 0, true);
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly writer: DuckDBConnection,
    readonly reader: DuckDBConnection,
    private readonly chunk?: number,
  ) {
    this.pending = new PendingRollups(chunk);
  }

  /** `chunk`: buckets per chunk of pending deltas (what one applyNext applies). */
  static async open(chunk?: number): Promise<Harness> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const writer = await instance.connect();
    await writer.run(SCHEMA);
    await dropReadingsKey(writer);
    const h = new Harness(instance, writer, await instance.connect(), chunk);
    await h.reopen();
    return h;
  }

  /** What a reopen does to the roll-ups: repair what was behind, settle what was pending. */
  reopen(): Promise<void> {
    return openRollups(this.writer, this.retention, this.pending);
  }

  /** Writes as the store does; returns whether the batch was fresh (its roll-ups left pending). */
  async write(readings: Reading[]): Promise<boolean> {
    const batch = encodeBatch(readings, this.marks);
    raiseMarks(this.marks, batch);
    if (batch.suspects === 0) {
      await writeBatch(this.writer, batch, []);
      this.pending.add(batch);
      return true;
    }
    await this.pending.apply(this.writer);
    await writeBatch(this.writer, batch, TIERS);
    return false;
  }

  apply(): Promise<void> {
    return this.pending.apply(this.writer);
  }

  /** One chunk, the oldest, as a turn of the store's timer applies it. */
  next(): Promise<number> {
    return this.pending.applyNext(this.writer);
  }

  /** The process dies: what was pending in memory is gone, and the next open repairs the tiers from the raw rows. */
  crash(): Promise<void> {
    this.pending = new PendingRollups(this.chunk);
    return this.reopen();
  }

  /** An apply whose commit fails (rolled back): what it carried stays pending. */
  async failedApply(): Promise<void> {
    if (this.pending.size === 0) return;
    const real = this.writer;
    const fail = () => Promise.reject(new Error('commit failed'));
    // The COMMIT fails whether it runs as text or prepared.
    const failing = {
      run: (sql: string) => (sql === 'COMMIT' ? fail() : real.run(sql)),
      prepare: async (sql: string) => (sql === 'COMMIT' ? { run: fail } : real.prepare(sql)),
    } as unknown as DuckDBConnection;
    await assert.rejects(this.pending.apply(failing), /commit failed/);
  }

  close(): void {
    this.reader.closeSync();
    this.writer.closeSync();
    this.instance.closeSync();
  }
}

interface Read {
  q: AggregateQuery;
  view: PendingView;
  expected: Awaited<ReturnType<ReturnType<typeof planAggregateRaw>>>;
  snap?: TierSnapshot;
}

/**
 * Captures what is pending for every query (all at once, before anything else runs: a read's capture is
 * synchronous), then the raw answers they must equal, on the reading connection (an apply may be under way
 * on the other; it changes no raw row).
 */
async function capture(h: Harness, devices: string[], fields: string[], from: number, to: number): Promise<Read[]> {
  const reads: Array<Omit<Read, 'expected'>> = [];
  for (const device of devices) {
    for (const field of fields) {
      for (const fn of FNS) {
        for (const everyMs of [60_000, 180_000, 2 * 3_600_000]) {
          const q = { device, field, fn, everyMs, from, to };
          reads.push({ q, view: h.pending.capture(device, field, from, to) });
        }
      }
    }
  }
  const out: Read[] = [];
  for (const r of reads) out.push({ ...r, expected: await planAggregateRaw(r.q)(h.reader) });
  return out;
}

async function snapshot(h: Harness, reads: Read[]): Promise<void> {
  for (const r of reads) r.snap = await readTier(h.reader, tierFor(r.q)!.table, r.q);
}

function merge(reads: Read[], what: string): void {
  for (const r of reads) {
    const { device, field, fn, everyMs } = r.q;
    assert.deepEqual(mergePending(r.snap!, r.q, r.view), r.expected, `${what}: ${device}/${field} ${fn} every ${everyMs}`);
  }
}

const at = (device: string, s: number, fields: Reading['fields']): Reading => ({ device, ts: T0 + s * 1000, fields, tags: {} });

test('a read counts a bucket once when an apply commits before its snapshot, after it, or fails, and across a reopen', async () => {
  const h = await Harness.open();
  try {
    const fresh = async (rs: Reading[]) => assert.equal(await h.write(rs), true, 'fresh: their roll-ups left pending');
    const all = (): Promise<Read[]> => capture(h, ['a'], ['v', 's'], T0, T0 + 4 * 3_600_000);
    await fresh([at('a', 0, { v: 1, s: 'x' }), at('a', 30, { v: 2 })]);
    await h.apply();
    await fresh([at('a', 50, { v: 3, s: true }), at('a', 70, { v: 4 }), at('a', 3700, { v: 5 })]);

    // Applied between the capture and the snapshot: the tier has it, the pending copy is left out.
    let reads = await all();
    await h.apply();
    await snapshot(h, reads);
    merge(reads, 'apply before the snapshot');

    // Applied between the snapshot and the merge: the tier lacks it, the pending copy is added.
    await fresh([at('a', 3710, { v: 6 }), at('a', 3720, { v: 7, s: 'y' })]);
    reads = await all();
    await snapshot(h, reads);
    await h.apply();
    merge(reads, 'apply after the snapshot');

    // Captured while an apply runs (from the chunk being applied), read after its commit, and read before it.
    await fresh([at('a', 3730, { v: 8 })]);
    let applying = h.apply();
    reads = await all();
    await applying;
    await snapshot(h, reads);
    merge(reads, 'captured during an apply, read after it');
    await fresh([at('a', 3740, { v: 9 })]);
    reads = await all();
    await snapshot(h, reads);
    applying = h.apply();
    await applying;
    merge(reads, 'captured and read before an apply');

    // An apply that fails: what it carried is still pending, then applied by the next one.
    await fresh([at('a', 3750, { v: 10, s: false })]);
    reads = await all();
    await h.failedApply();
    await snapshot(h, reads);
    merge(reads, 'failed apply before the snapshot');
    reads = await all();
    await h.failedApply();
    await h.apply();
    await snapshot(h, reads);
    merge(reads, 'failed, then applied, before the snapshot');

    // A reopen repairs the tiers from the raw rows and settles what was pending.
    await fresh([at('a', 3760, { v: 11 }), at('a', 7300, { v: 12 })]);
    reads = await all();
    await h.reopen();
    await snapshot(h, reads);
    merge(reads, 'reopen before the snapshot');
    await fresh([at('a', 7310, { v: 13 })]);
    reads = await all();
    await snapshot(h, reads);
    await h.reopen();
    merge(reads, 'reopen after the snapshot');

    // A late reading and a replay (suspects) apply what is pending before their own recompute.
    await fresh([at('a', 7320, { v: 14 })]);
    assert.equal(await h.write([at('a', 20, { v: 15 }), at('a', 7320, { v: 16, s: 'z' })]), false, 'suspects: applied first, then recomputed');
    reads = await all();
    await snapshot(h, reads);
    merge(reads, 'after a late reading and a replay');
  } finally {
    h.close();
  }
});

test('any interleaving of writes, applies, failed applies and reopens with a read keeps tier plus pending equal to the raw aggregate (property)', async () => {
  const fc = (await import('fast-check')).default;
  const reading = fc.record({
    device: fc.constantFrom('a', 'b'),
    // Steps of 20 s from the latest reading so far: mostly later (fresh), now and then earlier (late) or the same (a replay).
    dt: fc.integer({ min: -3, max: 6 }),
    fields: fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constantFrom('p', 'q')), { minKeys: 1 }),
  });
  const write = fc.array(reading, { minLength: 1, maxLength: 6 }).map((rs) => ({ write: rs }));
  const settle = fc.constantFrom<{ op: 'apply' | 'fail' | 'reopen' }>({ op: 'apply' }, { op: 'fail' }, { op: 'reopen' });
  // A read: captured, then (no writes) some settling steps, its snapshot, then anything, then merged.
  const read = fc.record({
    during: fc.boolean(),
    before: fc.array(settle, { maxLength: 2 }),
    after: fc.array(fc.oneof(settle, write), { maxLength: 2 }),
  });
  const step = fc.oneof({ arbitrary: write, weight: 3 }, { arbitrary: settle, weight: 1 }, { arbitrary: read.map((r) => ({ read: r })), weight: 2 });
  let clock = 0;
  const run = async (h: Harness, st: { write: Array<{ device: string; dt: number; fields: Reading['fields'] }> } | { op: 'apply' | 'fail' | 'reopen' }): Promise<void> => {
    if ('write' in st) {
      await h.write(
        st.write.map((x) => {
          const s = Math.max(0, clock + x.dt * 20);
          clock = Math.max(clock, s);
          return at(x.device, s, x.fields);
        }),
      );
    } else if (st.op === 'apply') await h.apply();
    else if (st.op === 'fail') await h.failedApply();
    else await h.reopen();
  };
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
      const h = await Harness.open();
      clock = 0;
      try {
        for (const st of steps) {
          if (!('read' in st)) {
            await run(h, st);
            continue;
          }
          const r = st.read;
          // Captured while an apply is under way, or between turns.
          const applying = r.during ? h.apply() : undefined;
          const reads = await capture(h, ['a', 'b'], ['x', 'y'], T0, T0 + 3 * 3_600_000);
          await applying;
          for (const b of r.before) await run(h, b);
          await snapshot(h, reads);
          for (const a of r.after) await run(h, a);
          merge(reads, 'read');
        }
      } finally {
        h.close();
      }
    }),
    { numRuns: 15 },
  );
});

test('applied a chunk at a time: a read between the applies counts each reading once, and a crash after some of them is repaired exactly', async () => {
  const h = await Harness.open(2);
  try {
    const fresh = async (rs: Reading[]) => assert.equal(await h.write(rs), true, 'fresh: their roll-ups left pending');
    const all = (): Promise<Read[]> => capture(h, ['a', 'b'], ['v', 's'], T0, T0 + 4 * 3_600_000);
    // Three writes of two or more buckets each: three chunks, applied oldest first, one per applyNext.
    await fresh([at('a', 0, { v: 1, s: 'x' }), at('b', 10, { v: 2 })]);
    await fresh([at('a', 70, { v: 3 }), at('b', 80, { v: 4, s: true }), at('a', 3700, { v: 5 })]);
    await fresh([at('a', 3710, { v: 6, s: 'y' }), at('b', 3720, { v: 7 })]);
    assert.equal(h.pending.chunkCount, 3);

    let reads = await all();
    assert.equal(await h.next(), 3, 'the oldest chunk: a/v, a/s, b/v in minute 0');
    await snapshot(h, reads);
    merge(reads, 'captured before the first chunk was applied, read after it');
    reads = await all();
    await snapshot(h, reads);
    await h.next();
    merge(reads, 'read between two applies, merged after the second');
    assert.equal(h.pending.chunkCount, 1);

    // More written after the partial applies, then the process dies with two chunks pending.
    await fresh([at('a', 3730, { v: 8 }), at('b', 7300, { v: 9, s: false })]);
    assert.equal(h.pending.chunkCount, 2);
    await h.crash();
    assert.equal(h.pending.size, 0);
    reads = await all();
    await snapshot(h, reads);
    merge(reads, 'after the crash: the tiers alone, repaired');

    // A chunk whose apply fails stays the oldest and is applied first next time.
    await fresh([at('a', 7310, { v: 10 }), at('b', 7320, { v: 11 })]);
    await fresh([at('a', 7330, { v: 12 }), at('b', 7340, { v: 13 })]);
    await h.failedApply();
    assert.equal(h.pending.chunkCount, 2);
    assert.equal(await h.next(), 2);
    await h.crash();
    reads = await all();
    await snapshot(h, reads);
    merge(reads, 'a failed apply, one chunk applied, then a crash');
  } finally {
    h.close();
  }
});

test('chunks applied one at a time, failing or not, with reads, reopens and crashes between them, keep tier plus pending equal to the raw aggregate (property)', async () => {
  const fc = (await import('fast-check')).default;
  const reading = fc.record({
    device: fc.constantFrom('a', 'b'),
    dt: fc.integer({ min: -3, max: 6 }),
    fields: fc.dictionary(fc.constantFrom('x', 'y'), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constantFrom('p', 'q')), { minKeys: 1 }),
  });
  const write = fc.array(reading, { minLength: 1, maxLength: 6 }).map((rs) => ({ write: rs }));
  type Op = 'next' | 'apply' | 'fail' | 'reopen';
  const settle = fc.constantFrom<{ op: Op }>({ op: 'next' }, { op: 'next' }, { op: 'apply' }, { op: 'fail' }, { op: 'reopen' });
  const read = fc.record({
    during: fc.boolean(),
    before: fc.array(settle, { maxLength: 3 }),
    after: fc.array(fc.oneof(settle, write), { maxLength: 3 }),
  });
  const step = fc.oneof(
    { arbitrary: write, weight: 4 },
    { arbitrary: settle, weight: 2 },
    { arbitrary: fc.constant({ crash: true as const }), weight: 1 },
    { arbitrary: read.map((r) => ({ read: r })), weight: 2 },
  );
  let clock = 0;
  const run = async (h: Harness, st: { write: Array<{ device: string; dt: number; fields: Reading['fields'] }> } | { op: Op }): Promise<void> => {
    if ('write' in st) {
      await h.write(
        st.write.map((x) => {
          const s = Math.max(0, clock + x.dt * 20);
          clock = Math.max(clock, s);
          return at(x.device, s, x.fields);
        }),
      );
    } else if (st.op === 'next') await h.next();
    else if (st.op === 'apply') await h.apply();
    else if (st.op === 'fail') await h.failedApply();
    else await h.reopen();
  };
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(step, { minLength: 1, maxLength: 10 }), async (chunk, steps) => {
      const h = await Harness.open(chunk);
      clock = 0;
      try {
        for (const st of steps) {
          if ('crash' in st) {
            await h.crash();
            continue;
          }
          if (!('read' in st)) {
            await run(h, st);
            continue;
          }
          const r = st.read;
          // Captured while a chunk's apply is under way, or between turns.
          const applying = r.during ? h.next() : undefined;
          const reads = await capture(h, ['a', 'b'], ['x', 'y'], T0, T0 + 3 * 3_600_000);
          await applying;
          for (const b of r.before) await run(h, b);
          await snapshot(h, reads);
          for (const a of r.after) await run(h, a);
          merge(reads, 'read');
        }
        // Whatever is left applied (or lost to a crash and repaired): the tiers alone equal the raw rows.
        if (steps.length % 2 === 0) await h.apply();
        else await h.crash();
        const reads = await capture(h, ['a', 'b'], ['x', 'y'], T0, T0 + 3 * 3_600_000);
        assert.equal(h.pending.size, 0);
        await snapshot(h, reads);
        merge(reads, 'at the end');
      } finally {
        h.close();
      }
    }),
    { numRuns: 15 },
  );
});
