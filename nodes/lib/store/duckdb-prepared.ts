/**
 * Prepared statements kept per connection and SQL text: planning is a good part
 * of a small statement's cost (a write of a few rows, a poll for new readings).
 * Statements on one connection run one at a time, so one prepared statement per
 * text is enough.
 */
import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';

const prepared = new WeakMap<DuckDBConnection, Map<string, DuckDBPreparedStatement>>();

export async function preparedStatement(conn: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  let byText = prepared.get(conn);
  if (!byText) prepared.set(conn, (byText = new Map()));
  let p = byText.get(sql);
  if (!p) {
    p = await conn.prepare(sql);
    byText.set(sql, p);
  }
  return p;
}

const BEGIN = 'BEGIN TRANSACTION';
const COMMIT = 'COMMIT';
const ROLLBACK = 'ROLLBACK';

/**
 * Runs `fn` in a transaction: committed when it resolves, rolled back when it
 * throws. BEGIN, COMMIT and ROLLBACK run prepared: `conn.run(text)` extracts
 * and prepares its statement on every call, about half of an empty
 * transaction's CPU on the event loop. All three are prepared before the first
 * BEGIN, so ROLLBACK is never first prepared inside a failed transaction.
 * (CREATE TABLE cannot go this way: DuckDB 1.5.6 re-runs a prepared CREATE
 * TABLE as a table without columns.)
 */
export async function inTransaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
  const begin = await preparedStatement(conn, BEGIN);
  const commit = await preparedStatement(conn, COMMIT);
  const rollback = await preparedStatement(conn, ROLLBACK);
  await begin.run();
  try {
    const result = await fn();
    await commit.run();
    return result;
  } catch (err) {
    await rollback.run().catch(() => undefined);
    throw err;
  }
}
