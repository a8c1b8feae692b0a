/**
 * The `deadletters` table's layouts and the steps between them, run when the
 * database opens: version 1 (ts, device, source, code, reason, payload) →
 * version 2 (ids, bodies as a BLOB column, replay facts and marks) → version 3
 * (bodies in files beside the database, deadletter-bodies.ts) → version 4 (`quoted`:
 * where the reason quotes the sender's values, as JSON; NULL in older letters). Each step is one
 * transaction; a step that fails leaves the table as it was, to be tried again
 * at the next open.
 */
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import type { DeadLetterBodies } from './deadletter-bodies';
import { inTransaction } from './duckdb-prepared';

export const DEADLETTERS_VERSION = 4;
/** The excerpt of version 1 (and of the readable `payload`): shorter than this, it is the whole message. */
export const EXCERPT = 4096;
/** Bodies moved to files per statement in the step to version 3. */
const MOVE_ROWS = 256;

/** Every version's first columns (version 1 had ts to payload only). */
const LETTER = `
  id BIGINT NOT NULL,
  ts TIMESTAMP NOT NULL,
  device VARCHAR,
  source VARCHAR,
  code VARCHAR,
  reason VARCHAR,
  payload VARCHAR`;
/** What a replay needs besides the body, and the replay mark (since version 2). */
const FACTS = `
  content_type VARCHAR,
  format VARCHAR,
  meta VARCHAR,
  input VARCHAR,
  received_at TIMESTAMP,
  replayed_at TIMESTAMP`;

const COLUMNS_V2 = `${LETTER}, body BLOB, ${FACTS}`;
/** Version 3: instead of `body`, where the body lies in the body files. */
const COLUMNS = `${LETTER}, ${FACTS}, body_seg INTEGER, body_off BIGINT, body_len INTEGER`;

async function columnsOf(conn: DuckDBConnection): Promise<string[]> {
  const r = await conn.runAndReadAll(`SELECT column_name FROM information_schema.columns WHERE table_name = 'deadletters' AND table_schema = 'main'`);
  return r.getRows().map((row) => String(row[0]));
}

const setVersion = (v: number) => `INSERT OR REPLACE INTO upperstack_meta VALUES ('deadletters_version', '${v}')`;

/** Version 1 → 2: ids in time order, and as body the old excerpt where it was the whole message. */
async function toVersion2(conn: DuckDBConnection): Promise<void> {
  await inTransaction(conn, async () => {
    const count = Number((await conn.runAndReadAll('SELECT count(*) FROM deadletters')).getRows()[0][0]);
    await conn.run(`CREATE TABLE deadletters_v2 (${COLUMNS_V2})`);
    // An excerpt shorter than the cut is the message itself: text as UTF-8, 'base64:' as the bytes it stands for.
    await conn.run(`INSERT INTO deadletters_v2
      SELECT row_number() OVER (ORDER BY ts, rowid), ts, device, source, code, reason, payload,
        CASE WHEN payload LIKE 'base64:%' THEN
               CASE WHEN octet_length(from_base64(substr(payload, 8))) < ${EXCERPT} THEN from_base64(substr(payload, 8)) END
             WHEN payload IS NOT NULL AND octet_length(encode(payload)) < ${EXCERPT} AND NOT ends_with(payload, '…') THEN encode(payload)
        END,
        NULL, NULL, NULL, NULL, NULL, NULL
      FROM deadletters`);
    await conn.run('DROP TABLE deadletters');
    await conn.run('ALTER TABLE deadletters_v2 RENAME TO deadletters');
    await conn.run(`DROP SEQUENCE IF EXISTS deadletter_id`);
    await conn.run(`CREATE SEQUENCE deadletter_id START ${count + 1}`);
    await conn.run(setVersion(2));
  });
}

/** The names of a list of column definitions. */
const namesOf = (columns: string) => columns.split(',').map((c) => c.trim().split(/\s+/)[0]);
/** What versions 2 and 3 have in common, in version 3's order. */
const SHARED = [...namesOf(LETTER), ...namesOf(FACTS)];

