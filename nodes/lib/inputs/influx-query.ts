/**
 * The InfluxQL statements `POST /query` answers for InfluxDB 1.x clients: `CREATE DATABASE` (Telegraf sends it
 * at start) and `SHOW DATABASES`, which the influx CLI's `use <db>` asks before it sets the database; a name
 * not in the list leaves the CLI without one ("DB does not exist!"), and its INSERTs then go nowhere.
 *
 * A database is only a label here (every name is written to the same store), so the list is the names clients
 * have given this input since it started, by CREATE DATABASE or in a write's `db`, kept in memory and bounded.
 */

/** At most this many names are kept; past it the oldest goes. */
const MAX_NAMES = 1000;
/** A longer name is still written to (a no-op) but not listed. */
const MAX_NAME_CHARS = 255;

export class KnownDatabases {
  private readonly names = new Set<string>();

  constructor(private readonly max = MAX_NAMES) {}

  add(name: string | undefined): void {
    if (name === undefined || name === '' || name.length > MAX_NAME_CHARS || this.names.has(name)) return;
    if (this.names.size >= this.max) {
      const oldest = this.names.values().next();
      if (!oldest.done) this.names.delete(oldest.value);
    }
    this.names.add(name);
  }

  list(): string[] {
    return [...this.names].sort();
  }
}

export type InfluxStatement = { kind: 'create'; name: string } | { kind: 'show-databases' } | { kind: 'other' };

/** `CREATE DATABASE name` or `"quoted \" name"`, with whatever follows (`WITH DURATION ...`); InfluxQL's identifiers. */
const CREATE = /^\s*CREATE\s+DATABASE\s+(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))/i;
const SHOW = /^\s*SHOW\s+DATABASES\s*;?\s*$/i;

export function influxStatement(text: string): InfluxStatement {
  if (SHOW.test(text)) return { kind: 'show-databases' };
  const m = CREATE.exec(text);
  if (!m) return { kind: 'other' };
  return { kind: 'create', name: m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2] };
}

/** InfluxDB 1.x's answer to SHOW DATABASES: one series `databases` with a `name` column (no values when empty). */
export function showDatabasesAnswer(names: readonly string[]): string {
  const series: { name: string; columns: string[]; values?: string[][] } = { name: 'databases', columns: ['name'] };
  if (names.length) series.values = names.map((n) => [n]);
  return JSON.stringify({ results: [{ statement_id: 0, series: [series] }] });
}

/**
 * InfluxDB 1.x's answer to CREATE DATABASE: on GET (a read-only request) it still creates the database, with
 * a warning that the statement belongs in a POST (influxd 1.6 says so in these words).
 */
export function createDatabaseAnswer(name: string, readOnly: boolean): string {
  if (!readOnly) return JSON.stringify({ results: [{ statement_id: 0 }] });
  const text = `deprecated use of 'CREATE DATABASE ${name}' in a read only context, please use a POST request instead`;
  return JSON.stringify({ results: [{ statement_id: 0, messages: [{ level: 'warning', text }] }] });
}
