/**
 * What DuckDB itself costs a reading in the store's layout (`readings`: a row
 * per field) against a wide one (a row per reading, a column per field), for
 * readings of 1, 2 and 10 numeric fields: the issue's "wide layout" lever,
 * measured before anything is built on it.
 *
 * Both tables get the same readings (10 devices, a reading per device per
 * 100 ms, continuing in time) from SQL, 1,000 readings a write, each write its
 * own transaction, with the store's settings (one thread, 64 MB) and its
 * checkpoint policy (a CHECKPOINT once the WAL passes 2 MiB, no vacuuming). The
 * same SELECT without the INSERT (reduced by min/max, so that every value is
 * computed) is measured too and taken off: what is left is DuckDB's insert,
 * commit and checkpoint, without the JavaScript that fills the store's data
 * chunks (which has a row fewer to fill per field in the wide layout, too).
 * Then an aggregate a dashboard asks for: per minute, avg/min/max of one field
 * of one device over everything written.
 *
 * Second, the whole write from Reading objects, JavaScript included: the
 * store's own `DuckDbStore.write` (roll-ups off, so only the raw rows count)
 * against a writer of the wide table made the way the store makes its small
 * writes (a data chunk filled with duckdb-vectors' helpers, appended in a
 * transaction, the same checkpoint policy). That writer knows its fields
 * beforehand and takes only fresh readings: what a wide store would do
 * besides (a new field, a type that changes, resent readings) is not in it.
 *
 *   node scripts/build.mjs && node dist/bench/duckdb-layout.js
 *
 * BENCH_LAYOUT_WRITES (measured writes per case, default 300, after 30 unmeasured),
 * BENCH_LAYOUT_FIELDS (comma list, default 1,2,10), BENCH_LAYOUT_ROUNDS (default 3:
 * the table gives each case's median). A measurement, not a test.
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DOUBLE, DuckDBDataChunk, DuckDBInstance, TIMESTAMP, VARCHAR, type DuckDBConnection, type DuckDBTimestampValue, type DuckDBVector } from '@duckdb/node-api';
import type { Reading } from '../nodes/lib/reading';
import { DuckDbStore } from '../nodes/lib/store/duckdb';
import { checkpointConfig, DEFAULT_CHECKPOINT_WAL_BYTES } from '../nodes/lib/store/duckdb-checkpoint';
import { duckDbConfig, READINGS } from '../nodes/lib/store/duckdb-schema';
import { fillStrings, fillTimestamps } from '../nodes/lib/store/duckdb-vectors';
import { tempDir } from '../test/helpers/temp';
import { cpuSince, fileSize } from './common';
import { median } from './pipeline-format';

const env = process.env;
const WRITES = Number(env.BENCH_LAYOUT_WRITES) || 300;
const WARM = 30;
const FIELD_COUNTS = (env.BENCH_LAYOUT_FIELDS ?? '1,2,10').split(',').map(Number).filter((n) => n > 0 && n <= 100);
const ROUNDS = Number(env.BENCH_LAYOUT_ROUNDS) || 3;
const PER_WRITE = 1000;
const DEVICES = 10;
const STEP_MS = 100;
const START = 1_700_000_000_000;

type Layout = 'long' | 'wide';

interface Case {
  layout: Layout;
  fields: number;
  /** CPU µs a reading: the INSERT and its commit, the checkpoints, the same SELECT alone. */
  insertUs: number;
  checkpointUs: number;
  selectUs: number;
  fileMb: number;
  aggregateMs: number;
}

const fieldName = (c: number) => `f${c}`;
/** Reading j's value of field c, in SQL: varied, so compression has something to do. */
const valueSql = (j: string, c: number) => `((${j} * 7 + ${c} * 13) % 997) / 10.0`;
const tsSql = (j: string, writeStart: number) => `make_timestamp((${writeStart} + (${j} // ${DEVICES}) * ${STEP_MS})::BIGINT * 1000)`;
const deviceSql = (j: string) => `'dev-' || (${j} % ${DEVICES})`;

