/**
 * Retention of the embedded DuckDB store and the seal horizon it leaves.
 *
 * Retention deletes raw rows older than its period and roll-up buckets that
 * ended before theirs, and *seals* the roll-up buckets whose raw rows it
 * removed: such a bucket can no longer be recomputed from the raw rows.
 * A reading older than the raw cutoff for a sealed hour is refused
 * (dead-lettered with the reason), as InfluxDB refuses points older than its
 * retention policy: it cannot be told from a replay of a deleted row. Older
 * readings for hours that hold nothing yet (history imported for the first
 * time) are taken: they go into the roll-ups, their raw rows at the next pass.
 * A reading at or after the cutoff that falls in a sealed bucket (the bucket
 * straddles the cutoff) has its raw row kept, so the write tells a new one
 * from a replay and adds only new ones to the bucket (duckdb-write.ts).
 *
 * The seal horizon is the latest raw cutoff rounded up to the hour: only
 * readings before it can fall in a sealed bucket, so only those are written
 * with the roll-ups in the write's transaction.
 *
 * Reports and invoices read raw rows of whole periods: a monthly invoice made
 * on the 1st needs the month before, longer than 30 days of raw retention
 * keeps. They *hold* raw rows from the start of the next period they still
 * have to produce; retention then deletes only rows older than the earliest
 * hold, and never keeps more than MAX_HOLD_MS beyond its own period, so a
 * report that keeps failing does not keep rows for ever. The cutoff applied is
 * kept (meta `raw_cutoff`): a report or invoice over a period that starts
 * before it says its raw readings are incomplete.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { RetentionRefusedError } from '../errors';
import type { Reading } from '../reading';
import { bucketOf, HOUR, TIERS } from './duckdb-rollups';

/** Longest a hold keeps raw rows beyond the raw retention: one month, the longest report or invoice period. */
export const MAX_HOLD_MS = 31 * 86_400_000;

/** Retention and the seal horizon of one store. */
export class Retention {
  /** Readings before this may fall in an hour retention sealed: those are looked up. */
  sealedBefore?: number;
  /** Raw rows before this were deleted (the latest raw cutoff applied). */
  rawCutoff?: number;
  private readonly holds = new Map<string, () => number | undefined>();

  /** `rawMs`, `rollupMs`: periods (0 keeps forever); `rollups`: whether the store keeps roll-ups. */
  constructor(
    private readonly rawMs: number,
    private readonly rollupMs: number,
    private readonly rollups: boolean,
  ) {}

  get enabled(): boolean {
    return this.rawMs > 0 || this.rollupMs > 0;
  }

  /** Whether every reading from `earliest` on is past the horizon (none can fall in a sealed hour). */
  after(earliest: number): boolean {
    return this.sealedBefore === undefined || earliest >= this.sealedBefore;
  }

  /** Keeps raw rows from `earliest()` on (asked at each pass; undefined holds nothing); returns the release. */
  hold(key: string, earliest: () => number | undefined): () => void {
    this.holds.set(key, earliest);
    return () => {
      if (this.holds.get(key) === earliest) this.holds.delete(key);
    };
  }

  /** The raw cutoff at `now`: the retention period back, or an earlier hold, by at most MAX_HOLD_MS. */
  rawCutoffAt(now: number): number | undefined {
    if (!(this.rawMs > 0)) return undefined;
    let cutoff = now - this.rawMs;
    for (const earliest of this.holds.values()) {
      const e = earliest();
      if (e !== undefined && Number.isFinite(e) && e < cutoff) cutoff = Math.max(e, now - this.rawMs - MAX_HOLD_MS);
    }
    return cutoff;
  }

  /**
   * Deletes what retention says is too old and raises the horizon. Raw rows
   * about to go must be in the roll-ups first: the caller applies what is pending.
   */
  async apply(conn: DuckDBConnection, now: number): Promise<void> {
    const { cutoff, deleted } = await deleteExpired(conn, now, this.rawCutoffAt(now), this.rollupMs, this.rollups);
    // Only a pass that deleted rows makes a period before it incomplete: a store that never held older
    // rows (a new one) has every period it holds whole.
    if (cutoff !== undefined && deleted > 0 && (this.rawCutoff === undefined || cutoff > this.rawCutoff)) {
      this.rawCutoff = cutoff;
      await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('raw_cutoff', $v)`, { v: String(cutoff) });
    }
    if (cutoff === undefined || !this.rollups) return;
    // Until retention seals a bucket no reading can fall in one: writes skip the lookup (old history imported into a new store).
    if (this.sealedBefore === undefined && !(await anySealed(conn))) return;
    const horizon = sealHorizon(cutoff)!;
    if (this.sealedBefore === undefined || horizon > this.sealedBefore) {
      this.sealedBefore = horizon;
      await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('sealed_before', $v)`, { v: String(horizon) });
    }
  }

  /** The horizon at open: the meta row, or the sealed buckets themselves should the meta row have missed a retention pass (a crash in between). */
  async read(conn: DuckDBConnection, metaValue: string | undefined): Promise<void> {
    if (metaValue !== undefined) this.sealedBefore = Number(metaValue);
    const top = (await conn.runAndReadAll('SELECT max(bucket) FROM rollup_1h WHERE sealed')).getRows()[0][0];
    if (top !== null && top !== undefined) {
      const horizon = Number(top) + HOUR;
      if (this.sealedBefore === undefined || horizon > this.sealedBefore) this.sealedBefore = horizon;
    }
  }

  /**
   * Readings older than the raw cutoff that fall in an hour retention sealed
   * are refused, all of them named in one error: the writer dead-letters them
   * together (code BEYOND_RETENTION) and writes the rest. Such a reading cannot
   * be told from a replay of a deleted row (it would count twice in the
   * roll-ups), and its raw row would go again at the next pass. History for
   * hours the store never held (an import) is taken: it goes into the
   * roll-ups, its raw rows at the next pass. Only readings before the cutoff
   * are looked up, so live traffic costs a comparison.
   */
  async refuseSealed(conn: DuckDBConnection, readings: readonly Reading[]): Promise<void> {
    if (this.sealedBefore === undefined) return;
    // A store sealed before the cutoff was kept in meta: its horizon bounds the lookup instead.
    const before = this.rawCutoff ?? this.sealedBefore;
    if (!readings.some((r) => typeof r?.ts === 'number' && r.ts < before)) return;
    const sealed = await sealedReadings(conn, readings, before);
    if (sealed.length === 0) return;
    throw new RetentionRefusedError(
      'duckdb',
      sealed,
      before,
      'retention already deleted raw readings of its hour, so it cannot be told from a replay of one of them (it would count twice in the roll-ups) and would be deleted again; raise the retention to keep such readings',
    );
  }
}

