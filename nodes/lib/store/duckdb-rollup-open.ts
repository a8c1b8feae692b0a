/**
 * The roll-up tiers at open: created, rebuilt from the raw rows when they are
 * not current, and repaired when the last run did not close cleanly.
 *
 * A crash between a write and the apply of its roll-ups (or between two
 * applies of a run's pending deltas: duckdb-rollup-pending.ts) loses only
 * in-memory deltas; the raw rows are in the table. While a store runs, the
 * meta key `rollups_behind` is '1' (set at open, cleared by a clean close after
 * the last apply). A store opened with it set repairs its tiers from the raw
 * rows: every raw row later than the latest `last_ts` its (device, field) has
 * in the minute tier is one the tiers may lack, and the buckets of such rows
 * are recomputed whole. That finds every deferred row because only fresh
 * readings are deferred (later than anything their device had stored, so
 * later than anything of theirs the tiers hold), their deltas are applied in
 * the order they were written (so what the tiers lack of a (device, field) is
 * always its latest rows), and only at or after the seal horizon (tiers below
 * it may hold rows whose raw rows retention removed).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { BEHIND_KEY, GEN_KEY, rebuildAll, recomputeSql, ROLLUP_SCHEMA, TIERS } from './duckdb-rollups';
import { prepareApply } from './duckdb-rollup-apply';
import { inTransaction } from './duckdb-prepared';
import type { PendingRollups } from './duckdb-rollup-pending';
import type { Retention } from './duckdb-retention';

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
    await inTransaction(conn, async () => {
      for (const t of TIERS) {
        const keys = `SELECT DISTINCT device, field, (floor(t / ${t.width}) * ${t.width})::BIGINT AS bucket FROM temp.main.upperstack_behind`;
        await conn.run(recomputeSql(t.table, t.width, keys));
      }
    });
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
  await prepareApply(conn);
}