/** The SELECT that yields one write's rows for a layout (write w, its readings j = 0..PER_WRITE-1). */
function rowsSql(layout: Layout, fields: number, w: number): string {
  const writeStart = START + w * (PER_WRITE / DEVICES) * STEP_MS;
  if (layout === 'wide') {
    const cols = Array.from({ length: fields }, (_, c) => valueSql('j', c)).join(', ');
    return `SELECT ${deviceSql('j')}, ${tsSql('j', writeStart)}, ${cols}, '{}' FROM range(${PER_WRITE}) r(j)`;
  }
  // Row i is field i % fields of reading i // fields: a reading's rows together, as the store writes them.
  const j = `(i // ${fields})`;
  const field = fields === 1 ? `'${fieldName(0)}'` : `'f' || (i % ${fields})`;
  const value = fields === 1 ? valueSql(j, 0) : `((${j} * 7 + (i % ${fields}) * 13) % 997) / 10.0`;
  return `SELECT ${deviceSql(j)}, ${tsSql(j, writeStart)}, ${field}, ${value}, NULL, NULL, '{}' FROM range(${PER_WRITE * fields}) r(i)`;
}

function createSql(layout: Layout, fields: number): string {
  if (layout === 'long') return READINGS;
  const cols = Array.from({ length: fields }, (_, c) => `${fieldName(c)} DOUBLE`).join(', ');
  return `CREATE TABLE readings (device VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, ${cols}, tags JSON)`;
}

function aggregateSql(layout: Layout): string {
  const value = layout === 'wide' ? fieldName(0) : 'value_double';
  const where = layout === 'wide' ? `device = 'dev-3'` : `device = 'dev-3' AND field = '${fieldName(0)}'`;
  return `SELECT time_bucket(INTERVAL 1 minute, ts) AS b, avg(${value}), min(${value}), max(${value}) FROM readings WHERE ${where} GROUP BY b ORDER BY b`;
}


