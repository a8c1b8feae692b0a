/**
 * Roll-ups applied after the write, not in it.
 *
 * Keeping the 1-minute and 1-hour tiers in the write's own transaction made
 * every write cost two upserts (INSERT ... ON CONFLICT on the tiers' primary
 * key, ~7 ms of CPU each whatever their size) and a heavier commit: ~95% of
 * a write of 50 readings (bench/duckdb-write.ts). Now a write of fresh
 * readings (see duckdb-write.ts) is only its INSERT into `readings`; the
 * aggregates of its rows are folded here, in memory, into per (device, field,
 * minute) deltas, and applied later in one transaction: one upsert per tier for
 * everything written since the last time (the hour tier folded from the
 * minute deltas).
 *
 * The store applies what is pending before a write it cannot defer (suspects,
 * whose buckets are recomputed from the raw rows), before retention, and when
 * it closes; a timer applies it in between. An aggregate from a tier does not
 * wait for it: it reads the tier and adds the deltas still pending
 * (duckdb-rollup-read.ts; why each counts once: PendingRollups.capture).
 *
 * A crash between a write and the apply loses only the in-memory deltas; the
 * raw rows are in the table. While a store runs, the meta key `rollups_behind`
 * is '1' (set at open, cleared by a clean close after the last apply). A store
 * opened with it set repairs its tiers from the raw rows: every raw row later
 * than the latest `last_ts` its (device, field) has in the minute tier is one
 * the tiers may lack, and the buckets of such rows are recomputed whole. That
 * finds every deferred row because only fresh readings are deferred (later
 * than anything their device had stored, so later than anything of theirs the
 * tiers hold) and only at or after the seal horizon (tiers below it may hold
 * rows whose raw rows retention removed).
 */
import { BOOLEAN, DOUBLE, LIST, listValue, VARCHAR, type DuckDBConnection, type DuckDBPreparedStatement } from '@duckdb/node-api';
import type { EncodedBatch } from './duckdb-encode';
import { COLUMNS, HOUR, MERGE_UPDATE, MINUTE, rebuildAll, recomputeSql, ROLLUP_SCHEMA, TIERS } from './duckdb-rollups';
import type { Retention } from './duckdb-retention';

/** The aggregates of one (device, field, bucket) for the rows folded in so far. */
interface Delta {
  device: string;
  field: string;
  bucket: number;
  n: number;
  nNum: number;
  sum: number;
  min: number;
  max: number;
  lastTs: number;
  /** 0 number, 1 boolean, 2 text: which last_* column holds the last value. */
  lastKind: number;
  last: number | boolean | string;
}

/**
 * One upsert per tier with the deltas bound as lists (unnested side by side):
 * no batch table to create and fill first. A table's CREATE OR REPLACE is a
 * catalog change, which waits for a running checkpoint and costs a statement
 * of its own; a handful of deltas a second need neither.
 */
const upsertSql = (table: string) => `INSERT INTO ${table} (${COLUMNS})
SELECT device, field, bucket::BIGINT, n::BIGINT, n_num::BIGINT, v_sum, v_min, v_max, last_ts::BIGINT, last_double, last_bool, last_text
FROM (SELECT unnest($device) AS device, unnest($field) AS field, unnest($bucket) AS bucket, unnest($n) AS n, unnest($n_num) AS n_num,
  unnest($v_sum) AS v_sum, unnest($v_min) AS v_min, unnest($v_max) AS v_max, unnest($last_ts) AS last_ts,
  unnest($last_double) AS last_double, unnest($last_bool) AS last_bool, unnest($last_text) AS last_text)
${MERGE_UPDATE}`;
const TEXTS = LIST(VARCHAR);
const NUMBERS = LIST(DOUBLE);
const BOOLS = LIST(BOOLEAN);
const TYPES = {
  device: TEXTS,
  field: TEXTS,
  bucket: NUMBERS,
  n: NUMBERS,
  n_num: NUMBERS,
  v_sum: NUMBERS,
  v_min: NUMBERS,
  v_max: NUMBERS,
  last_ts: NUMBERS,
  last_double: NUMBERS,
  last_bool: BOOLS,
  last_text: TEXTS,
};

/** The upsert of each tier, prepared once per connection. */
const prepared = new WeakMap<DuckDBConnection, Map<string, DuckDBPreparedStatement>>();

