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
