/**
 * The DuckDB store's own table of raw readings, its settings at open and the
 * migration of stores from before schema version 2, and the health check
 * that writes to it.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { ConfigError } from '../errors';
import { inTransaction } from './duckdb-prepared';

// No primary key: duckdb-write.ts keeps (device, ts, field) unique for less than the index costs.
export const READINGS = `CREATE TABLE IF NOT EXISTS readings (
  device VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  field VARCHAR NOT NULL,
  value_double DOUBLE,
  value_bool BOOLEAN,
  value_text VARCHAR,
  tags JSON
)`;
export const SCHEMA = `
${READINGS};
CREATE TABLE IF NOT EXISTS upperstack_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
INSERT OR IGNORE INTO upperstack_meta VALUES ('schema_version', '2');`;

/**
 * Stores from before schema version 2 have a primary key on readings, which
 * DuckDB cannot drop: the rows move once into a table without it.
 */
export async function dropReadingsKey(conn: DuckDBConnection): Promise<void> {
  const keyed = await conn.runAndReadAll(
    `SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'readings' AND constraint_type = 'PRIMARY KEY'`,
  );
  if (Number(keyed.getRows()[0][0]) === 0) return;
  await inTransaction(conn, async () => {
    await conn.run(READINGS.replace('IF NOT EXISTS readings', 'upperstack_readings_v2'));
    await conn.run('INSERT INTO upperstack_readings_v2 SELECT * FROM readings');
    await conn.run('DROP TABLE readings');
    await conn.run('ALTER TABLE upperstack_readings_v2 RENAME TO readings');
    await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('schema_version', '2')`);
  });
}

/**
 * One DuckDB thread by default. The store's work is many small transactions
 * from one connection while the event loop needs a core of its own: with a
 * thread per core, the same 400,000 readings took 45% more process CPU (and
 * more wall time on 2 cores) than with one, and the process held ~10 MB more,
 * while an aggregate over all of them took as long. Large queries on a machine
 * with idle cores are what more threads are for (UPPERSTACK_DUCKDB_THREADS).
 */
export const DEFAULT_THREADS = 1;

/** DuckDB settings given when the database is opened. */
export function duckDbConfig(o: { memoryLimitMb?: number; threads?: number }): Record<string, string> {
  const config: Record<string, string> = {};
  if (o.memoryLimitMb) config.memory_limit = `${o.memoryLimitMb}MB`;
  const threads = o.threads ?? DEFAULT_THREADS;
  if (threads > 0) config.threads = String(threads);
  return config;
}

/** UPPERSTACK_DUCKDB_THREADS: empty or absent is the default (1), 0 DuckDB's own default (one per core). */
export function threadsFromEnv(value: string | undefined): number | undefined {
  const text = (value ?? '').trim();
  if (text === '') return undefined;
  if (!/^\d{1,4}$/.test(text)) throw new ConfigError(`UPPERSTACK_DUCKDB_THREADS must be a whole number of threads (0 for one per CPU core), got "${text.slice(0, 40)}"`, { setting: 'UPPERSTACK_DUCKDB_THREADS' });
  return Number(text);
}

const HEALTH_PROBE = `INSERT INTO readings VALUES ('upperstack health probe', TIMESTAMP '1970-01-01', 'probe', 0, NULL, NULL, '{}')`;

export interface StoreMemory {
  memory_usage?: string;
  memory_limit?: string;
}

/** The database's memory use and limit (any connection of the instance). */
export async function readMemory(conn: DuckDBConnection): Promise<StoreMemory | undefined> {
  const r = await conn.runAndReadAll(`SELECT memory_usage, memory_limit FROM pragma_database_size() WHERE database_name = current_database()`);
  return r.getRowObjects()[0] as StoreMemory | undefined;
}

/** A committed write, not just a read (a full disk or lost file shows here); the database's memory use. */
export async function checkWritable(conn: DuckDBConnection): Promise<StoreMemory | undefined> {
  await conn.run(`INSERT OR REPLACE INTO upperstack_meta VALUES ('health_checked_at', $now)`, { now: new Date().toISOString() });
  // A row in the readings table too, rolled back: its index and the memory a write needs are
  // what readings depend on (the writer asks this before it blames a reading the store refused).
  await conn.run('BEGIN TRANSACTION');
  try {
    await conn.run(HEALTH_PROBE);
  } finally {
    await conn.run('ROLLBACK');
  }
  return readMemory(conn);
}