async function upsert(conn: DuckDBConnection, table: string, deltas: Iterable<Delta>): Promise<void> {
  let byTable = prepared.get(conn);
  if (!byTable) prepared.set(conn, (byTable = new Map()));
  let p = byTable.get(table);
  if (!p) {
    p = await conn.prepare(upsertSql(table));
    byTable.set(table, p);
  }
  const c = { device: [] as string[], field: [] as string[], bucket: [] as number[], n: [] as number[], n_num: [] as number[] };
  const v = { v_sum: [] as Array<number | null>, v_min: [] as Array<number | null>, v_max: [] as Array<number | null>, last_ts: [] as number[] };
  const last = { last_double: [] as Array<number | null>, last_bool: [] as Array<boolean | null>, last_text: [] as Array<string | null> };
  for (const x of deltas) {
    c.device.push(x.device);
    c.field.push(x.field);
    c.bucket.push(x.bucket);
    c.n.push(x.n);
    c.n_num.push(x.nNum);
    const numeric = x.nNum > 0;
    v.v_sum.push(numeric ? x.sum : null);
    v.v_min.push(numeric ? x.min : null);
    v.v_max.push(numeric ? x.max : null);
    v.last_ts.push(x.lastTs);
    last.last_double.push(x.lastKind === 0 ? (x.last as number) : null);
    last.last_bool.push(x.lastKind === 1 ? (x.last as boolean) : null);
    last.last_text.push(x.lastKind === 2 ? (x.last as string) : null);
  }
  const values: Record<string, ReturnType<typeof listValue>> = {};
  for (const [k, list] of Object.entries({ ...c, ...v, ...last })) values[k] = listValue(list);
  p.bind(values, TYPES);
  await p.run();
}

/** The meta key that says the tiers may be behind the raw rows (a crash would leave it set). */
export const BEHIND_KEY = 'rollups_behind';

function fold(into: Delta, from: Delta): void {
  into.n += from.n;
  if (from.nNum > 0) {
    if (into.nNum === 0) {
      into.sum = from.sum;
      into.min = from.min;
      into.max = from.max;
    } else {
      into.sum += from.sum;
      if (from.min < into.min) into.min = from.min;
      if (from.max > into.max) into.max = from.max;
    }
    into.nNum += from.nNum;
  }
  if (from.lastTs >= into.lastTs) {
    into.lastTs = from.lastTs;
    into.lastKind = from.lastKind;
    into.last = from.last;
  }
}

/** The deltas of the writes since the last apply, and the apply attempt that carries them to the tiers. */
class Chunk {
  /**
   * The generation of the apply attempt carrying these deltas (set before its transaction begins,
   * cleared if it fails); undefined while no apply has taken them.
   */
  gen?: number;
  /** Minute deltas by device and field, then by minute: a tier read looks up one (device, field). */
  readonly pairs = new Map<string, Map<number, Delta>>();
  size = 0;

  *deltas(): IterableIterator<Delta> {
    for (const byMinute of this.pairs.values()) yield* byMinute.values();
  }

