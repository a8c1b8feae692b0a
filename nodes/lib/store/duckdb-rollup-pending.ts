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
 * Nothing reads a tier that is behind: the store applies what is pending
 * before it answers an aggregate from a tier, before a write it cannot defer
 * (suspects, whose buckets are recomputed from the raw rows), before
 * retention, and when it closes; a timer applies it in between.
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
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EncodedBatch } from './duckdb-write';
import { COLUMNS, HOUR, MERGE_UPDATE, MINUTE, recomputeSql, TIERS } from './duckdb-rollups';

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

const DELTA_TABLE = 'upperstack_rollup_delta';
const CREATE_DELTA = `CREATE OR REPLACE TEMP TABLE ${DELTA_TABLE} (
  w BIGINT, device VARCHAR, field VARCHAR, bucket BIGINT, n BIGINT, n_num BIGINT, v_sum DOUBLE, v_min DOUBLE, v_max DOUBLE,
  last_ts BIGINT, last_double DOUBLE, last_bool BOOLEAN, last_text VARCHAR)`;
const upsertSql = (table: string, width: number) =>
  `INSERT INTO ${table} (${COLUMNS}) SELECT ${COLUMNS} FROM temp.main.${DELTA_TABLE} WHERE w = ${width}\n${MERGE_UPDATE}`;

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

export class PendingRollups {
  /** Minute deltas by device, field and minute. */
  private readonly minutes = new Map<string, Delta>();

  /** (device, field, minute) buckets waiting to be applied. */
  get size(): number {
    return this.minutes.size;
  }

  /**
   * Folds the rows of a batch that was just written, all of them fresh: per
   * device the batch's rows come in time order, so "last" is the latest row.
   */
  add(b: EncodedBatch): void {
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
        const device = b.names[d[i] - 1];
        const field = b.names[f[i] - 1];
        const key = `${device}\u0000${field}\u0000${bucket}`;
        delta = this.minutes.get(key);
        if (delta === undefined) {
          delta = { device, field, bucket, n: 0, nNum: 0, sum: 0, min: 0, max: 0, lastTs: -Infinity, lastKind: 0, last: 0 };
          this.minutes.set(key, delta);
        }
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

  clear(): void {
    this.minutes.clear();
  }

  /** Applies what is pending to both tiers in one transaction; kept for the next try if it fails. */
  async apply(conn: DuckDBConnection): Promise<void> {
    if (this.minutes.size === 0) return;
    const hours = new Map<string, Delta>();
    for (const m of this.minutes.values()) {
      const bucket = Math.floor(m.bucket / HOUR) * HOUR;
      const key = `${m.device}\u0000${m.field}\u0000${bucket}`;
      const h = hours.get(key);
      if (h === undefined) hours.set(key, { ...m, bucket });
      else fold(h, m);
    }
    await conn.run(CREATE_DELTA);
    const ap = await conn.createAppender(DELTA_TABLE, 'main', 'temp');
    try {
      for (const [width, deltas] of [
        [MINUTE, this.minutes],
        [HOUR, hours],
      ] as const) {
        for (const x of deltas.values()) {
          ap.appendBigInt(BigInt(width));
          ap.appendVarchar(x.device);
          ap.appendVarchar(x.field);
          ap.appendBigInt(BigInt(x.bucket));
          ap.appendBigInt(BigInt(x.n));
          ap.appendBigInt(BigInt(x.nNum));
          if (x.nNum > 0) {
            ap.appendDouble(x.sum);
            ap.appendDouble(x.min);
            ap.appendDouble(x.max);
          } else {
            ap.appendNull();
            ap.appendNull();
            ap.appendNull();
          }
          ap.appendBigInt(BigInt(x.lastTs));
          if (x.lastKind === 0) ap.appendDouble(x.last as number);
          else ap.appendNull();
          if (x.lastKind === 1) ap.appendBoolean(x.last as boolean);
          else ap.appendNull();
          if (x.lastKind === 2) ap.appendVarchar(x.last as string);
          else ap.appendNull();
          ap.endRow();
        }
      }
      ap.closeSync();
    } catch (err) {
      ap.clear();
      throw err;
    }
    await conn.run('BEGIN TRANSACTION');
    try {
      for (const tier of TIERS) await conn.run(upsertSql(tier.table, tier.width));
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.minutes.clear();
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
