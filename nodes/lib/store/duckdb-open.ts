/**
 * What opening a store's DuckDB file does before its first statement, at the first use and again after DuckDB
 * invalidated the database: the instance with the store's memory, threads and checkpoint settings, the schema and
 * what older files need (the readings key dropped, dead letters migrated), the raw cutoff an earlier retention
 * pass left, and the roll-ups repaired after a crash, or marked stale when this store keeps none.
 */
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { DeadLetterBodies } from './deadletter-bodies';
import { migrateDeadLetters } from './duckdb-deadletters-migrate';
import { openRollups } from './duckdb-rollup-open';
import type { PendingRollups } from './duckdb-rollup-pending';
import type { Retention } from './duckdb-retention';
import { dropReadingsKey, SCHEMA } from './duckdb-schema';
import { readMarks } from './duckdb-write';

export interface OpenParams {
  path: string;
  /** DuckDB's settings for the instance (duckDbConfig and checkpointConfig). */
  config: Record<string, string>;
  retention: Retention;
  bodies: DeadLetterBodies;
  /** The roll-ups still to apply, when the store keeps roll-ups. */
  rollups?: PendingRollups;
  /** The per-device marks are read too (the first open only: a reopen keeps the store's own). */
  marks: boolean;
}

export interface OpenedDatabase {
  instance: DuckDBInstance;
  conn: DuckDBConnection;
  marks?: Map<string, number>;
}

/** Opens the file; on failure nothing stays open. */
export async function openDatabase(p: OpenParams): Promise<OpenedDatabase> {
  let instance: DuckDBInstance | undefined;
  try {
    instance = await DuckDBInstance.create(p.path, p.config);
    const conn = await instance.connect();
    await conn.run(SCHEMA);
    await dropReadingsKey(conn);
    const cut = (await conn.runAndReadAll(`SELECT value FROM upperstack_meta WHERE key = 'raw_cutoff'`)).getRows()[0]?.[0];
    if (cut !== undefined && cut !== null && (p.retention.rawCutoff === undefined || Number(cut) > p.retention.rawCutoff)) p.retention.rawCutoff = Number(cut);
    await migrateDeadLetters(conn, p.bodies);
    if (p.rollups) await openRollups(conn, p.retention, p.rollups);
    // Writes from now on leave the roll-ups behind: the next open with them rebuilds them.
    else await conn.run(`DELETE FROM upperstack_meta WHERE key = 'rollups'`);
    return { instance, conn, marks: p.marks ? await readMarks(conn) : undefined };
  } catch (err) {
    instance?.closeSync();
    throw err;
  }
}