  /** The delta of one (device, field, minute), made empty when new. */
  at(device: string, field: string, bucket: number): Delta {
    const pair = `${device}\u0000${field}`;
    let byMinute = this.pairs.get(pair);
    if (byMinute === undefined) this.pairs.set(pair, (byMinute = new Map()));
    let delta = byMinute.get(bucket);
    if (delta === undefined) {
      delta = { device, field, bucket, n: 0, nNum: 0, sum: 0, min: 0, max: 0, lastTs: -Infinity, lastKind: 0, last: 0 };
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

/** The meta key holding the generation of the last apply committed to the tiers (a tier read reads it in the same snapshot). */
export const GEN_KEY = 'rollups_gen';

export class PendingRollups {
  /** What writes add to; taken whole by the next apply. */
  private current = new Chunk();
  /** The chunk an apply is writing to the tiers right now. */
  private applying?: Chunk;
  /** The last generation handed out; only grows, across reopens too. */
  private gen = 0;

  /** (device, field, minute) buckets waiting to be applied. */
  get size(): number {
    return this.current.size;
  }

  /**
   * Folds the rows of a batch that was just written, all of them fresh: per
   * device the batch's rows come in time order, so "last" is the latest row.
   */
  add(b: EncodedBatch): void {
    const { d, t, f, k, n } = b.cols;
    const chunk = this.current;
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
    this.current.gen = ++this.gen;
    this.current = new Chunk();
    return this.gen;
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
   * - Label g <= G: the apply of g committed within the snapshot (g is never written by
   *   a failed attempt, and the first apply to commit after a failed one carries its deltas,
   *   with a higher label), and it held every delta the chunk had when captured (deltas are
   *   only ever added to a chunk before its apply): the tier rows have it, leave it out.
   * - Label unset or above G: no apply carrying it committed within the snapshot (the label is
   *   set in this thread before the apply's transaction begins, so an apply the snapshot sees
   *   has labelled its chunk before the read's result is handled): the tier rows lack it, add it.
   * The copies are taken now, so deltas folded in later (writes after this call) are not added.
   * A reopen (openRollups) repairs the tiers from the raw rows and settles the chunks the same way.
   */
  capture(device: string, field: string, from: number | undefined, to: number | undefined): PendingView {
    const parts: Array<{ chunk: Chunk; deltas: Delta[] }> = [];
    for (const chunk of [this.applying, this.current]) {
      const byMinute = chunk?.pairs.get(`${device}\u0000${field}`);
      if (!chunk || !byMinute) continue;
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

  /** Applies what is pending to both tiers in one transaction; kept for the next try if it fails. */
  async apply(conn: DuckDBConnection): Promise<void> {
    const chunk = this.current;
    if (chunk.size === 0) return;
    const gen = ++this.gen;
    chunk.gen = gen;
    this.applying = chunk;
    this.current = new Chunk();
    try {
      const hours = new Map<string, Delta>();
      for (const m of chunk.deltas()) {
        const bucket = Math.floor(m.bucket / HOUR) * HOUR;
        const key = `${m.device}\u0000${m.field}\u0000${bucket}`;
        const h = hours.get(key);
        if (h === undefined) hours.set(key, { ...m, bucket });
        else fold(h, m);
      }
      await conn.run('BEGIN TRANSACTION');
      try {
        for (const tier of TIERS) await upsert(conn, tier.table, tier.width === MINUTE ? chunk.deltas() : hours.values());
        await conn.run(`UPDATE upperstack_meta SET value = '${gen}' WHERE key = '${GEN_KEY}'`);
        await conn.run('COMMIT');
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } catch (err) {
      // Not in the tiers: pending again, unlabelled (writes cannot run during an apply, but what came meanwhile is kept).
      chunk.gen = undefined;
      for (const x of this.current.deltas()) fold(chunk.at(x.device, x.field, x.bucket), x);
      this.current = chunk;
      throw err;
    } finally {
      this.applying = undefined;
    }
  }
}

/**
 * Recomputes from the raw rows every bucket of both tiers that holds a raw row
 * later than the latest one its (device, field) has in the minute tier; rows
 * before `from` (the seal horizon, or the roll-ups' retention cutoff) are left alone.
 * Returns how many raw rows were behind.
 */
export async function repairBehind(conn: DuckDBConnection, from: number | undefined): Promise<number> {
  const since = from === undefined ? '' : ` AND r.ts >= make_timestamp(${Math.round(from)}::BIGINT * 1000)`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE upperstack_behind AS
    SELECT r.device, r.field, epoch_ms(r.ts) AS t FROM readings r
    LEFT JOIN (SELECT device, field, max(last_ts) AS last FROM rollup_1m GROUP BY device, field) m ON m.device = r.device AND m.field = r.field
    WHERE (m.last IS NULL OR epoch_ms(r.ts) > m.last)${since}`);
  const behind = Number((await conn.runAndReadAll('SELECT count(*) FROM temp.main.upperstack_behind')).getRows()[0][0]);
  if (behind > 0) {
    await conn.run('BEGIN TRANSACTION');
    try {
      for (const t of TIERS) {
        const keys = `SELECT DISTINCT device, field, (floor(t / ${t.width}) * ${t.width})::BIGINT AS bucket FROM temp.main.upperstack_behind`;
        await conn.run(recomputeSql(t.table, t.width, keys));
      }
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  await conn.run('DROP TABLE temp.main.upperstack_behind');
  return behind;
}

/**
 * Creates the roll-up tables; a store whose roll-ups are not (or no longer) current gets them rebuilt
 * from its raw rows once, and one that did not close cleanly gets the buckets its last run may not
 * have applied recomputed (repairBehind).
 */
export async function openRollups(conn: DuckDBConnection, retention: Retention, pending: PendingRollups): Promise<void> {
  await conn.run(ROLLUP_SCHEMA);
  const meta = (await conn.runAndReadAll(`SELECT key, value FROM upperstack_meta WHERE key IN ('rollups', 'sealed_before', '${BEHIND_KEY}')`)).getRows();
  const get = (k: string) => meta.find((r) => r[0] === k)?.[1] as string | undefined;
  await retention.read(conn, get('sealed_before'));
  if (get('rollups') !== '1') {
    // Written while roll-ups were off (or before they existed): built once from the raw rows.
    await inTransaction(conn, async () => {
      await rebuildAll(conn);
      await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('rollups', '1')`);
    });
  } else if (get(BEHIND_KEY) === '1') {
    await repairBehind(conn, retention.sealedBefore);
  }
  // Whatever was pending is in the tiers now (this also runs when DuckDB invalidated the database and it is reopened).
  const gen = pending.settle();
  // Set before any write can defer its roll-ups; a clean close clears it.
  await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('${BEHIND_KEY}', '1'), ('${GEN_KEY}', '${gen}')`);
}

async function inTransaction(conn: DuckDBConnection, fn: () => Promise<void>): Promise<void> {
  await conn.run('BEGIN TRANSACTION');
  try {
    await fn();
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
