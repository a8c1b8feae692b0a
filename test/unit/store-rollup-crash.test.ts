/**
 * Roll-ups of fresh readings are applied after their write (duckdb-rollup-pending.ts):
 * a process killed with SIGKILL between a write and the apply leaves raw rows
 * the tiers lack. Real DuckDB file, real kill: the next open repairs the tiers,
 * and every aggregate from them equals the raw one, with buckets that were half
 * applied before the kill counted once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { tempDir } from '../helpers/temp';
import { FNS, sameValue } from '../helpers/rollup-match';

const STORE = join(__dirname, '..', '..', 'nodes', 'lib', 'store', 'duckdb.js');

/**
 * The child: writes readings in batches with the roll-up timer out of the way;
 * halfway it applies what is pending, then it writes on
 * (the same minutes and hours, and later ones), says so and waits to be killed.
 * Given a chunk size and a count, it then applies that many of the pending chunks
 * (as the timer's turns would, one by one) before it says so: killed with the
 * roll-ups of the later writes partly applied. Given a number of fillers, its last batch
 * also carries that many new devices. It reports the applies it traced in its second phase.
 */
const CHILD = `
const { DuckDbStore } = require(${JSON.stringify(STORE)});
(async () => {
  const [path, t0, chunk, partial, fillers] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
  let applies = 0;
  const store = new DuckDbStore({ path, rollupEveryMs: 3600000, rollupChunkBuckets: chunk || undefined, trace: (e) => { if (e.kind === 'rollups') applies++; } });
  await store.open();
  const batch = (from, to) => {
    const out = [];
    for (let i = from; i < to; i++) for (const device of ['a', 'b']) {
      const fields = { v: (i * 37) % 101 - 50, k: i % 3 };
      if (i % 11 === 0) fields.s = i % 2 ? 'odd' : true;
      out.push({ device, ts: t0 + i * 9000, fields, tags: {} });
    }
    // A fleet's first readings in the last batch: enough new buckets to be merged in the write itself.
    if (to === 700) for (let j = 0; j < fillers; j++) out.push({ device: 'fleet' + j, ts: t0 + 650 * 9000, fields: { v: j }, tags: {} });
    return out;
  };
  for (let i = 0; i < 300; i += 50) await store.write(batch(i, i + 50));
  await store.applyRollups();
  applies = 0;
  for (let i = 300; i < 700; i += 50) await store.write(batch(i, i + 50));
  if (partial) await store.applyRollups(partial);
  process.stdout.write('written ' + applies + '\\n');
  setInterval(() => undefined, 1000);
})().catch((err) => { console.error(err); process.exit(1); });
`;

/** Runs the child until it has written everything; returns the roll-up applies it made after its second phase. */
async function writeAndKill(path: string, t0: number, chunk = 0, partial = 0, fillers = 0): Promise<number> {
  const child = spawn(process.execPath, ['-e', CHILD, path, String(t0), String(chunk), String(partial), String(fillers)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let out = '';
  const applies = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /written (\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`the writer exited (${code}) before it wrote everything: ${err}`)));
  });
  child.kill('SIGKILL');
  await exited;
  return applies;
}

/** Opens the killed store's file: every aggregate from the tiers equals the raw one, and each reading counts once. */
async function assertRepaired(path: string, t0: number): Promise<void> {
  const store = new DuckDbStore({ path });
  await store.open();
  try {
    for (const device of ['a', 'b']) {
      for (const field of ['v', 'k', 's']) {
        for (const fn of FNS) {
          for (const everyMs of [60_000, 600_000, 3_600_000]) {
            const q = { device, field, fn, everyMs, from: t0, to: t0 + 3 * 3_600_000 };
            const raw = await store.aggregateRaw(q);
            const { points, tier } = await store.aggregateWithTier(q);
            assert.notEqual(tier, 'raw');
            const what = `${device}/${field} ${fn} every ${everyMs}`;
            assert.deepEqual(points.map((p) => p.ts), raw.map((p) => p.ts), `${what}: buckets`);
            points.forEach((p, i) => sameValue(p.value, raw[i].value, `${what} @${p.ts}`));
          }
        }
      }
    }
    const hours = (await store.aggregateWithTier({ device: 'a', field: 'v', fn: 'count', everyMs: 3_600_000 })).points;
    assert.equal(hours.reduce((n, p) => n + (p.value as number), 0), 700, 'every reading counted once');
  } finally {
    await store.close();
  }
}

test('killed between writes and their roll-ups: the next open repairs the tiers and they equal the raw aggregates', { timeout: 120_000 }, async () => {
  const dir = tempDir('us-rollup-crash-');
  const path = join(dir, 'crash.duckdb');
  // Recent, on an hour boundary, so the hour buckets are whole.
  const t0 = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
  try {
    assert.equal(await writeAndKill(path, t0), 0);
    await assertRepaired(path, t0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('killed with the later writes\' roll-ups applied in part (3 of 8 chunks): the next open repairs the rest exactly', { timeout: 120_000 }, async () => {
  const dir = tempDir('us-rollup-partial-');
  const path = join(dir, 'partial.duckdb');
  const t0 = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
  try {
    // Each batch of the second phase (about 48 buckets) is a chunk of its own at 8 buckets a chunk: 8 chunks, 3 applied.
    assert.equal(await writeAndKill(path, t0, 8, 3), 3);
    await assertRepaired(path, t0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('killed after a batch of many new devices was merged in its own write: the roll-ups pending before it are not lost', { timeout: 120_000 }, async () => {
  const dir = tempDir('us-rollup-fleet-');
  const path = join(dir, 'fleet.duckdb');
  const t0 = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
  try {
    // The fleet's batch applied what the seven writes before it left pending, then merged itself: a repair
    // finds only rows later than what the tiers hold, so the other order would lose those seven writes.
    assert.ok((await writeAndKill(path, t0, 0, 0, 1100)) > 0, 'the pending roll-ups were applied by the fleet\'s write');
    await assertRepaired(path, t0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a clean close applies what is pending: reopened, the tiers already equal the raw aggregates', async () => {
  const dir = tempDir('us-rollup-close-');
  const path = join(dir, 'close.duckdb');
  const t0 = Math.floor((Date.now() - 3_600_000) / 3_600_000) * 3_600_000;
  try {
    const first = new DuckDbStore({ path, rollupEveryMs: 3_600_000 });
    await first.open();
    await first.write(Array.from({ length: 400 }, (_, i) => ({ device: 'd', ts: t0 + i * 5000, fields: { v: i }, tags: {} })));
    await first.close();
    // Read the tier table straight, without a store that could repair it.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(path);
    const conn = await db.connect();
    const rows = (await conn.runAndReadAll(`SELECT sum(n)::INTEGER, sum(v_sum), (SELECT value FROM upperstack_meta WHERE key = 'rollups_behind') FROM rollup_1h WHERE device = 'd'`)).getRows();
    conn.closeSync();
    db.closeSync();
    assert.deepEqual(rows, [[400, (399 * 400) / 2, '0']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