async function measure(layout: Layout, fields: number): Promise<Case> {
  const dir = tempDir('us-bench-layout-');
  const path = join(dir, 'layout.duckdb');
  const instance = await DuckDBInstance.create(path, { ...duckDbConfig({ memoryLimitMb: 64 }), ...checkpointConfig(DEFAULT_CHECKPOINT_WAL_BYTES) });
  const conn = await instance.connect();
  try {
    await conn.run(createSql(layout, fields));
    // The SELECT's columns: device, ts, the values and tags (wide), or device, ts, field, the three value columns and tags.
    const columns = Array.from({ length: layout === 'wide' ? 3 + fields : 7 }, (_, c) => `c${c}`);
    // Every value of the SELECT computed, nothing stored: what the INSERT's own numbers are taken off.
    const reduce = (sql: string) => `SELECT ${columns.map((c) => `min(${c}), max(${c})`).join(', ')} FROM (${sql}) t(${columns.join(', ')})`;
    let insert = 0;
    let checkpoint = 0;
    let select = 0;
    for (let w = 0; w < WARM + WRITES; w++) {
      const rows = rowsSql(layout, fields, w);
      const s0 = process.cpuUsage();
      await conn.runAndReadAll(reduce(rows));
      const s = cpuSince(s0);
      const i0 = process.cpuUsage();
      await conn.run('BEGIN TRANSACTION');
      await conn.run(`INSERT INTO readings ${rows}`);
      await conn.run('COMMIT');
      const i = cpuSince(i0);
      let c = 0;
      if (fileSize(`${path}.wal`) >= DEFAULT_CHECKPOINT_WAL_BYTES) {
        const c0 = process.cpuUsage();
        await conn.run('CHECKPOINT');
        c = cpuSince(c0);
      }
      if (w < WARM) continue;
      insert += i;
      checkpoint += c;
      select += s;
    }
    await conn.run('CHECKPOINT');
    const aggregates: number[] = [];
    const sql = aggregateSql(layout);
    for (let k = 0; k < 15; k++) {
      const t0 = process.cpuUsage();
      const r = await conn.runAndReadAll(sql);
      if (r.currentRowCount === 0) throw new Error(`${layout}: the aggregate found nothing`);
      if (k >= 5) aggregates.push(cpuSince(t0) / 1000);
    }
    const n = WRITES * PER_WRITE;
    return { layout, fields, insertUs: insert / n, checkpointUs: checkpoint / n, selectUs: select / n, fileMb: fileSize(path) / 1e6, aggregateMs: median(aggregates) };
  } finally {
    conn.closeSync();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `writes` batches of PER_WRITE readings with `fields` numeric fields, continuing in time. */
function readingBatches(fields: number, writes: number): Reading[][] {
  const out: Reading[][] = [];
  for (let w = 0; w < writes; w++) {
    const start = START + w * (PER_WRITE / DEVICES) * STEP_MS;
    const batch: Reading[] = [];
    for (let j = 0; j < PER_WRITE; j++) {
      const values: Record<string, number> = {};
      for (let c = 0; c < fields; c++) values[fieldName(c)] = ((j * 7 + c * 13) % 997) / 10;
      batch.push({ device: `dev-${j % DEVICES}`, ts: start + Math.floor(j / DEVICES) * STEP_MS, fields: values, tags: {} });
    }
    out.push(batch);
  }
  return out;
}

/** A minimal writer of the wide table: fresh readings of known fields, a data chunk a write. */
class WideWriter {
  private readonly types;
  private readonly names: string[];
  constructor(
    private readonly conn: DuckDBConnection,
    fields: number,
  ) {
    this.names = Array.from({ length: fields }, (_, c) => fieldName(c));
    this.types = [VARCHAR, TIMESTAMP, ...this.names.map(() => DOUBLE), VARCHAR];
  }

  async write(batch: readonly Reading[]): Promise<void> {
    const rows = batch.length;
    const chunk = DuckDBDataChunk.create(this.types, rows);
    const devices: string[] = [];
    const deviceIds = new Map<string, number>();
    const d = new Int32Array(rows);
    const t = new Float64Array(rows);
    const values = this.names.map(() => new Float64Array(rows));
    for (let i = 0; i < rows; i++) {
      const r = batch[i];
      let id = deviceIds.get(r.device);
      if (id === undefined) {
        id = devices.push(r.device) - 1;
        deviceIds.set(r.device, id);
      }
      d[i] = id;
      t[i] = r.ts;
      for (let c = 0; c < values.length; c++) values[c][i] = r.fields[this.names[c]] as number;
    }
    fillStrings(chunk, 0, rows, devices, d, 0);
    fillTimestamps(chunk.getColumnVector(1) as DuckDBVector<DuckDBTimestampValue | null>, t, rows);
    for (let c = 0; c < values.length; c++) {
      const vector = chunk.getColumnVector(2 + c) as DuckDBVector<number>;
      for (let i = 0; i < rows; i++) vector.setItem(i, values[c][i]);
      vector.flush();
    }
    fillStrings(chunk, 2 + values.length, rows, ['{}'], new Int32Array(rows), 0);
    await this.conn.run('BEGIN TRANSACTION');
    const ap = await this.conn.createAppender('readings');
    ap.appendDataChunk(chunk);
    ap.closeSync();
    await this.conn.run('COMMIT');
  }
}

interface JsCase {
  layout: Layout;
  fields: number;
  /** Process CPU µs a reading of the whole write, checkpoints included. */
  us: number;
}

async function measureJs(layout: Layout, fields: number): Promise<JsCase> {
  const dir = tempDir('us-bench-layout-js-');
  const path = join(dir, 'layout.duckdb');
  const batches = readingBatches(fields, WARM + WRITES);
  try {
    if (layout === 'long') {
      const store = new DuckDbStore({ path, memoryLimitMb: 64, rollups: false });
      await store.open();
      try {
        let cpu = 0;
        for (let w = 0; w < batches.length; w++) {
          const c0 = process.cpuUsage();
          await store.write(batches[w]);
          if (w >= WARM) cpu += cpuSince(c0);
        }
        return { layout, fields, us: cpu / (WRITES * PER_WRITE) };
      } finally {
        await store.close();
      }
    }
    const instance = await DuckDBInstance.create(path, { ...duckDbConfig({ memoryLimitMb: 64 }), ...checkpointConfig(DEFAULT_CHECKPOINT_WAL_BYTES) });
    const conn = await instance.connect();
    try {
      await conn.run(createSql('wide', fields));
      const writer = new WideWriter(conn, fields);
      let cpu = 0;
      for (let w = 0; w < batches.length; w++) {
        const c0 = process.cpuUsage();
        await writer.write(batches[w]);
        if (fileSize(`${path}.wal`) >= DEFAULT_CHECKPOINT_WAL_BYTES) await conn.run('CHECKPOINT');
        if (w >= WARM) cpu += cpuSince(c0);
      }
      const n = await conn.runAndReadAll('SELECT count(*) FROM readings');
      if (Number(n.getRows()[0][0]) !== batches.length * PER_WRITE) throw new Error('wide writer: rows missing');
      return { layout, fields, us: cpu / (WRITES * PER_WRITE) };
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** DuckDB's own CPU a reading: the INSERT with its commit and the checkpoints, less the SELECT that feeds it. */
const ownUs = (c: Pick<Case, 'insertUs' | 'checkpointUs' | 'selectUs'>) => c.insertUs + c.checkpointUs - c.selectUs;

async function main(): Promise<void> {
  const load0 = loadavg()[0];
  const runs = new Map<string, Case[]>();
  const js = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const fields of FIELD_COUNTS) {
      for (const layout of ['long', 'wide'] as const) {
        const key = `${fields}:${layout}`;
        runs.set(key, [...(runs.get(key) ?? []), await measure(layout, fields)]);
        js.set(key, [...(js.get(key) ?? []), (await measureJs(layout, fields)).us]);
      }
    }
    console.error(`  round ${round + 1} of ${ROUNDS} done`);
  }
  const f = (n: number) => n.toFixed(2);
  console.log(`\nDuckDB's own CPU a reading, store layout against a wide one (${WRITES} writes of ${PER_WRITE} readings a case, median of ${ROUNDS} rounds, load average ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)})\n`);
  console.log('| fields | layout | insert + commit µs | checkpoints µs | the SELECT alone µs | DuckDB\'s own µs a reading | file MB | per-minute aggregate of one field, CPU ms |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const fields of FIELD_COUNTS) {
    const own: Record<string, number> = {};
    for (const layout of ['long', 'wide'] as const) {
      const cs = runs.get(`${fields}:${layout}`)!;
      const m = (pick: (c: Case) => number) => median(cs.map(pick));
      own[layout] = m(ownUs);
      console.log(`| ${fields} | ${layout === 'long' ? 'store (a row per field)' : 'wide (a row per reading)'} | ${f(m((c) => c.insertUs))} | ${f(m((c) => c.checkpointUs))} | ${f(m((c) => c.selectUs))} | ${f(own[layout])} | ${m((c) => c.fileMb).toFixed(1)} | ${m((c) => c.aggregateMs).toFixed(1)} |`);
    }
    console.log(`|  | wide ÷ store | | | | ${(own.wide / own.long).toFixed(2)} | | |`);
  }
  console.log(`\nThe whole write from Reading objects, JavaScript included (process CPU µs a reading, checkpoints included; median of ${ROUNDS} rounds)\n`);
  console.log('| fields | DuckDbStore.write (roll-ups off) | the wide writer | wide ÷ store |');
  console.log('|---:|---:|---:|---:|');
  for (const fields of FIELD_COUNTS) {
    const store = median(js.get(`${fields}:long`)!);
    const wide = median(js.get(`${fields}:wide`)!);
    console.log(`| ${fields} | ${f(store)} | ${f(wide)} | ${(wide / store).toFixed(2)} |`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