/**
 * Deletes raw rows older than `rawCutoff` (undefined: kept forever) and roll-up buckets that ended
 * before `now - rollupMs` (0: kept forever). Returns the raw cutoff applied and how many raw rows went.
 */
async function deleteExpired(conn: DuckDBConnection, now: number, rawCutoff: number | undefined, rollupMs: number, rollups: boolean): Promise<{ cutoff: number | undefined; deleted: number }> {
  const cutoff = rawCutoff;
  let deleted = 0;
  if (cutoff !== undefined) {
    deleted = (await conn.run('DELETE FROM readings WHERE ts < make_timestamp($cut * 1000)', { cut: cutoff })).rowsChanged;
    // Buckets that may have lost raw rows: a reading for them can no longer be told from a replay.
    if (rollups) for (const t of TIERS) await conn.run(`UPDATE ${t.table} SET sealed = true WHERE bucket < $cut AND NOT sealed`, { cut: cutoff });
  }
  if (rollupMs > 0) {
    for (const t of TIERS) await conn.run(`DELETE FROM ${t.table} WHERE bucket + ${t.width} <= $cut`, { cut: now - rollupMs });
  }
  return { cutoff, deleted };
}

/**
 * The readings (indexes) that fall in a sealed hour: retention removed raw rows
 * there, so they cannot be rolled up without maybe counting them twice. Only
 * readings before `horizon` (the raw cutoff) are looked up.
 */
async function sealedReadings(conn: DuckDBConnection, readings: readonly Reading[], horizon: number): Promise<number[]> {
  const keys = new Map<string, number[]>();
  readings.forEach((r, i) => {
    if (!(typeof r?.ts === 'number' && r.ts < horizon) || typeof r.fields !== 'object' || r.fields === null) return;
    const b = bucketOf(Math.round(r.ts), HOUR);
    for (const f in r.fields) {
      if (!Object.prototype.hasOwnProperty.call(r.fields, f)) continue;
      const k = JSON.stringify([r.device, f, b]);
      const list = keys.get(k);
      if (list) list.push(i);
      else keys.set(k, [i]);
    }
  });
  if (keys.size === 0) return [];
  const c = { d: [] as string[], f: [] as string[], b: [] as number[] };
  for (const k of keys.keys()) {
    const [d, f, b] = JSON.parse(k) as [string, string, number];
    c.d.push(d);
    c.f.push(f);
    c.b.push(b);
  }
  const rows = (
    await conn.runAndReadAll(
      `SELECT r.device, r.field, r.bucket FROM rollup_1h r JOIN (SELECT unnest(c.d) AS device, unnest(c.f) AS field, unnest(c.b) AS bucket
        FROM (SELECT json_transform($keys, '{"d":["VARCHAR"],"f":["VARCHAR"],"b":["BIGINT"]}') AS c)) k USING (device, field, bucket) WHERE r.sealed`,
      { keys: JSON.stringify(c) },
    )
  ).getRows();
  const out = new Set<number>();
  for (const [d, f, b] of rows) for (const i of keys.get(JSON.stringify([d, f, Number(b)])) ?? []) out.add(i);
  return [...out].sort((a, b) => a - b);
}

/** Whether retention has sealed any bucket yet. */
async function anySealed(conn: DuckDBConnection): Promise<boolean> {
  const rows = (await conn.runAndReadAll('SELECT EXISTS (SELECT 1 FROM rollup_1h WHERE sealed)')).getRows();
  return rows[0][0] === true;
}

/** Readings before this may fall in a sealed hour: the latest raw cutoff, rounded up to the hour. */
function sealHorizon(rawCutoff: number | undefined): number | undefined {
  return rawCutoff === undefined ? undefined : Math.ceil(rawCutoff / HOUR) * HOUR;
}