/**
 * Version 2 → 3: a new table, every body moved to the body files (made
 * durable before the rows that point at them commit), then it replaces the
 * old one. Bodies written by a step that then failed are in no row and go
 * with their segment.
 */
async function toVersion3(conn: DuckDBConnection, bodies: DeadLetterBodies): Promise<void> {
  await inTransaction(conn, async () => {
    await conn.run(`CREATE TABLE deadletters_v3 (${COLUMNS})`);
    await conn.run(`INSERT INTO deadletters_v3 SELECT ${SHARED.join(', ')}, NULL, NULL, NULL FROM deadletters WHERE body IS NULL`);
    let after = -1n;
    for (;;) {
      const rows = (await conn.runAndReadAll(`SELECT id, body FROM deadletters WHERE body IS NOT NULL AND id > $after ORDER BY id LIMIT ${MOVE_ROWS}`, { after })).getRows();
      if (rows.length === 0) break;
      const ids = rows.map((r) => BigInt(r[0] as bigint | number));
      const refs = await bodies.append(rows.map((r) => (r[1] as DuckDBBlobValue).bytes));
      await conn.run(
        `INSERT INTO deadletters_v3 SELECT ${SHARED.map((f) => `d.${f}`).join(', ')}, r.s, r.o, r.l
         FROM deadletters d JOIN (SELECT unnest(c.i) AS i, unnest(c.s) AS s, unnest(c.o) AS o, unnest(c.l) AS l
               FROM (SELECT json_transform($refs, '{"i":["BIGINT"],"s":["INTEGER"],"o":["BIGINT"],"l":["INTEGER"]}') AS c)) AS r
         ON d.id = r.i`,
        { refs: JSON.stringify({ i: ids.map(Number), s: refs.map((x) => x.seg), o: refs.map((x) => x.off), l: refs.map((x) => x.len) }) },
      );
      after = ids[ids.length - 1];
    }
    await conn.run('DROP TABLE deadletters');
    await conn.run('ALTER TABLE deadletters_v3 RENAME TO deadletters');
    await conn.run(setVersion(3));
  });
}

/** Version 3 → 4: a column for the values a reason quotes; older letters have none (their reasons are redacted by their text). */
async function toVersion4(conn: DuckDBConnection): Promise<void> {
  await inTransaction(conn, async () => {
    await conn.run('ALTER TABLE deadletters ADD COLUMN quoted VARCHAR');
    await conn.run(setVersion(4));
  });
}

/** Creates the table, or brings an older one to this version a step at a time; then drops body files no letter needs. */
export async function migrateDeadLetters(conn: DuckDBConnection, bodies: DeadLetterBodies): Promise<void> {
  let cols = await columnsOf(conn);
  await conn.run(`CREATE SEQUENCE IF NOT EXISTS deadletter_id`);
  if (cols.length === 0) {
    await conn.run(`CREATE TABLE IF NOT EXISTS deadletters (${COLUMNS})`);
    cols = await columnsOf(conn);
  }
  if (!cols.includes('id')) {
    await toVersion2(conn);
    cols = await columnsOf(conn);
  }
  if (!cols.includes('body_seg')) await toVersion3(conn, bodies);
  if (!cols.includes('quoted')) await toVersion4(conn);
  await dropUnusedBodies(conn, bodies);
}

/** Deletes the body files no letter waiting for replay points into. */
export async function dropUnusedBodies(conn: DuckDBConnection, bodies: DeadLetterBodies): Promise<void> {
  if ((await bodies.load()).length === 0) return;
  const rows = (await conn.runAndReadAll('SELECT DISTINCT body_seg FROM deadletters WHERE body_seg IS NOT NULL')).getRows();
  await bodies.keepOnly(new Set(rows.map((r) => Number(r[0]))));
}
